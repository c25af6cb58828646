"""Metrics for the people who operate karajo, in the Prometheus text format.

`GET /karajo/api/metrics` answers with the exposition format 0.0.4, written
here without a client library.  Counting costs a job almost nothing: the
`Metrics.job_changed` callback, chained onto each job's `on_change`, adds
to a counter and a histogram when a run ends; gauges (running, queued, the
process's memory) are read only when someone scrapes.

    karajo_runs_total{kind,job,status}           runs ended, by final status
    karajo_run_duration_seconds{kind,job}        histogram of run durations
    karajo_runs_running                          runs executing now
    karajo_runs_queued                           runs waiting: queued or for a slot
    karajo_schedule_lateness_seconds{kind,job}   last timer run: start - scheduled
    karajo_notifications_total{notif,result}     e-mail sent, failed or dropped
    karajo_jobs{kind}                            jobs loaded
    process_*                                    CPU, memory, open files, start

Series of a job appear after its first run, so that 10,000 jobs that never
ran cost nothing in the answer.
"""

from __future__ import annotations

import gzip
import os
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from quart import Response, request

from karajo import __version__
from karajo.events import _chained
from karajo.job import (
    STATUS_CANCELED,
    STATUS_FAILED,
    STATUS_RUNNING,
    STATUS_SUCCESS,
)
from karajo.web import needs_sign_in

if TYPE_CHECKING:
    from karajo.job import Job
    from karajo.server import Server

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a quick command to an hour-long backup.
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    1800.0,
    3600.0,
)
_GZIP_MIN_SIZE = 1024
_ENDED = frozenset({STATUS_SUCCESS, STATUS_FAILED, STATUS_CANCELED})
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

JobKey = tuple[str, str]


