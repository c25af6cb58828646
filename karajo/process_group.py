"""Process groups of running commands: find, end, and recover after a crash.

Linux only: membership is read from /proc, which sees through zombies that
`killpg(pgid, 0)` would still count.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
from pathlib import Path

import trio

from karajo.child_process import ChildProcess
from karajo.files import write_run_file

_PROC = Path("/proc")
# How often to look whether a signalled group is gone; only while ending one.
_POLL_INTERVAL = 0.02
_KILL_WAIT = 5.0


class Group:
    """The process group (and session) led by a command's shell."""

    def __init__(self, leader_pid: int) -> None:
        self.pgid = leader_pid

    def record(self, path: Path, counter: int) -> None:
        """Write `counter pgid start-time` for recovery after a crash."""
        start_time = _start_time(self.pgid) or 0
        write_run_file(path, f"{counter} {self.pgid} {start_time}\n")

    def is_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return bool(members(self.pgid))

    def signal(self, signum: int) -> None:
        try:
            os.killpg(self.pgid, signum)
        except ProcessLookupError:
            pass

    async def terminate(self, process: ChildProcess, grace: float) -> int | None:
        """End every process of the group; return the signal that did it."""
        process.poll()
        if not self.is_alive():
            return None
        self.signal(signal.SIGTERM)
        if await self._wait_gone(process, grace):
            return signal.SIGTERM
        self.signal(signal.SIGKILL)
        await self._wait_gone(process, _KILL_WAIT)
        return signal.SIGKILL

    async def _wait_gone(self, process: ChildProcess, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            while True:
                # Reaping the shell here lets the group empty out.
                process.poll()
                if not self.is_alive():
                    return True
                await trio.sleep(_POLL_INTERVAL)
        return False


def members(pgid: int) -> list[int]:
    """PIDs of the live (not zombie) processes in a process group."""
    found = []
    for entry in os.scandir(_PROC):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat from the state on (field 3 of proc(5))."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        text = os.read(fd, 4096).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    # The command name in parentheses may itself hold spaces or parentheses.
    return text[text.rfind(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _has_counter(pid: int, counter: int) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"KARAJO_JOB_COUNTER={counter}".encode() in environ.split(b"\0")


def end_recorded(path: Path) -> int:
    """Kill what is left of a group recorded by a run that a crash cut short.

    A process counts as left over when the recorded leader is still the
    same process (same start time) or, with the leader gone, when it is in
    the group and carries that run's KARAJO_JOB_COUNTER; a PID reused by
    an unrelated program passes neither test.
    """
    try:
        counter_text, pgid_text, start_text = path.read_text().split()
        counter, pgid, start_time = int(counter_text), int(pgid_text), int(start_text)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return 0

    leader_is_ours = start_time != 0 and _start_time(pgid) == start_time
    ended = 0
    for pid in members(pgid):
        if leader_is_ours or _has_counter(pid, counter):
            try:
                os.kill(pid, signal.SIGKILL)
                ended += 1
            except ProcessLookupError:
                pass
    path.unlink(missing_ok=True)
    return ended


def enlarge_pipe(fd: int, size: int = 1024 * 1024) -> None:
    """Ask for a bigger pipe buffer, so a fast writer waits on us less."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except OSError as error:
        # An unprivileged user is capped by /proc/sys/fs/pipe-max-size.
        if error.errno not in (errno.EPERM, errno.EINVAL):
            raise
