"""Server push for the web pages: job changes and live logs as Server-Sent Events.

The dashboard opens one stream and first receives a `snapshot` of every
job; after that a `job` event for each change, as `Job.on_change` reports
it.  A job never waits for a browser: `on_change` only puts the encoded
event into each subscriber's bounded queue without blocking.  When a queue
is full (a slow or vanished browser) the event is dropped and the
subscriber marked, and its stream sends a fresh snapshot as soon as it
drains: the page stays right without the job ever noticing.

A log page opens a stream on one run: the log's text so far, then new text
as the job writes it (the `.running` file is followed through an open file
descriptor, which the rename at the end of the run does not disturb), then
an `end` event with the final status.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from karajo import __version__
from karajo.html_sanitize import sanitize_description
from karajo.job import STATUS_RUNNING, format_time
from karajo.log_store import API_LOG_LIMIT, LogEntry

if TYPE_CHECKING:
    from karajo.job import Job
    from karajo.server import Server

logger = logging.getLogger(__name__)

# Events a browser may fall behind by before it is sent a snapshot instead.
QUEUE_SIZE = 64
# Streams open at once; each costs a task and a queue.
MAX_SUBSCRIBERS = 100
# A comment line this often keeps proxies from closing an idle stream and
# lets the server notice a browser that has gone away.
KEEPALIVE_SECONDS = 15.0
# How often a followed log file is checked for growth: one fstat.
LOG_POLL_SECONDS = 0.2
LOG_CHUNK_SIZE = 64 * 1024
# Browsers reconnect after this long when a stream drops.
RETRY_MILLISECONDS = 3000
# Start times read from finished logs; they never change, so keep them.
_RUN_START_CACHE_SIZE = 4096
_STAMP_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
_STAMP_LENGTH = len("2006-01-02 15:04:05 UTC")


def sse_event(event: str, data: object) -> bytes:
    """One Server-Sent Event; JSON keeps the data on a single line."""
    payload = json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


SSE_KEEPALIVE = b": keep-alive\n\n"
# Put in a queue to make its stream look at `needs_resync` at once.
_WAKE_UP = b": wake up\n\n"
SSE_RETRY = f"retry: {RETRY_MILLISECONDS}\n\n".encode()


@dataclass(eq=False)
class _Subscriber:
    send: trio.MemorySendChannel[bytes]
    receive: trio.MemoryReceiveChannel[bytes]
    needs_resync: bool = False


@dataclass
class SessionInfo:
    """What a page learns about its own session in each snapshot."""

    user: str | None
    users_exist: bool
    csrf_token: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "user": self.user,
            "users_exist": self.users_exist,
            "csrf_token": self.csrf_token,
        }


class EventHub:
    """Fans job changes out to every open dashboard stream."""

    def __init__(
        self,
        server: Server,
        queue_size: int = QUEUE_SIZE,
        max_subscribers: int = MAX_SUBSCRIBERS,
    ) -> None:
        self.server = server
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self._subscribers: set[_Subscriber] = set()
        self._is_attached = False
        self._is_closed = False
        self._run_starts: dict[Path, str] = {}
        self._seen_tables = self._job_tables()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def attach(self) -> None:
        """Hook into every job's `on_change`, keeping earlier callbacks."""
        if self._is_attached:
            return
        self._is_attached = True
        for job in self._all_jobs():
            self._hook(job)
        self.server.on_job_added.append(self._hook)
        self._seen_tables = self._job_tables()

    def _hook(self, job: Job) -> None:
        job.on_change = _chained(job.on_change, self.job_changed)

    def job_changed(self, job: Job) -> None:
        """Queue a job's new state for every stream; never blocks."""
        if not self._subscribers:
            return
        if not self._same_job_tables():
            # A reload added or removed jobs: pages need the whole list.
            self._seen_tables = self._job_tables()
            self.request_resync()
            return
        message = sse_event("job", self.job_view(job))
        for subscriber in self._subscribers:
            try:
                subscriber.send.send_nowait(message)
            except trio.WouldBlock:
                subscriber.needs_resync = True
            except trio.ClosedResourceError:
                pass

    def request_resync(self) -> None:
        """Make every stream send a fresh snapshot now."""
        for subscriber in self._subscribers:
            subscriber.needs_resync = True
            try:
                subscriber.send.send_nowait(_WAKE_UP)
            except (trio.WouldBlock, trio.ClosedResourceError):
                pass

    def close(self) -> None:
        """End every stream, so that a stopping server need not wait for them."""
        self._is_closed = True
        for subscriber in self._subscribers:
            subscriber.send.close()

    @property
    def is_full(self) -> bool:
        """Whether no more streams may open."""
        return len(self._subscribers) >= self.max_subscribers

    def subscribe(self) -> _Subscriber:
        self.attach()
        send, receive = trio.open_memory_channel[bytes](self.queue_size)
        subscriber = _Subscriber(send, receive)
        if self._is_closed:
            send.close()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: _Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.send.close()

    async def stream(
        self, session: SessionInfo, is_session_valid: Callable[[], bool]
    ) -> AsyncIterator[bytes]:
        """The dashboard's stream: a snapshot, then changes, until closed."""
        subscriber = self.subscribe()
        try:
            yield SSE_RETRY + sse_event("snapshot", self.snapshot(session))
            while True:
                if subscriber.needs_resync:
                    _drain(subscriber.receive)
                    subscriber.needs_resync = False
                    yield sse_event("snapshot", self.snapshot(session))
                message = SSE_KEEPALIVE
                with trio.move_on_after(KEEPALIVE_SECONDS):
                    message = await subscriber.receive.receive()
                if not is_session_valid():
                    yield sse_event("signed-out", {})
                    return
                if message != _WAKE_UP:
                    yield message
        except trio.EndOfChannel:
            return
        finally:
            self.unsubscribe(subscriber)

    def snapshot(self, session: SessionInfo) -> dict[str, object]:
        now = self.server.clock()
        return {
            "name": self.server.env.karajo.name,
            "version": __version__,
            "server_time_ms": int(now.timestamp() * 1000),
            "session": session.to_json(),
            "jobs": [self.job_view(job) for job in self.server.jobs.values()],
            "http_jobs": [self.job_view(job) for job in self.server.http_jobs.values()],
        }

    def job_view(self, job: Job) -> dict[str, Any]:
        """A job's API JSON plus what the pages show: kind, runs, safe HTML."""
        data = job.to_json()
        data["kind"] = job.kind
        data["counter"] = job.counter
        data["description_html"] = sanitize_description(job.config.description)
        runs = [self._finished_run(entry) for entry in job.log_dir.entries]
        if job.status == STATUS_RUNNING:
            runs.append(
                {
                    "counter": job.counter,
                    "status": STATUS_RUNNING,
                    "started": format_time(job.last_run),
                    "finished": "",
                }
            )
        data["runs"] = runs
        return data

    def _finished_run(self, entry: LogEntry) -> dict[str, object]:
        try:
            finished = format_time(
                datetime.fromtimestamp(entry.path.stat().st_mtime, UTC)
            )
        except OSError:
            finished = ""
        return {
            "counter": entry.counter,
            "status": entry.status,
            "started": self._run_start(entry.path),
            "finished": finished,
        }

    def _run_start(self, path: Path) -> str:
        """When a run began: the stamp of its log's first line."""
        started = self._run_starts.get(path)
        if started is None:
            started = _first_stamp(path)
            if len(self._run_starts) >= _RUN_START_CACHE_SIZE:
                self._run_starts.clear()
            self._run_starts[path] = started
        return started

    def _all_jobs(self) -> list[Job]:
        return [*self.server.jobs.values(), *self.server.http_jobs.values()]

    def _job_tables(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.server.jobs, self.server.http_jobs

    def _same_job_tables(self) -> bool:
        # A reload replaces the server's job dicts: their identity tells.
        jobs, http_jobs = self._seen_tables
        return jobs is self.server.jobs and http_jobs is self.server.http_jobs


def _chained(
    first: Callable[[Job], None], second: Callable[[Job], None]
) -> Callable[[Job], None]:
    def both(job: Job) -> None:
        first(job)
        second(job)

    return both


def _drain(receive: trio.MemoryReceiveChannel[bytes]) -> None:
    while True:
        try:
            receive.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return


def _first_stamp(path: Path) -> str:
    try:
        with open(path, "rb") as file:
            head = file.read(_STAMP_LENGTH).decode("ascii", "replace")
        moment = datetime.strptime(head, _STAMP_FORMAT).replace(tzinfo=UTC)
    except (OSError, ValueError):
        return ""
    return format_time(moment)


# Following one run's log.


def has_run_log(job: Job, counter: int) -> bool:
    """Whether run `counter` of `job` has a log, finished or being written."""
    return job.log_dir.find(counter) is not None or _is_running_run(job, counter)


def _is_running_run(job: Job, counter: int) -> bool:
    return job.counter == counter and job.status == STATUS_RUNNING


class LogFollower:
    """The stream of one run's log, from its start until the run ends."""

    def __init__(self, job: Job, counter: int) -> None:
        self.job = job
        self.counter = counter
        self._status = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    async def stream(self) -> AsyncIterator[bytes]:
        fd = self._open()
        yield SSE_RETRY + sse_event("meta", self._meta())
        if fd is None:
            yield sse_event("end", {"status": self._status})
            return
        try:
            note = _skip_to_tail(fd)
            if note:
                yield sse_event("chunk", note)
            async with aclosing(self._follow(fd)) as chunks:
                async for chunk in chunks:
                    yield chunk
            yield sse_event("end", {"status": self._status})
        finally:
            os.close(fd)

    async def _follow(self, fd: int) -> AsyncGenerator[bytes, None]:
        idle = 0.0
        while True:
            data = os.read(fd, LOG_CHUNK_SIZE)
            if data:
                idle = 0.0
                yield sse_event("chunk", self._decoder.decode(data))
                continue
            if self._status != STATUS_RUNNING:
                break
            self._status = self._current_status()
            if self._status != STATUS_RUNNING:
                # The run has just ended: read what it wrote last, then stop.
                continue
            await trio.sleep(LOG_POLL_SECONDS)
            idle += LOG_POLL_SECONDS
            if idle >= KEEPALIVE_SECONDS:
                idle = 0.0
                yield SSE_KEEPALIVE
        tail = self._decoder.decode(b"", final=True)
        if tail:
            yield sse_event("chunk", tail)

    def _open(self) -> int | None:
        """Open the run's log and note its status; None when it has gone."""
        job = self.job
        if job.log_dir.find(self.counter) is None and _is_running_run(
            job, self.counter
        ):
            running = job.log_dir.directory / f"{job.id}.{self.counter}.running"
            try:
                fd = _open_read(running)
            except FileNotFoundError:
                pass
            else:
                self._status = STATUS_RUNNING
                return fd
        entry = job.log_dir.find(self.counter)
        if entry is None:
            self._status = "unknown"
            return None
        self._status = entry.status
        try:
            return _open_read(entry.path)
        except OSError as error:
            logger.warning(
                "%s %s run %d: cannot open its log %s: %s",
                job.kind,
                job.id,
                self.counter,
                entry.path,
                error.strerror,
            )
            self._status = "unknown"
            return None

    def _meta(self) -> dict[str, object]:
        return {
            "kind": self.job.kind,
            "job_id": self.job.id,
            "name": self.job.name,
            "counter": self.counter,
            "status": self._status,
        }

    def _current_status(self) -> str:
        entry = self.job.log_dir.find(self.counter)
        if entry is not None:
            return entry.status
        if _is_running_run(self.job, self.counter):
            return STATUS_RUNNING
        # The run ended without a final log entry (its rename failed).
        return self.job.status if self.job.counter == self.counter else "unknown"


def _skip_to_tail(fd: int) -> str:
    """Past the API's size limit, start at the tail, as the API does."""
    size = os.fstat(fd).st_size
    if size <= API_LOG_LIMIT:
        return ""
    skipped = size - API_LOG_LIMIT
    os.lseek(fd, skipped, os.SEEK_SET)
    return f"[... the first {skipped} bytes are left out ...]\n"


def _open_read(path: Path) -> int:
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