class Histogram:
    """Cumulative buckets as Prometheus wants them, plus sum and count."""

    __slots__ = ("count", "counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(DURATION_BUCKETS, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> Iterator[tuple[str, int]]:
        total = 0
        for bound, count in zip((*DURATION_BUCKETS, None), self.counts):
            total += count
            yield ("+Inf" if bound is None else _number(bound)), total


class Metrics:
    """Counts runs of a server's jobs and renders everything on request."""

    def __init__(self, server: Server, clock: Callable[[], float] = time.monotonic):
        self.server = server
        self.clock = clock
        self.runs: dict[tuple[str, str, str], int] = {}
        self.durations: dict[JobKey, Histogram] = {}
        self.lateness: dict[JobKey, float] = {}
        # When the current run of a job started, by the clock above.
        self._started: dict[JobKey, float] = {}
        self._process_start = _process_start_time()

    def attach(self) -> None:
        """Hook into every job now loaded and every job a reload adds."""
        for job in [*self.server.jobs.values(), *self.server.http_jobs.values()]:
            self.attach_job(job)
        self.server.on_job_added.append(self.attach_job)

    def attach_job(self, job: Job) -> None:
        job.on_change = _chained(job.on_change, self.job_changed)

    def job_changed(self, job: Job) -> None:
        """Note a run starting or ending; called by the job, must stay cheap."""
        status = job.status
        if status == STATUS_RUNNING:
            key = (job.kind, job.id)
            if key not in self._started:
                self._started[key] = self.clock()
                self._note_lateness(job, key)
        elif status in _ENDED:
            key = (job.kind, job.id)
            started = self._started.pop(key, None)
            if started is None:
                return
            runs_key = (job.kind, job.id, status)
            self.runs[runs_key] = self.runs.get(runs_key, 0) + 1
            histogram = self.durations.get(key)
            if histogram is None:
                histogram = self.durations[key] = Histogram()
            histogram.observe(self.clock() - started)

    def _note_lateness(self, job: Job, key: JobKey) -> None:
        if job.run_trigger != "timer" or job.next_run is None:
            return
        late = (job.clock() - job.next_run).total_seconds()
        self.lateness[key] = max(late, 0.0)

    # The answer.

    def render(self) -> str:
        return "".join(self._lines())

    def _lines(self) -> Iterator[str]:
        jobs = [*self.server.jobs.values(), *self.server.http_jobs.values()]
        yield from _help("karajo_build_info", "gauge", "karajo's version.")
        yield f'karajo_build_info{{version="{_escape(__version__)}"}} 1\n'
        yield from _help("karajo_jobs", "gauge", "Jobs loaded, by kind.")
        kinds: dict[str, int] = {}
        for job in jobs:
            kinds[job.kind] = kinds.get(job.kind, 0) + 1
        for kind, count in sorted(kinds.items()):
            yield f'karajo_jobs{{kind="{kind}"}} {count}\n'
        yield from self._run_lines(jobs)
        yield from self._notification_lines()
        yield from _process_lines(self._process_start)

    def _run_lines(self, jobs: list[Job]) -> Iterator[str]:
        yield from _help("karajo_runs_total", "counter", "Runs ended, by final status.")
        for (kind, job_id, status), count in sorted(self.runs.items()):
            labels = _labels(kind=kind, job=job_id, status=status)
            yield f"karajo_runs_total{{{labels}}} {count}\n"
        yield from _help(
            "karajo_run_duration_seconds", "histogram", "How long runs took."
        )
        for (kind, job_id), histogram in sorted(self.durations.items()):
            labels = _labels(kind=kind, job=job_id)
            for bound, count in histogram.cumulative():
                yield (
                    f'karajo_run_duration_seconds_bucket{{{labels},le="{bound}"}}'
                    f" {count}\n"
                )
            yield f"karajo_run_duration_seconds_sum{{{labels}}} {_number(histogram.sum)}\n"
            yield f"karajo_run_duration_seconds_count{{{labels}}} {histogram.count}\n"
        yield from _help("karajo_runs_running", "gauge", "Runs executing now.")
        running = sum(1 for job in jobs if job.status == STATUS_RUNNING)
        yield f"karajo_runs_running {running}\n"
        yield from _help(
            "karajo_runs_queued",
            "gauge",
            "Runs waiting: requested while the job ran, or for a max_job_running slot.",
        )
        yield f"karajo_runs_queued {_queued(jobs)}\n"
        yield from _help(
            "karajo_schedule_lateness_seconds",
            "gauge",
            "How late the last run started by the timer began after its scheduled time.",
        )
        for (kind, job_id), late in sorted(self.lateness.items()):
            labels = _labels(kind=kind, job=job_id)
            yield f"karajo_schedule_lateness_seconds{{{labels}}} {_number(late)}\n"

    def _notification_lines(self) -> Iterator[str]:
        yield from _help(
            "karajo_notifications_total",
            "counter",
            "E-mail notifications: sent, failed (given up) or dropped (outbox full).",
        )
        counts = getattr(self.server.notifier, "counts", {})
        for (notif, result), count in sorted(counts.items()):
            labels = _labels(notif=notif, result=result)
            yield f"karajo_notifications_total{{{labels}}} {count}\n"


def _queued(jobs: Iterable[Job]) -> int:
    queued = 0
    limiters = {}
    for job in jobs:
        queued += job.queued_requests
        limiters[id(job.limiter)] = job.limiter
    # Jobs past their queue, waiting for a max_job_running slot.
    return queued + sum(
        limiter.statistics().tasks_waiting for limiter in limiters.values()
    )


def _process_lines(start_time: float) -> Iterator[str]:
    """The usual process_* series, read from /proc/self."""
    try:
        stat = _self_stat()
        with open("/proc/self/statm") as file:
            rss_pages = int(file.read().split()[1])
        open_fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        return
    cpu = (int(stat[11]) + int(stat[12])) / _CLOCK_TICKS
    yield from _help("process_cpu_seconds_total", "counter", "User and system CPU.")
    yield f"process_cpu_seconds_total {_number(cpu)}\n"
    yield from _help("process_resident_memory_bytes", "gauge", "Resident memory.")
    yield f"process_resident_memory_bytes {rss_pages * _PAGE_SIZE}\n"
    yield from _help("process_open_fds", "gauge", "Open file descriptors.")
    yield f"process_open_fds {open_fds}\n"
    yield from _help(
        "process_start_time_seconds", "gauge", "Start of the process, Unix time."
    )
    yield f"process_start_time_seconds {_number(start_time)}\n"


def _self_stat() -> list[str]:
    """Fields of /proc/self/stat from the state on (field 3 of proc(5))."""
    with open("/proc/self/stat") as file:
        text = file.read()
    return text[text.rfind(")") + 2 :].split()


def _process_start_time() -> float:
    try:
        ticks = int(_self_stat()[19])
        with open("/proc/stat") as file:
            boot = next(
                int(line.split()[1]) for line in file if line.startswith("btime ")
            )
    except (OSError, StopIteration, IndexError, ValueError):
        return time.time()
    return boot + ticks / _CLOCK_TICKS


def _help(name: str, kind: str, text: str) -> Iterator[str]:
    yield f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


def _labels(**labels: str) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{int(value)}"


def metrics_view(server: Server) -> Callable[[], Awaitable[Response]]:
    """The view of GET /karajo/api/metrics, counting from now on.

    The Metrics object stays reachable as the view's `metrics` attribute.
    """
    metrics = Metrics(server)
    metrics.attach()

    async def view() -> Response:
        refused = needs_sign_in(server)
        if refused is not None:
            return refused
        body = metrics.render().encode()
        headers = {"Content-Type": CONTENT_TYPE}
        if len(body) >= _GZIP_MIN_SIZE and "gzip" in request.headers.get(
            "Accept-Encoding", ""
        ):
            # Level 1: most of the gain for a tenth of the time of level 9.
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        return Response(body, status=200, headers=headers)

    view.metrics = metrics  # type: ignore[attr-defined]
    return view
