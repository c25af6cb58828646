"""Server push: job changes fan out without blocking, slow readers resync."""

from __future__ import annotations

import json

import pytest
import trio

from karajo.events import (
    KEEPALIVE_SECONDS,
    EventHub,
    LogFollower,
    SessionInfo,
    has_run_log,
)
from karajo.server import Server

JOBS = """\
    [job "Build"]
    description = <b>builds</b><script>alert(1)</script>
    path = /build
    command = echo built

    [job "Other"]
    command = true
    """
SESSION = SessionInfo(user=None, users_exist=False)


@pytest.fixture
def server(tree) -> Server:
    tree.write_main(JOBS)
    server = Server(tree.load())
    server.prepare()
    return server


def parse(message: bytes) -> tuple[str, dict]:
    """The name and JSON data of one encoded Server-Sent Event."""
    fields = dict(
        line.split(": ", 1)
        for line in message.decode().splitlines()
        if line and not line.startswith(("retry:", ":"))
    )
    return fields["event"], json.loads(fields["data"])


async def test_hub_sends_snapshot_then_each_change(server):
    hub = EventHub(server)
    stream = hub.stream(SESSION, lambda: True)

    name, snapshot = parse(await anext(stream))
    server.jobs["build"].pause()
    event, job = parse(await anext(stream))

    assert name == "snapshot"
    assert [job["id"] for job in snapshot["jobs"]] == ["build", "other"]
    assert snapshot["session"] == {
        "user": None,
        "users_exist": False,
        "csrf_token": "",
    }
    assert (event, job["id"], job["status"], job["kind"]) == (
        "job",
        "build",
        "paused",
        "job",
    )
    await stream.aclose()
    assert hub.subscriber_count == 0


def test_job_view_sanitizes_description(server):
    view = EventHub(server).job_view(server.jobs["build"])

    assert view["description_html"] == "<b>builds</b>"
    assert view["description"].endswith("<script>alert(1)</script>")


async def test_full_queue_drops_events_and_resyncs(server):
    hub = EventHub(server, queue_size=2)
    stream = hub.stream(SESSION, lambda: True)
    await anext(stream)
    job = server.jobs["build"]

    # Nobody reads meanwhile: the job goes on, never waiting.
    for _ in range(50):
        job.pause()
        job.resume()
    after_overflow = parse(await anext(stream))[0]
    job.pause()
    after_resync = parse(await anext(stream))

    assert after_overflow == "snapshot"
    assert after_resync[0] == "job"
    assert after_resync[1]["status"] == "paused"
    await stream.aclose()


async def test_resync_snapshot_replaces_dropped_events(server):
    hub = EventHub(server, queue_size=1)
    stream = hub.stream(SESSION, lambda: True)
    await anext(stream)

    server.jobs["build"].pause()
    server.jobs["other"].pause()
    name, snapshot = parse(await anext(stream))

    assert name == "snapshot"
    assert {job["id"]: job["status"] for job in snapshot["jobs"]} == {
        "build": "paused",
        "other": "paused",
    }
    await stream.aclose()


async def test_close_ends_every_stream(server):
    hub = EventHub(server)
    stream = hub.stream(SESSION, lambda: True)
    await anext(stream)

    hub.close()

    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert hub.subscriber_count == 0


async def test_stream_ends_when_session_does(server, autojump_clock):
    hub = EventHub(server)
    stream = hub.stream(SESSION, lambda: False)
    await anext(stream)

    started = trio.current_time()
    name, _ = parse(await anext(stream))

    assert name == "signed-out"
    assert trio.current_time() - started == pytest.approx(KEEPALIVE_SECONDS)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_keepalive_while_nothing_changes(server, autojump_clock):
    stream = EventHub(server).stream(SESSION, lambda: True)
    await anext(stream)

    assert await anext(stream) == b": keep-alive\n\n"
    await stream.aclose()


def test_hub_is_full_at_its_limit(server):
    hub = EventHub(server, max_subscribers=1)
    hub.subscribe()

    assert hub.is_full


async def test_log_follower_streams_finished_log_as_text(server):
    job = server.jobs["build"]
    run_log = job.log_dir.open_run(1)
    run_log.line("<b>not html</b> é")
    await job.log_dir.finish_run(run_log, "success")

    events = [parse(message) async for message in LogFollower(job, 1).stream()]

    assert events[0] == (
        "meta",
        {
            "kind": "job",
            "job_id": "build",
            "name": "Build",
            "counter": 1,
            "status": "success",
        },
    )
    text = "".join(data for name, data in events if name == "chunk")
    assert text.endswith("job: build: <b>not html</b> é\n")
    assert events[-1] == ("end", {"status": "success"})


async def test_has_run_log_only_for_existing_runs(server):
    job = server.jobs["build"]

    assert not has_run_log(job, 1)
    run_log = job.log_dir.open_run(1)
    await job.log_dir.finish_run(run_log, "failed")
    assert has_run_log(job, 1)


async def test_reload_sends_snapshot_with_new_job_list(tree, start_server):
    tree.write_main(JOBS)
    running = await start_server()
    hub = EventHub(running.server)
    stream = hub.stream(SESSION, lambda: True)
    await anext(stream)

    tree.write_main(JOBS.replace('[job "Other"]', '[job "Added"]'))
    assert running.server.reload()
    with trio.fail_after(10):
        name, snapshot = parse(await anext(stream))
        while name != "snapshot":
            name, snapshot = parse(await anext(stream))

    assert [job["id"] for job in snapshot["jobs"]] == ["build", "added"]
    running.server.jobs["added"].pause()
    with trio.fail_after(10):
        event = parse(await anext(stream))
        while event[1].get("status") != "paused":
            event = parse(await anext(stream))
    assert event[1]["id"] == "added"
    await stream.aclose()
