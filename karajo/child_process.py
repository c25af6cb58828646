"""Child processes started on the event loop and awaited on a pidfd.

trio's `open_process` starts every process from a worker thread.  With
hundreds of jobs due in the same second those threads fight the event loop
for the GIL, and each start costs a round trip through the thread cache.
With 1,000 jobs due at once on 2 cores (bench/schedule_precision.py), the
median command started 1.08 s after its minute that way, and 0.71 s once
started here and with cheaper per-run files.  Starting the process here
blocks the loop only while the kernel creates it and loads `/bin/sh`
(CPython uses vfork on Linux): under a millisecond.  It also waits for
the child's change into the job's working directory, under dir_base: a
hung file system there would stall the loop, as the run logs karajo writes
there from the loop already would.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import trio

# Waiting for exits without a pidfd takes a thread per running command for
# its whole life: trio's default pool of 40, shared with fsync and sign-ins,
# would make the 41st run wait for one of the first 40 to end.
_WAITERS = trio.CapacityLimiter(math.inf)


class ChildProcess:
    """A started process: its PID, and a way to await its exit status."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except OSError:
            # Kernels before 5.3 have no pidfd; wait() then uses a thread.
            self._pidfd = None

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def poll(self) -> int | None:
        """Reap the process if it has ended; its exit status or None."""
        returncode = self._popen.poll()
        if returncode is not None:
            self._close_pidfd()
        return returncode

    async def wait(self) -> int:
        """The exit status, negative for a signal, once the process ends."""
        if self.poll() is not None:
            return self._popen.returncode
        if self._pidfd is None:
            return await trio.to_thread.run_sync(
                self._popen.wait, abandon_on_cancel=True, limiter=_WAITERS
            )
        try:
            await trio.lowlevel.wait_readable(self._pidfd)
        except trio.ClosedResourceError:
            pass  # poll() reaped it meanwhile and closed the pidfd.
        # The pidfd is readable once the process has exited: this reaps it
        # without blocking.
        returncode = self._popen.wait()
        self._close_pidfd()
        return returncode

    def close(self) -> None:
        """Let go of the pidfd; a process still running is reaped later."""
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


def start_process(
    argv: Sequence[str],
    *,
    output: int,
    cwd: Path,
    env: Mapping[str, str],
) -> ChildProcess:
    """Start `argv` in a session of its own, stdin from /dev/null, stdout
    and stderr to the file descriptor `output`."""
    popen = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    return ChildProcess(popen)
