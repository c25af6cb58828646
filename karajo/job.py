"""What every job shares at run time: status, counter, timer, queue, logs.

Each job is one trio task (`Job.run_forever`) in the server's nursery.  It
waits for whichever comes first, its timer or a start request on its memory
channel, so a job never runs twice at once and timer and webhook runs queue
behind each other.  The channel holds one request: a webhook arriving while
one is already queued is refused.  Finished runs go out on the server's
finished-runs channel, which the notifier reads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trio

from karajo.config import Environment, JobBaseConfig
from karajo.duration import SECOND, format_duration
from karajo.errors import JobError
from karajo.log_store import JobLogDir, LogEntry, RunLog

logger = logging.getLogger(__name__)

STATUS_STARTED = "started"
STATUS_RUNNING = "running"
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_CANCELED = "canceled"
STATUS_PAUSED = "paused"

# Go's zero time, which the original's JSON shows for "never".
ZERO_TIME_JSON = "0001-01-01T00:00:00Z"

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class JobPausedError(JobError):
    """A start request arrived for a paused job."""


class JobBusyError(JobError):
    """A start request arrived while another one is already queued."""


@dataclass
class StartRequest:
    """Why a run starts, with the webhook's data when a webhook asked."""

    trigger: str
    body: bytes | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class FinishedRun:
    """What the notifier learns about a run that ended."""

    kind: str
    job_id: str
    job_name: str
    counter: int
    status: str
    log_path: Path
    notify: tuple[str, ...]


