"""Small files karajo keeps beside its logs, written whole or not at all."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from karajo.errors import StartError


def write_private_file(path: Path, data: bytes | str) -> None:
    """Write a file only its owner can read, atomically (write, then rename).

    A crash leaves either the old content or the new, never half of it.
    """
    if isinstance(data, str):
        data = data.encode()
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with open(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_run_file(path: Path, data: bytes | str) -> None:
    """Write a file only its owner can read, in place, for the life of a run.

    Cheaper than `write_private_file` by a rename, which matters when
    hundreds of runs start at once.  Nothing reads such a file while it is
    written: the run's command starts after, and only recovery after a
    crash of karajo reads it otherwise; a crash mid-write leaves a short
    file, which readers take as unusable.
    """
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


class InstanceLock:
    """One karajo per dir_base: an exclusive lock held for the process's life.

    Two servers on one tree would take each other's running runs for runs
    left by a crash and end them; the second one refuses to start instead.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1

    def acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StartError(
                f"another karajo (pid {holder}) is running on the same dir_base; "
                f"stop it first (lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
