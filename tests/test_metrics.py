"""GET /karajo/api/metrics scraped from the real server while real runs go."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import trio

from karajo.metrics import CONTENT_TYPE
from karajo.notifier import RetryPolicy
from tests.conftest import ConfigTree, RunningServer, trigger
from tests.mail_server import PASSWORD, USER, Certificate, MailServer, make_certificate

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def notif(name: str, url: str, password: str) -> str:
    return f"""\
    [notif "{name}"]
    kind = email
    smtp_server = {url}
    smtp_user = {USER}
    smtp_password = {password}
    smtp_insecure = true
    from = karajo@example.test
    to = ops@example.test
    """


JOBS = """\
    [job "good"]
    path = /good
    notif_on_success = mail
    command = true

    [job "bad"]
    path = /bad
    notif_on_failed = wrong
    command = false

    [job "slow"]
    path = /slow
    command = sleep 30

    [job "tick"]
    interval = 1h
    command = true
    """


PLAIN_JOB = """\
    [job "plain"]
    path = /plain
    command = true
    """


def parse(text: str) -> Samples:
    """Samples of the text format, checking each family was declared first."""
    declared: set[str] = set()
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            declared.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in declared or family in declared, f"no TYPE for {name}"
        pairs = frozenset(_LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(running: RunningServer) -> Samples:
    response = await running.client.get("/karajo/api/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return parse(response.text)


async def scrape_until(running: RunningServer, name: str, **labels: str) -> Samples:
    with trio.fail_after(15):
        while True:
            samples = await scrape(running)
            if value(samples, name, **labels) is not None:
                return samples
            await trio.sleep(0.02)


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    certificate: Certificate = make_certificate(tmp_path)
    server = MailServer(certificate, "starttls")
    server.start()
    yield server
    server.stop()


async def test_counters_move_with_real_runs(
    tree: ConfigTree, start_server, mail_server: MailServer
):
    tree.write_main(
        notif("mail", mail_server.url, PASSWORD)
        + notif("wrong", mail_server.url, "not-the-password")
        + JOBS,
        karajo="max_job_running = 10\n",
    )
    running = await start_server()
    running.server.notifier.retry = RetryPolicy(attempts=1)
    # The interval job's first run is due at start: a timer run.
    before = await scrape_until(
        running, "karajo_schedule_lateness_seconds", kind="job", job="tick"
    )
    assert (
        value(before, "karajo_runs_total", kind="job", job="good", status="success")
        is None
    )
    assert value(before, "karajo_jobs", kind="job") == 4
    assert (
        0
        <= value(before, "karajo_schedule_lateness_seconds", kind="job", job="tick")
        < 5
    )

    for counter in (1, 2):
        await trigger(running, "/good")
        await running.wait_for_log("good", ".success", count=counter)
    await trigger(running, "/bad")
    await running.wait_for_log("bad", ".failed")
    await trigger(running, "/slow")
    await running.wait_for_log("slow", ".running")
    # A second request while the first run goes is queued behind it.
    await trigger(running, "/slow")

    after = await scrape_until(
        running, "karajo_notifications_total", notif="wrong", result="failed"
    )
    assert (
        value(after, "karajo_runs_total", kind="job", job="good", status="success") == 2
    )
    assert (
        value(after, "karajo_runs_total", kind="job", job="bad", status="failed") == 1
    )
    assert (
        value(after, "karajo_runs_total", kind="job", job="slow", status="success")
        is None
    )
    assert value(after, "karajo_runs_running") == 1
    assert value(after, "karajo_runs_queued") == 1

    count = value(after, "karajo_run_duration_seconds_count", kind="job", job="good")
    assert count == 2
    assert (
        0 < value(after, "karajo_run_duration_seconds_sum", kind="job", job="good") < 10
    )
    buckets = [
        sample
        for (name, labels), sample in after.items()
        if name == "karajo_run_duration_seconds_bucket" and ("job", "good") in labels
    ]
    assert buckets == sorted(buckets) and buckets[-1] == count
    assert (
        value(
            after,
            "karajo_run_duration_seconds_bucket",
            kind="job",
            job="good",
            le="+Inf",
        )
        == 2
    )

    with trio.fail_after(15):
        while (
            value(after, "karajo_notifications_total", notif="mail", result="sent") != 2
        ):
            await trio.sleep(0.02)
            after = await scrape(running)
    assert len(mail_server.envelopes) == 2
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert value(after, "process_cpu_seconds_total") > 0


async def test_metrics_need_a_session_when_users_exist(tree: ConfigTree, start_server):
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    tree.write_main(PLAIN_JOB)
    tree.write("user.conf", f'[user "ana"]\npassword = {hashed}\n')
    running = await start_server()

    refused = await running.client.get("/karajo/api/metrics")
    assert refused.status_code == 401
    assert refused.json()["name"] == "ERR_AUTH_REQUIRED"

    login = await running.client.post(
        "/karajo/api/auth/login", data={"name": "ana", "password": "secret"}
    )
    assert login.status_code == 200
    samples = await scrape(running)
    assert value(samples, "karajo_jobs", kind="job") == 1


async def test_large_answers_are_compressed(tree: ConfigTree, start_server):
    tree.write_main(PLAIN_JOB)
    running = await start_server()
    response = await running.client.get(
        "/karajo/api/metrics", headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert "karajo_build_info" in response.text
