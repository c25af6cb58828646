"""Exec jobs: shell commands (or an async callable) run by timer or webhook.

Each command runs as `/bin/sh -c COMMAND` in the job's working directory,
in a session of its own, so that cancel, timeout and shutdown can end the
whole process tree: SIGTERM first, SIGKILL after a grace period.  The
process group of the running command is recorded in a small file, so that
after a crash of karajo the next start can end what the crash left behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

import trio

from karajo.child_process import ChildProcess, start_process
from karajo.config import JobConfig
from karajo.errors import JobError
from karajo.files import write_run_file
from karajo.job import Job, StartRequest
from karajo.log_store import RunLog
from karajo import process_group

logger = logging.getLogger(__name__)

# The original's PATH, so commands find the same programs (sudo among them).
COMMAND_PATH = (
    "/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/bin/site_perl"
    ":/usr/bin/vendor_perl:/usr/bin/core_perl"
)
# A bigger read means fewer trips through the event loop for noisy commands.
READ_SIZE = 1024 * 1024
# How long a command's processes get between SIGTERM and SIGKILL.
TERMINATE_GRACE = 5.0
# Request headers left out of KARAJO_WEBHOOK_HEADERS: those that could carry
# a browser session into a command, and the one quart adds itself.
_LEFT_OUT_HEADERS = frozenset({"cookie", "authorization", "remote-addr"})


class ExecJob(Job):
    """A `[job "NAME"]` at run time."""

    kind = "job"
    log_subdir = "job"
    config: JobConfig

    @property
    def run_dir(self) -> Path:
        """Where the files of running runs live: process groups, webhook data."""
        return self.env.base / "var" / "run" / "karajo" / "job"

    @property
    def group_file(self) -> Path:
        return self.run_dir / f"{self.id}.pgid"

    def recover(self) -> None:
        super().recover()
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Webhook data of runs a crash cut short: it may hold secrets.
        for pattern in (f"{self.id}.*.body", f"{self.id}.*.headers"):
            for path in self.run_dir.glob(pattern):
                path.unlink(missing_ok=True)
        ended = process_group.end_recorded(self.group_file)
        if ended:
            logger.warning(
                "job %s: ended %d process(es) left running by a run "
                "that karajo's stop interrupted",
                self.id,
                ended,
            )

    async def execute(self, run_log: RunLog, request: StartRequest) -> None:
        run_log.line("=== BEGIN")
        if self.config.call is not None:
            await self.config.call(run_log)
            run_log.line("=== DONE")
            return

        environment = {"KARAJO_JOB_COUNTER": str(run_log.counter), "PATH": COMMAND_PATH}
        # Made at start too; made again in case someone removed it since.
        try:
            self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise JobError(
                f"cannot make the working directory {self.work_dir}: "
                f"{error.strerror}"
            ) from None
        webhook_files = self._write_webhook_files(run_log.counter, request, environment)
        try:
            for index, command in enumerate(self.config.commands):
                run_log.line("")
                run_log.line(f"--- Execute {index:2d}: {command}")
                returncode = await self._run_command(command, environment, run_log)
                if returncode != 0:
                    raise JobError(_describe_exit(returncode))
        finally:
            for path in webhook_files:
                path.unlink(missing_ok=True)
        run_log.line("=== DONE")

    def _write_webhook_files(
        self, counter: int, request: StartRequest, environment: dict[str, str]
    ) -> list[Path]:
        """Hand a webhook's body and headers to the commands as files."""
        if request.body is None:
            return []
        body_path = self.run_dir / f"{self.id}.{counter}.body"
        headers_path = self.run_dir / f"{self.id}.{counter}.headers"
        headers = "".join(
            f"{name}: {value}\n"
            for name, value in request.headers
            if name.lower() not in _LEFT_OUT_HEADERS
        )
        try:
            write_run_file(body_path, request.body)
            write_run_file(headers_path, headers.encode("utf-8", "replace"))
        except OSError as error:
            with contextlib.suppress(OSError):
                body_path.unlink(missing_ok=True)
            raise JobError(
                f"cannot write the webhook's data into {self.run_dir}: "
                f"{error.strerror}"
            ) from None
        environment["KARAJO_WEBHOOK_BODY"] = str(body_path)
        environment["KARAJO_WEBHOOK_HEADERS"] = str(headers_path)
        return [body_path, headers_path]

    async def _run_command(
        self, command: str, environment: dict[str, str], run_log: RunLog
    ) -> int:
        read_end, write_end = os.pipe()
        try:
            process_group.enlarge_pipe(read_end)
            process = start_process(
                ["/bin/sh", "-c", command],
                output=write_end,
                cwd=self.work_dir,
                env=environment,
            )
        except BaseException as error:
            os.close(read_end)
            if isinstance(error, OSError):
                raise JobError(
                    f"cannot start /bin/sh in {self.work_dir}: {error.strerror}"
                ) from None
            raise
        finally:
            os.close(write_end)
        output = trio.lowlevel.FdStream(read_end)
        group = process_group.Group(process.pid)
        try:
            # Yield before the bookkeeping: when many jobs are due in the same
            # second, all their commands start before any of them records.
            await trio.lowlevel.checkpoint()
            self._record_group(group, run_log.counter)
            return await self._follow(process, output, run_log)
        except BaseException:
            with trio.CancelScope(shield=True):
                await self._end_group(group, process, run_log, "the run was stopped")
            raise
        finally:
            with trio.CancelScope(shield=True):
                # Reap the shell even when the group emptied before it was
                # polled, so no zombie is left behind.
                with trio.move_on_after(TERMINATE_GRACE):
                    await process.wait()
                process.close()
                await output.aclose()
                self.group_file.unlink(missing_ok=True)

    def _record_group(self, group: process_group.Group, counter: int) -> None:
        try:
            group.record(self.group_file, counter)
        except OSError as error:
            # The run itself can go on: only recovery after a crash needs it.
            logger.warning(
                "job %s run %d: cannot record its process group in %s (%s); "
                "if karajo crashes during this run, the next start will not "
                "end the processes it leaves",
                self.id,
                counter,
                self.group_file,
                error.strerror,
            )

    async def _follow(
        self, process: ChildProcess, output: trio.lowlevel.FdStream, run_log: RunLog
    ) -> int:
        # As in the original, a command lasts until every process writing to
        # its log has ended; a process started in the background with its
        # output redirected (a daemon, `nohup cmd >/dev/null 2>&1 &`) is left
        # running.  Cancel, timeout and shutdown end the whole group.
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_copy_output, output, run_log)
            returncode = await process.wait()
        return returncode

    async def _end_group(
        self,
        group: process_group.Group,
        process: ChildProcess,
        run_log: RunLog,
        why: str,
    ) -> None:
        signal_used = await group.terminate(process, TERMINATE_GRACE)
        if signal_used is not None:
            run_log.line(
                f"--- ended the command's remaining processes with "
                f"{signal.Signals(signal_used).name} ({why})"
            )
            logger.info(
                "job %s run %d: ended its processes with %s (%s)",
                self.id,
                run_log.counter,
                signal.Signals(signal_used).name,
                why,
            )

    def to_json(self) -> dict[str, object]:
        data = super().to_json()
        data.update(
            path=self.config.path,
            auth_kind=self.config.auth_kind,
            commands=list(self.config.commands),
            timeout=self.config.timeout,
        )
        return data


async def _copy_output(output: trio.lowlevel.FdStream, run_log: RunLog) -> None:
    try:
        while chunk := await output.receive_some(READ_SIZE):
            run_log.write(chunk)
    except (OSError, trio.BrokenResourceError) as error:
        run_log.line(f"--- output could not be read: {error}")


def _describe_exit(returncode: int) -> str:
    """Say how a command ended, in the words of the original's Go errors."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = str(-returncode)
        return f"signal: {name}"
    return f"exit status {returncode}"
