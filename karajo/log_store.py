"""Per-run log files: `$ID.$COUNTER.$STATUS` in the job's log directory.

A run's log is streamed to disk while the run goes on, named
`$ID.$COUNTER.running`, and renamed to its final status when the run ends;
nothing is held in memory, so a command printing gigabytes costs the server
nothing and a crash loses nothing.  A `.running` file found at start belongs
to a run cut short by a crash: it is kept and marked failed.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import trio

logger = logging.getLogger(__name__)

STATUS_RUNNING = "running"
STATUS_FAILED = "failed"
# The API sends a log whole; past this size it sends the head and the tail.
API_LOG_LIMIT = 8 * 1024 * 1024
_API_LOG_HEAD = 64 * 1024
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


# Counters are whole numbers of at most 18 digits: they fit the original's
# int64, and a name holding more is not one of karajo's.
_COUNTER = re.compile(r"[0-9]{1,18}")
KNOWN_STATUSES = frozenset({"running", "success", "failed", "canceled", "paused"})


def parse_counter(text: str) -> int | None:
    """A run counter from a file name or a query, or None when it is not one."""
    return int(text) if _COUNTER.fullmatch(text) else None


@dataclass
class LogEntry:
    """One run's log file, without its content."""

    job_id: str
    counter: int
    status: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def to_json(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "status": self.status,
            "counter": self.counter,
        }


class RunLog:
    """The log of one running run, written through to its file.

    Every line starts with `YYYY-MM-DD HH:MM:SS UTC <kind>: <id>: `; output
    arriving without a final newline is continued, not stamped again, by the
    next write.
    """

    def __init__(self, path: Path, kind: str, job_id: str, counter: int) -> None:
        self.path = path
        self.kind = kind
        self.job_id = job_id
        self.counter = counter
        self.bytes_written = 0
        # The first failed write (a full disk, a read-only file system): the
        # run goes on to its end with its output dropped, then fails with it.
        self.write_error: OSError | None = None
        # Why the run failed, in one line, when it did.
        self.failure = ""
        self._prefix_tail = f" {kind}: {job_id}: ".encode()
        self._stamp_second = -1
        self._prefix = b""
        self._at_line_start = True
        self._fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600
        )

    def _current_prefix(self) -> bytes:
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            stamp = time.strftime(_STAMP_FORMAT, time.gmtime(second))
            self._prefix = stamp.encode() + self._prefix_tail
        return self._prefix

    def write(self, data: bytes | str) -> None:
        """Append output, stamping every line that starts in it."""
        if isinstance(data, str):
            data = data.encode("utf-8", "replace")
        if not data:
            return
        prefix = self._current_prefix()
        ends_line = data.endswith(b"\n")
        if ends_line:
            data = data[:-1]
        out = data.replace(b"\n", b"\n" + prefix)
        if self._at_line_start:
            out = prefix + out
        if ends_line:
            out += b"\n"
        self._at_line_start = ends_line
        self._write_all(out)

    def line(self, text: str) -> None:
        """Write one whole line of karajo's own, after any unfinished output."""
        if not self._at_line_start:
            self._write_all(b"\n")
            self._at_line_start = True
        self.write(text + "\n")

    def _write_all(self, data: bytes) -> None:
        # A regular file write goes to the page cache and does not block for
        # long; making it a thread hop per chunk would cost more than it saves.
        if self.write_error is not None:
            return
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
                self.bytes_written += written
        except OSError as error:
            self.write_error = error

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    async def sync(self) -> None:
        """Flush the file to disk, so a run reported ended is on disk."""
        if self._fd >= 0:
            # Linux offers no non-blocking fsync, and syncing a big log can
            # take seconds: a worker thread keeps the server answering.
            await trio.to_thread.run_sync(os.fsync, self._fd)


