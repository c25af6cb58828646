"""Control a running karajo from a shell: jobs, run, pause, resume, cancel, log.

    karajo jobs
    karajo run Deploy
    karajo log deploy 3

Where the server is: `--server URL`, else the `listen_address` of the
configuration file, else http://127.0.0.1:31937.  The secret that signs run,
pause, resume and cancel: `--secret`, else $KARAJO_SECRET, else the
`[karajo] secret` of the configuration file.  The file is `-config FILE`, or
/etc/karajo/karajo.conf when it exists and can be read.  A server with users
wants `--user NAME` for jobs and log; the password comes from
$KARAJO_PASSWORD or is asked for.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from karajo.errors import ConfigError

if TYPE_CHECKING:
    from karajo.client import Client

COMMANDS = ("jobs", "run", "pause", "resume", "cancel", "log")
DEFAULT_SERVER = "http://127.0.0.1:31937"
SECRET_ENV = "KARAJO_SECRET"
PASSWORD_ENV = "KARAJO_PASSWORD"
EXIT_FAILURE = 1
EXIT_USAGE = 2
_KIND_NAMES = {"job": "exec", "job_http": "http"}
_KIND_LABELS = {"job": "exec job", "job_http": "HTTP job"}
_ZERO_TIME = "0001-01-01T00:00:00Z"


class ControlError(Exception):
    """A problem found before or around a call, printed as the one message."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class JobRef:
    """A job found in the server's environment."""

    kind: str
    id: str
    name: str
    data: dict[str, Any]

    @property
    def label(self) -> str:
        return f'{_KIND_LABELS[self.kind]} "{self.name}" (id {self.id})'


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Register the control commands on karajo's command parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-config",
        "--config",
        dest="control_config",
        metavar="FILE",
        help="configuration file giving the server's address and the secret",
    )
    common.add_argument("--server", metavar="URL", help="karajo's address")
    common.add_argument("--secret", help=f"the [karajo] secret (default ${SECRET_ENV})")
    common.add_argument(
        "--user", metavar="NAME", help=f"sign in as NAME; password in ${PASSWORD_ENV}"
    )
    commands.add_parser(
        "jobs", parents=[common], help="list every job: kind, status, last and next run"
    )
    for action, text in (
        ("run", "run a job now"),
        ("pause", "pause a job"),
        ("resume", "resume a paused job"),
        ("cancel", "cancel a job's running run"),
        ("log", "print a run's log, the newest by default"),
    ):
        parser = commands.add_parser(action, parents=[common], help=text)
        parser.add_argument("name", metavar="NAME", help="job name or ID")
        if action == "log":
            parser.add_argument(
                "counter", metavar="COUNTER", nargs="?", type=int, help="run number"
            )
        parser.add_argument(
            "--kind",
            choices=("exec", "http"),
            help="the kind of job, when NAME fits an exec job and an HTTP job",
        )


