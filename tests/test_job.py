"""Timers, queueing and the global run limit, on trio's fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio
import trio.testing

from karajo.config import Environment, JobConfig, KarajoConfig
from karajo.duration import MINUTE
from karajo.job import FinishedRun, JobBusyError, JobPausedError, StartRequest
from karajo.job_exec import ExecJob

START = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


def fake_now() -> datetime:
    return START + timedelta(seconds=trio.current_time())


def make_jobs(tmp_path, *configs: JobConfig, max_job_running: int = 1) -> list[ExecJob]:
    env = Environment(
        karajo=KarajoConfig(
            dir_base=str(tmp_path), secret="s", max_job_running=max_job_running
        )
    )
    for config in configs:
        env.jobs[config.name] = config
    env.validate()
    jobs = [ExecJob(config, env, clock=fake_now) for config in env.jobs.values()]
    for job in jobs:
        job.recover()
        # fsync runs in a worker thread, which a fake clock cannot wait for.
        job.log_dir.is_durable = False
    return jobs


def recorder(starts: list[datetime], seconds: float = 0):
    async def work(run_log) -> None:
        starts.append(fake_now())
        await trio.sleep(seconds)

    return work


async def run_for(
    jobs: list[ExecJob], seconds: float, limit: int = 1
) -> list[FinishedRun]:
    send, receive = trio.open_memory_channel[FinishedRun](100)
    limiter = trio.Semaphore(limit)
    async with trio.open_nursery() as nursery:
        for job in jobs:
            nursery.start_soon(job.run_forever, limiter, send)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    send.close()
    return [run async for run in receive]


async def test_interval_job_runs_at_start_then_every_interval(tmp_path, autojump_clock):
    starts: list[datetime] = []
    [job] = make_jobs(
        tmp_path, JobConfig(name="i", interval=MINUTE, call=recorder(starts))
    )

    await run_for([job], 200)

    assert [round((s - START).total_seconds(), 3) for s in starts] == [0, 60, 120, 180]


async def test_schedule_job_runs_on_the_minute(tmp_path, autojump_clock):
    starts: list[datetime] = []
    [job] = make_jobs(
        tmp_path, JobConfig(name="m", schedule="minutely", call=recorder(starts))
    )

    await run_for([job], 140)

    # 00:00:30 + 30 s is 00:01:00, the first whole minute.
    assert [round((s - START).total_seconds(), 3) for s in starts] == [30, 90]


async def test_webhook_only_job_waits_for_requests(tmp_path, autojump_clock):
    starts: list[datetime] = []
    [job] = make_jobs(tmp_path, JobConfig(name="w", path="/w", call=recorder(starts)))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, [job], 100)
        await trio.sleep(50)
        job.request_run(StartRequest("webhook", b""))

    assert len(starts) == 1
    assert job.next_run is None


async def test_global_limit_runs_one_job_at_a_time(tmp_path, autojump_clock):
    starts: list[datetime] = []
    jobs = make_jobs(
        tmp_path,
        JobConfig(name="a", path="/a", call=recorder(starts, 10)),
        JobConfig(name="b", path="/b", call=recorder(starts, 10)),
    )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, jobs, 60)
        await trio.sleep(1)
        for job in jobs:
            job.request_run(StartRequest("webhook", b""))

    assert (starts[1] - starts[0]).total_seconds() == pytest.approx(10, abs=0.1)


async def test_second_queued_request_is_refused(tmp_path, autojump_clock):
    starts: list[datetime] = []
    [job] = make_jobs(
        tmp_path, JobConfig(name="q", path="/q", call=recorder(starts, 30))
    )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, [job], 100)
        await trio.sleep(1)
        job.request_run(StartRequest("webhook", b""))
        await trio.sleep(1)
        job.request_run(StartRequest("webhook", b""))
        with pytest.raises(JobBusyError):
            job.request_run(StartRequest("webhook", b""))

    assert len(starts) == 2


async def test_paused_job_refuses_requests(tmp_path, autojump_clock):
    [job] = make_jobs(tmp_path, JobConfig(name="p", path="/p", call=recorder([])))

    job.pause()

    with pytest.raises(JobPausedError):
        job.request_run(StartRequest("webhook", b""))
    job.resume()
    assert job.status == ""


async def test_interval_restarts_after_webhook_run(tmp_path, autojump_clock):
    starts: list[datetime] = []
    [job] = make_jobs(
        tmp_path, JobConfig(name="r", interval=MINUTE, path="/r", call=recorder(starts))
    )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for, [job], 100)
        await trio.sleep(30)
        job.request_run(StartRequest("webhook", b""))

    offsets = [round((s - START).total_seconds()) for s in starts]
    assert offsets == [0, 30, 90]


async def test_a_far_timer_wakes_early_once_then_on_time(autojump_clock):
    # Linux may end a wait of T seconds T/1000 late: far deadlines are
    # approached in two steps, the last one short.
    from karajo.job import _TIMER_LEAD, _wake_times

    now = trio.current_time()
    assert _wake_times(now + 60) == (now + 60 - _TIMER_LEAD, now + 60)
    assert _wake_times(now + _TIMER_LEAD / 2) == (now + _TIMER_LEAD / 2,)
    assert _wake_times(float("inf")) == (float("inf"), float("inf"))


async def test_stopped_is_set_for_waiters_before_and_after_the_end(
    tmp_path, autojump_clock
):
    first, second = make_jobs(
        tmp_path,
        JobConfig(name="a", interval=MINUTE, call=recorder([])),
        JobConfig(name="b", interval=MINUTE, call=recorder([])),
    )
    send, _ = trio.open_memory_channel[FinishedRun](10)
    async with trio.open_nursery() as nursery:
        for job in (first, second):
            nursery.start_soon(job.run_forever, trio.Semaphore(2), send)
        await trio.sleep(1)
        waiting = first.stopped  # asked for while the job still runs
        first.stop_accepting()
        second.stop_accepting()
        with trio.fail_after(5):
            await waiting.wait()
        await trio.sleep(1)
    assert second.stopped.is_set()  # first asked for after the end