class JobLogDir:
    """The log directory of one job: scanning, new runs, retention."""

    def __init__(self, directory: Path, kind: str, job_id: str, retention: int) -> None:
        # Kept as text: a Path per job costs more, and thousands of jobs add up.
        self._directory = str(directory)
        self.kind = kind
        self.job_id = job_id
        self.retention = retention
        self.entries: list[LogEntry] = []
        self.last_modified: float | None = None
        # Whether a finished run's file is synced to disk before it counts as
        # ended; tests on a fake clock turn it off (a thread breaks autojump).
        self.is_durable = True

    @property
    def directory(self) -> Path:
        return Path(self._directory)

    def scan(self) -> list[LogEntry]:
        """Load the existing logs; return those of interrupted runs, now failed."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        interrupted = []
        for name in os.listdir(self.directory):
            entry = self._parse_name(name)
            if entry is None:
                continue
            if entry.status == STATUS_RUNNING:
                entry = self._mark_interrupted(entry)
                interrupted.append(entry)
            self.entries.append(entry)
            self._note_mtime(entry.path)
        self.entries.sort(key=lambda entry: entry.counter)
        self.prune()
        return interrupted

    def _parse_name(self, name: str) -> LogEntry | None:
        path = self.directory / name
        fields = name.split(".")
        counter = parse_counter(fields[1]) if len(fields) == 3 else None
        if counter is not None:
            # Only karajo's own regular files count: a symbolic link or a
            # name of another job or status is left alone and not served.
            is_ours = fields[0] == self.job_id and fields[2] in KNOWN_STATUSES
            if is_ours and not path.is_symlink() and path.is_file():
                return LogEntry(self.job_id, counter, fields[2], path)
            logger.warning(
                "%s %s: ignoring %s in its log directory: not a log karajo wrote",
                self.kind,
                self.job_id,
                path,
            )
            return None
        if path.is_file() and not path.is_symlink():
            logger.warning(
                "%s %s: removing %s: a log name needs an ID, a counter and a status",
                self.kind,
                self.job_id,
                path,
            )
            path.unlink(missing_ok=True)
        return None

    def _mark_interrupted(self, entry: LogEntry) -> LogEntry:
        stamp = time.strftime(_STAMP_FORMAT, time.gmtime())
        with open(entry.path, "ab") as file:
            if file.tell() and not _ends_with_newline(entry.path):
                file.write(b"\n")
            file.write(
                f"{stamp} {self.kind}: {self.job_id}: !!! {self.kind}: {self.job_id}: "
                "interrupted: karajo stopped while this run was going on\n".encode()
            )
        final = entry.path.with_name(f"{self.job_id}.{entry.counter}.{STATUS_FAILED}")
        os.replace(entry.path, final)
        logger.warning(
            "%s %s run %d: was interrupted by a stop of karajo; its log is kept as %s",
            self.kind,
            self.job_id,
            entry.counter,
            final,
        )
        return LogEntry(self.job_id, entry.counter, STATUS_FAILED, final)

    def _note_mtime(self, path: Path) -> None:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if self.last_modified is None or mtime > self.last_modified:
            self.last_modified = mtime

    @property
    def last_counter(self) -> int:
        return self.entries[-1].counter if self.entries else 0

    @property
    def last_status(self) -> str:
        return self.entries[-1].status if self.entries else ""

    def open_run(self, counter: int) -> RunLog:
        path = self.directory / f"{self.job_id}.{counter}.{STATUS_RUNNING}"
        return RunLog(path, self.kind, self.job_id, counter)

    async def finish_run(self, run_log: RunLog, status: str) -> LogEntry:
        """Sync and rename a run's file to its final status; apply retention."""
        try:
            if self.is_durable:
                await run_log.sync()
        finally:
            run_log.close()
        final = run_log.path.with_name(f"{self.job_id}.{run_log.counter}.{status}")
        os.replace(run_log.path, final)
        entry = LogEntry(self.job_id, run_log.counter, status, final)
        self.entries.append(entry)
        self.last_modified = time.time()
        self.prune()
        return entry

    def prune(self) -> None:
        """Delete the oldest logs beyond the retention count."""
        excess = len(self.entries) - self.retention
        if excess <= 0:
            return
        for entry in self.entries[:excess]:
            try:
                entry.path.unlink(missing_ok=True)
            except OSError as error:
                logger.warning(
                    "%s %s: cannot delete old log %s: %s",
                    self.kind,
                    self.job_id,
                    entry.path,
                    error.strerror,
                )
        del self.entries[:excess]

    def find(self, counter: int) -> LogEntry | None:
        for entry in self.entries:
            if entry.counter == counter:
                return entry
        return None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def read_log_content(path: Path, limit: int = API_LOG_LIMIT) -> bytes:
    """A log's bytes; past `limit`, its head and tail around a note."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size <= limit:
            return file.read()
        head = file.read(_API_LOG_HEAD)
        tail_size = limit - _API_LOG_HEAD
        file.seek(size - tail_size)
        tail = file.read(tail_size)
    note = (
        f"\n[... {size - len(head) - len(tail)} bytes left out; "
        f"the whole log is {path} on the server ...]\n"
    ).encode()
    return head + note + tail