def main(args: argparse.Namespace, config_file: str | None) -> int:
    """Run one control command; print the server's message on failure."""
    from karajo.client import KarajoClientError

    try:
        server, secret = _settings(args, args.control_config or config_file)
        with _client(server, secret, args.user) as client:
            return _HANDLERS[args.command](client, args)
    except KarajoClientError as error:
        print(f"karajo: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except ControlError as error:
        print(f"karajo: {error}", file=sys.stderr)
        return error.exit_code


def _client(server: str, secret: str | None, user: str | None) -> Client:
    from karajo.client import Client

    client = Client(server, secret)
    if user:
        try:
            client.login(user, _password(user))
        except BaseException:
            client.close()
            raise
    return client


def _password(user: str) -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise ControlError(
            f"no password for {user}: set {PASSWORD_ENV} or run in a terminal",
            EXIT_USAGE,
        )
    import getpass

    return getpass.getpass(f"password of {user}: ")


# Settings from the flags, the environment and the configuration file.


def _settings(
    args: argparse.Namespace, config_file: str | None
) -> tuple[str, str | None]:
    listen_address, file_secret = _read_karajo_section(config_file)
    server = args.server
    if not server:
        server = DEFAULT_SERVER
        if listen_address:
            from karajo.client import loopback_url

            server = loopback_url("http://" + listen_address)
    secret = args.secret or os.environ.get(SECRET_ENV) or file_secret
    if args.command in ("run", "pause", "resume", "cancel") and not secret:
        raise ControlError(
            f"{args.command} is signed with karajo's secret: pass --secret, "
            f"set {SECRET_ENV} or give -config FILE",
            EXIT_USAGE,
        )
    return server, secret


def _read_karajo_section(config_file: str | None) -> tuple[str, str]:
    """`listen_address` and `secret` of [karajo]; empty when not given."""
    from karajo import ini
    from karajo.config import DEFAULT_CONFIG_FILE

    path = config_file or DEFAULT_CONFIG_FILE
    try:
        sections = ini.read_file(path)
    except ConfigError as error:
        if config_file is None:
            # The default file is optional here: flags can say everything.
            return "", ""
        raise ControlError(str(error), EXIT_USAGE) from None
    values = {"listen_address": "", "secret": ""}
    for section in sections:
        if section.name != "karajo":
            continue
        for key in values:
            entry = section.get(key)
            if entry is not None:
                values[key] = entry.value.strip()
    return values["listen_address"], values["secret"]


# Finding a job by name or ID.


def find_job(environment: dict[str, Any], name: str, kind: str | None) -> JobRef:
    """The one job that NAME names or identifies; ControlError otherwise."""
    from karajo.config import make_job_id

    wanted_ids = {name, make_job_id(name)}
    found = []
    for env_key, job_kind in (("jobs", "job"), ("http_jobs", "job_http")):
        if kind is not None and _KIND_NAMES[job_kind] != kind:
            continue
        for job_name, data in (environment.get(env_key) or {}).items():
            if job_name == name or data.get("id") in wanted_ids:
                found.append(JobRef(job_kind, data["id"], job_name, data))
    if not found:
        raise ControlError(f"no job has the name or ID {name!r}; see `karajo jobs`")
    if len(found) > 1:
        labels = " and the ".join(ref.label for ref in found)
        raise ControlError(
            f"{name!r} is ambiguous: it fits the {labels}; add --kind exec or "
            "--kind http"
        )
    return found[0]


# The commands.


def _jobs(client: Client, args: argparse.Namespace) -> int:
    environment = client.environment()
    rows = [("NAME", "KIND", "STATUS", "LAST RUN", "NEXT RUN")]
    for env_key, kind in (("jobs", "job"), ("http_jobs", "job_http")):
        jobs = environment.get(env_key) or {}
        for name in sorted(jobs, key=str.lower):
            data = jobs[name]
            rows.append(
                (
                    name,
                    _KIND_NAMES[kind],
                    data.get("status") or "-",
                    _when(data.get("last_run")),
                    _when(data.get("next_run")),
                )
            )
    # Every column but the last is padded to its widest cell.
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [row[column].ljust(widths[column]) for column in range(4)]
        print("  ".join([*cells, row[4]]).rstrip())
    return 0


def _when(moment: str | None) -> str:
    if not moment or moment == _ZERO_TIME:
        return "-"
    return moment.replace("T", " ").replace("Z", " UTC")


def _control(action: str) -> Callable[[Client, argparse.Namespace], int]:
    done = {
        "run": "run queued",
        "pause": "paused",
        "resume": "resumed",
        "cancel": "cancel requested",
    }[action]

    def command(client: Client, args: argparse.Namespace) -> int:
        ref = find_job(client.environment(), args.name, args.kind)
        prefix = "job_exec" if ref.kind == "job" else "job_http"
        data = getattr(client, f"{prefix}_{action}")(ref.id)
        print(f"{ref.label}: {done}; status {data.get('status') or '-'}")
        return 0

    return command


def _log(client: Client, args: argparse.Namespace) -> int:
    ref = find_job(client.environment(), args.name, args.kind)
    counter = args.counter
    if counter is None:
        logs = ref.data.get("logs") or []
        if not logs:
            raise ControlError(f"the {ref.label} has no log yet")
        counter = max(entry["counter"] for entry in logs)
    if ref.kind == "job":
        log = client.job_exec_log(ref.id, counter)
    else:
        log = client.job_http_log(ref.id, counter)
    sys.stdout.buffer.write(log.content)
    sys.stdout.flush()
    return 0


_HANDLERS: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "jobs": _jobs,
    "run": _control("run"),
    "pause": _control("pause"),
    "resume": _control("resume"),
    "cancel": _control("cancel"),
    "log": _log,
}
