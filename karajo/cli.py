"""The command line: `karajo [-config FILE]`, `karajo check`, `karajo version`,
and the commands controlling a running server (`karajo.cli_control`).

Exit status: 0 on success and on a clean stop, 2 for a configuration
error, 1 when the server could not start.  Heavy modules (trio, the web
framework) are imported only by the commands that need them, so `version`
and `--help` stay quick from a zipapp.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from datetime import UTC, datetime

from karajo import __version__, cli_control
from karajo.errors import ConfigError, ConfigErrors

EXIT_FAILURE = 1
EXIT_CONFIG = 2
CHECK_RUNS_SHOWN = 3
_SIGNATURE_HEADERS = {
    "github": "X-Hub-Signature-256",
    "sourcehut": "X-Payload-Signature",
    "gitlab": "X-Gitlab-Token",
    "gitea": "X-Gitea-Signature",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="karajo",
        description="Run jobs by timer, schedule or webhook, managed over HTTP.",
        allow_abbrev=False,
    )
    config_help = "configuration file (default /etc/karajo/karajo.conf)"
    # The original is a Go program: its flag is -config, single dash.
    parser.add_argument(
        "-config",
        "--config",
        dest="config",
        metavar="FILE",
        default=None,
        help=config_help,
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log debug details"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the version and exit")
    check = commands.add_parser(
        "check",
        help="load the configuration, show what it means, exit non-zero on errors",
    )
    check.add_argument(
        "-config",
        "--config",
        dest="check_config",
        metavar="FILE",
        default=None,
        help=config_help,
    )
    cli_control.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`karajo jobs | head`): nothing left to say,
        # and Python's own flush at exit must not fail on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"karajo version {__version__}")
        return 0
    if args.command in cli_control.COMMANDS:
        return cli_control.main(args, args.config)
    config_file = (
        getattr(args, "check_config", None) or args.config or _default_config()
    )
    if args.command == "check":
        return check(config_file)
    return serve(config_file, verbose=args.verbose)


def _default_config() -> str:
    from karajo.config import DEFAULT_CONFIG_FILE

    return DEFAULT_CONFIG_FILE


def _load(config_file: str):  # noqa: ANN202 - returns karajo.config.Environment
    from karajo.config import load_environment

    try:
        return load_environment(config_file)
    except ConfigErrors as errors:
        for error in errors.errors:
            print(error, file=sys.stderr)
    except ConfigError as error:
        print(error, file=sys.stderr)
    return None


def check(config_file: str) -> int:
    """Print every job with its effective values; exit 2 on any error."""
    env = _load(config_file)
    if env is None:
        return EXIT_CONFIG
    for warning in env.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    now = datetime.now(UTC)
    print(
        f"{config_file}: {len(env.jobs)} job(s), {len(env.http_jobs)} HTTP job(s), "
        f"dir_base {env.karajo.dir_base}, listen {env.karajo.listen_address}"
    )
    for job in env.jobs.values():
        print(f'\n[job "{job.name}"] id {job.id}')
        _print_timer(job, now)
        if job.path:
            header = _SIGNATURE_HEADERS.get(job.auth_kind, job.header_sign)
            print(
                f"  webhook:  POST /karajo/api/job_exec/run{job.path} ({job.auth_kind}, "
                f"signature in {header})"
            )
        for index, command in enumerate(job.commands):
            print(f"  command {index:2d}: {command}")
    for http_job in env.http_jobs.values():
        print(f'\n[job.http "{http_job.name}"] id {http_job.id}')
        _print_timer(http_job, now)
        print(
            f"  request:  {http_job.http_method} {http_job.http_url} "
            f"({http_job.http_request_type})"
        )
    return 0


def _print_timer(job, now: datetime) -> None:  # noqa: ANN001 - a JobBaseConfig
    from karajo.duration import format_duration

    if job.parsed_schedule is not None:
        runs = job.parsed_schedule.next_runs(now, CHECK_RUNS_SHOWN)
        shown = ", ".join(run.strftime("%Y-%m-%d %H:%M:%S UTC") for run in runs)
        print(
            f"  schedule: {job.schedule} ({job.parsed_schedule.timezone}); next: {shown}"
        )
    elif job.interval > 0:
        print(f"  interval: {format_duration(job.interval)}")
    else:
        print("  timer:    none, runs by webhook only")


def serve(config_file: str, *, verbose: bool = False) -> int:
    """Run the server until SIGINT or SIGTERM."""
    configure_logging(verbose)
    env = _load(config_file)
    if env is None:
        return EXIT_CONFIG
    log = logging.getLogger("karajo")
    for warning in env.warnings:
        log.warning("%s", warning)
    from karajo.server import Server

    try:
        run(Server(env))
    except BaseException as error:
        reason = _start_failure(error, env.karajo.listen_address)
        if reason is None:
            raise
        log.error("cannot start: %s", reason)
        return EXIT_FAILURE
    return 0


def _start_failure(error: BaseException, listen_address: str) -> str | None:
    """The one-line reason when the server could not start, else None."""
    from karajo.errors import StartError

    if isinstance(error, BaseExceptionGroup):
        found, _ = error.split((StartError, OSError))
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        error = found if found is not None else error
    if isinstance(error, StartError):
        return str(error)
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        return f"cannot listen on {listen_address}: another program is using it"
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return None


def run(server) -> None:  # noqa: ANN001 - a karajo.server.Server
    """Serve until SIGINT or SIGTERM; for programs using karajo as a library."""
    import trio

    trio.run(_serve_until_signal, server)


async def _serve_until_signal(server) -> None:  # noqa: ANN001 - a Server
    import signal

    import trio

    wanted = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    with trio.open_signal_receiver(*wanted) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_handle_signals, signals, server)
            await server.serve()
            nursery.cancel_scope.cancel()


async def _handle_signals(signals, server) -> None:  # noqa: ANN001
    import signal

    log = logging.getLogger("karajo")
    stopping = False
    async for signum in signals:
        name = signal.Signals(signum).name
        if signum == signal.SIGHUP and stopping:
            log.warning("received SIGHUP while stopping: not reloading")
        elif signum == signal.SIGHUP:
            log.info("received SIGHUP, reloading %s", server.env.config_file)
            server.reload()
        elif not stopping:
            stopping = True
            log.info("received %s, stopping; send it again to cancel runs now", name)
            server.stop()
        else:
            log.warning("received %s again: canceling the running runs now", name)
            server.stop()


def configure_logging(verbose: bool) -> None:
    """Log lines to stderr, which systemd's journal stamps itself."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # hypercorn and quart are chatty at INFO about things karajo logs itself.
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