class Job:
    """A job at run time; subclasses say what a run does in `execute`."""

    kind = "job"
    log_subdir = "job"

    def __init__(
        self, config: JobBaseConfig, env: Environment, clock: Clock = wall_clock
    ) -> None:
        self.config = config
        self.env = env
        self.clock = clock
        self.status = STATUS_STARTED
        self.last_run: datetime | None = None
        self.next_run: datetime | None = None
        self.log_dir = JobLogDir(
            env.base / "var" / "log" / "karajo" / self.log_subdir / config.id,
            self.kind,
            config.id,
            config.log_retention,
        )
        self.counter = 0
        # One queued start request at most; more get 429 (see request_run).
        self._queue_send, self._queue_receive = trio.open_memory_channel[StartRequest](
            1
        )
        self._run_scope: trio.CancelScope | None = None
        self._cancel_reason = ""
        # Waiting for the timer or a request; cancelled to recompute the wait.
        self._wait_scope: trio.CancelScope | None = None
        self._is_woken = False
        self._is_stopping = False
        # The global run limit, shared by all jobs: run_forever sets it, and
        # the server swaps it when a reload changes max_job_running.
        self.limiter: trio.Semaphore | None = None
        # See `stopped`: made when first asked for.
        self._stopped: trio.Event | None = None
        self._has_stopped = False
        # Called after every change of status, for pages that follow jobs live.
        self.on_change: Callable[[Job], None] = _ignore_change
        # What started the current or last run ("timer", "webhook", ...),
        # for the metrics' schedule lateness.
        self.run_trigger = ""

    @property
    def stopped(self) -> trio.Event:
        """Set when run_forever has returned, after a stop or a removal."""
        # Made on demand: only stops and removals wait for it, and an Event
        # for each of 10,000 jobs would cost 2.5 MB (bench/scale.py).
        if self._stopped is None:
            self._stopped = trio.Event()
            if self._has_stopped:
                self._stopped.set()
        return self._stopped

    @property
    def work_dir(self) -> Path:
        """The working directory of the job's commands."""
        base = self.env.base / "var" / "lib" / "karajo" / self.log_subdir
        return base / self.config.id

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def is_running(self) -> bool:
        return self._run_scope is not None

    @property
    def queued_requests(self) -> int:
        """Start requests waiting for the current run to end: 0 or 1."""
        return self._queue_send.statistics().current_buffer_used

    @property
    def is_paused(self) -> bool:
        return self.status == STATUS_PAUSED

    def recover(self) -> None:
        """Read the state left on disk by earlier runs."""
        self.work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.log_dir.scan()
        self.counter = self.log_dir.last_counter
        if self.log_dir.last_status:
            self.status = self.log_dir.last_status
        if self.status == STATUS_RUNNING:
            self.status = STATUS_FAILED
        if self.log_dir.last_modified is not None:
            self.last_run = _whole_second(
                datetime.fromtimestamp(self.log_dir.last_modified, UTC)
            )

    # Control from the API.

    def request_run(self, request: StartRequest) -> None:
        """Queue a run; raise JobPausedError or JobBusyError when it cannot."""
        if self.is_paused:
            raise JobPausedError(f"{self.kind} {self.id} is paused")
        try:
            self._queue_send.send_nowait(request)
        except trio.WouldBlock:
            raise JobBusyError(
                f"{self.kind} {self.id} already has a run queued"
            ) from None

    def pause(self) -> None:
        self.status = STATUS_PAUSED
        logger.info("%s %s: paused", self.kind, self.id)
        self.on_change(self)

    def resume(self) -> None:
        # The original clears an exec job's status and sets an HTTP job's
        # back to started; API clients may rely on either value.
        self.status = "" if self.kind == "job" else STATUS_STARTED
        logger.info("%s %s: resumed", self.kind, self.id)
        self.on_change(self)

    def cancel(self, reason: str = "canceled by request") -> bool:
        """Cancel the current run; False when nothing is running."""
        if self._run_scope is None:
            return False
        self._cancel_reason = reason
        self._run_scope.cancel()
        return True

    # The job's task.

    async def run_forever(
        self,
        limiter: trio.Semaphore,
        finished: trio.MemorySendChannel[FinishedRun],
    ) -> None:
        """Wait for the timer or a request, run, repeat; until stopped."""
        self.limiter = limiter
        try:
            while not self._is_stopping:
                request = await self._next_request()
                if request is None:
                    continue
                if self.is_paused:
                    await self._record_paused_tick(request)
                    continue
                await self._run_once(request, finished)
        finally:
            self._has_stopped = True
            if self._stopped is not None:
                self._stopped.set()

    async def _next_request(self) -> StartRequest | None:
        """The next start request or timer tick; None when woken to re-plan."""
        # Planning starts here, so a wake-up from before is already heeded.
        self._is_woken = False
        self.next_run = self.compute_next_run(self.clock())
        self.on_change(self)
        for wake_at in _wake_times(self._deadline()):
            request = None
            with trio.move_on_at(wake_at) as self._wait_scope:
                request = await self._queue_receive.receive()
            self._wait_scope = None
            if request is not None or self._is_woken:
                return request
        return StartRequest(trigger="timer")

    def _wake(self) -> None:
        self._is_woken = True
        if self._wait_scope is not None:
            self._wait_scope.cancel()

    def stop_accepting(self) -> None:
        """Finish the current run, if any, then end `run_forever`."""
        self._is_stopping = True
        self._wake()
        dropped = 0
        while True:
            try:
                self._queue_receive.receive_nowait()
                dropped += 1
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        if dropped:
            logger.warning(
                "%s %s: a queued run is dropped: karajo is stopping", self.kind, self.id
            )

    def keep_accepting(self) -> None:
        """Undo `stop_accepting` while the job's task has not ended yet."""
        self._is_stopping = False

    def reconfigure(self, config: JobBaseConfig) -> None:
        """Take new settings from a reload; timers are planned anew."""
        self.config = config
        self.log_dir.retention = config.log_retention
        self._wake()

    def compute_next_run(self, now: datetime) -> datetime | None:
        schedule = self.config.parsed_schedule
        if schedule is not None:
            return schedule.next_after(now)
        if self.config.interval <= 0:
            return None
        if self.last_run is None:
            return _whole_second(now)
        due = self.last_run + timedelta(microseconds=self.config.interval // 1000)
        return max(due, _whole_second(now))

    def _deadline(self) -> float:
        if self.next_run is None:
            return math.inf
        wait = (self.next_run - self.clock()).total_seconds()
        return trio.current_time() + max(wait, 0.0)

    async def _record_paused_tick(self, request: StartRequest) -> None:
        # The original keeps a trace of every run a pause skipped.
        self.counter += 1
        self.last_run = _whole_second(self.clock())
        skipped = f"paused; the {request.trigger} run is skipped"
        try:
            run_log = self.log_dir.open_run(self.counter)
            run_log.line(f"=== {self.kind}: {self.id}: {skipped}")
            await self.log_dir.finish_run(run_log, STATUS_PAUSED)
        except OSError as error:
            logger.error(
                "%s %s run %d: cannot record that it was skipped in %s: %s",
                self.kind,
                self.id,
                self.counter,
                self.log_dir.directory,
                error.strerror,
            )

    async def _run_once(
        self,
        request: StartRequest,
        finished: trio.MemorySendChannel[FinishedRun],
    ) -> None:
        previous_status = self.status
        self.status = STATUS_STARTED
        self.on_change(self)
        assert self.limiter is not None, "run_forever sets the limiter"
        async with self.limiter:
            entry = await self._run_logged(request, previous_status)
        if entry is not None:
            self._announce(entry, finished)

    async def _run_logged(
        self, request: StartRequest, previous_status: str
    ) -> LogEntry | None:
        self.counter += 1
        try:
            run_log = self.log_dir.open_run(self.counter)
        except OSError as error:
            logger.error(
                "%s %s run %d: cannot create its log in %s: %s; the run is skipped",
                self.kind,
                self.id,
                self.counter,
                self.log_dir.directory,
                error.strerror,
            )
            self.status = STATUS_FAILED
            return None

        self.status = STATUS_RUNNING
        self.run_trigger = request.trigger
        self.last_run = _whole_second(self.clock())
        self._cancel_reason = ""
        logger.info(
            "%s %s run %d: started by %s",
            self.kind,
            self.id,
            self.counter,
            request.trigger,
        )
        self.on_change(self)
        # Stays canceled only when karajo stops in the middle of the run.
        status = STATUS_CANCELED
        try:
            status = await self._run_guarded(run_log, request)
        finally:
            with trio.CancelScope(shield=True):
                entry = await self._finish(run_log, status)
        return entry

    async def _run_guarded(self, run_log: RunLog, request: StartRequest) -> str:
        """Run `execute` and turn its outcome into a status and log lines."""
        started = trio.current_time()
        timeout = getattr(self.config, "timeout", 0)
        try:
            with trio.CancelScope() as scope:
                self._run_scope = scope
                if timeout > 0:
                    scope.deadline = trio.current_time() + timeout / SECOND
                await self.execute(run_log, request)
                run_log.line(f"=== {self.kind}: {self.id}: finished.")
                return STATUS_SUCCESS
        except JobError as error:
            return self._failed(run_log, str(error))
        except OSError as error:
            return self._failed(run_log, f"{error.strerror or error}")
        except (trio.Cancelled, BaseExceptionGroup) as error:
            # Nurseries inside a run hand cancellation on as a group.
            if _is_cancellation(error):
                run_log.line("??? CANCELED (karajo is stopping)")
            raise
        except Exception as error:
            # A job defined in code raised; keep the server up and say where.
            logger.exception(
                "%s %s run %d: its callable raised", self.kind, self.id, self.counter
            )
            return self._failed(run_log, f"{type(error).__name__}: {error}")
        finally:
            self._run_scope = None
            elapsed = trio.current_time() - started
            logger.debug(
                "%s %s run %d: took %.3fs", self.kind, self.id, self.counter, elapsed
            )

        if timeout > 0 and not self._cancel_reason:
            return self._failed(run_log, f"timed out after {format_duration(timeout)}")
        run_log.line(f"??? CANCELED ({self._cancel_reason})")
        return STATUS_CANCELED

    def _failed(self, run_log: RunLog, reason: str) -> str:
        run_log.line(f"!!! {self.kind}: {self.id}: {reason}")
        run_log.failure = reason
        return STATUS_FAILED

    async def _finish(self, run_log: RunLog, status: str) -> LogEntry | None:
        if run_log.write_error is not None:
            status = STATUS_FAILED
            logger.error(
                "%s %s run %d: its log %s could not be written (%s), so the run is "
                "failed; check the space and permissions of the log directory",
                self.kind,
                self.id,
                run_log.counter,
                run_log.path,
                run_log.write_error.strerror,
            )
        try:
            entry = await self.log_dir.finish_run(run_log, status)
        except OSError as error:
            logger.error(
                "%s %s run %d: cannot finish its log %s: %s",
                self.kind,
                self.id,
                run_log.counter,
                run_log.path,
                error.strerror,
            )
            entry = None
        self.status = status
        self.on_change(self)
        if status == STATUS_FAILED and run_log.failure:
            logger.warning(
                "%s %s run %d: failed: %s; its log is %s",
                self.kind,
                self.id,
                run_log.counter,
                run_log.failure,
                entry.path if entry is not None else run_log.path,
            )
        else:
            logger.info("%s %s run %d: %s", self.kind, self.id, run_log.counter, status)
        return entry

    def _announce(
        self, entry: LogEntry, finished: trio.MemorySendChannel[FinishedRun]
    ) -> None:
        config = self.config
        notify = (
            config.notif_on_success
            if entry.status == STATUS_SUCCESS
            else (config.notif_on_failed if entry.status == STATUS_FAILED else [])
        )
        run = FinishedRun(
            self.kind,
            self.id,
            self.name,
            entry.counter,
            entry.status,
            entry.path,
            tuple(notify),
        )
        try:
            finished.send_nowait(run)
        except trio.WouldBlock:
            logger.warning(
                "%s %s run %d: the finished-runs queue is full; "
                "its notifications (%s) are dropped",
                self.kind,
                self.id,
                entry.counter,
                ", ".join(notify) or "none",
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def execute(self, run_log: RunLog, request: StartRequest) -> None:
        """Do the work of one run; raise JobError to fail it."""
        raise NotImplementedError

    # JSON for the API, with the original's field names.

    def to_json(self) -> dict[str, object]:
        config = self.config
        return {
            "id": self.id,
            "name": self.name,
            "description": config.description,
            "status": self.status,
            "schedule": config.schedule,
            "timezone": config.timezone,
            "interval": config.interval,
            "last_run": format_time(self.last_run),
            "next_run": format_time(self.next_run),
            "log_retention": config.log_retention,
            "notif_on_success": list(config.notif_on_success),
            "notif_on_failed": list(config.notif_on_failed),
            "header_sign": config.header_sign,
            "logs": [entry.to_json() for entry in self.log_dir.entries],
        }


# Linux lets a wait of T seconds in epoll end up to T/1000 late, 100 ms at
# most (timer slack, which batches wake-ups): a minutely job would start
# 60 ms after its minute.  Waking this long before the deadline, then
# waiting out the rest, leaves a slack of at most 0.1 ms.
_TIMER_LEAD = 0.1


def _wake_times(deadline: float) -> tuple[float, ...]:
    """When to wake for a deadline: also a little before it when it is far."""
    if deadline - trio.current_time() <= _TIMER_LEAD:
        return (deadline,)
    return (deadline - _TIMER_LEAD, deadline)


def _is_cancellation(error: BaseException) -> bool:
    if isinstance(error, BaseExceptionGroup):
        _, rest = error.split(trio.Cancelled)
        return rest is None
    return isinstance(error, trio.Cancelled)


def _ignore_change(job: Job) -> None:
    """The default `on_change`: one shared function, not one per job."""


def format_time(moment: datetime | None) -> str:
    """RFC 3339 in UTC, whole seconds, as Go's time marshals."""
    if moment is None:
        return ZERO_TIME_JSON
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _whole_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)
