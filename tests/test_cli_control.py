"""`karajo jobs|run|pause|resume|cancel|log` as child processes on a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import bcrypt
import pytest
import trio

from tests.conftest import SECRET, free_port

JOBS = """\
[job "Deploy site"]
path = /deploy
command = echo deployed

[job "slow"]
command = sleep 30

[job.http "Ping self"]
http_url = /karajo/api/environment
schedule = daily@06:00

[job.http "Both"]
http_url = /karajo/api/environment

[job "Both"]
command = true
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


async def karajo(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `python -m karajo ARGS` with a clean environment."""
    environment = {"PATH": os.environ["PATH"], **(env or {})}
    done = await trio.run_process(
        [sys.executable, "-m", "karajo", *args],
        capture_stdout=True,
        capture_stderr=True,
        check=False,
        env=environment,
        stdin=subprocess.DEVNULL,
    )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture
async def running(tree, start_server):
    tree.write_main(JOBS)
    return await start_server()


async def test_jobs_prints_table_of_both_kinds(running):
    result = await karajo("jobs", "--server", running.url)

    lines = result.out.splitlines()
    assert result.code == 0, result.err
    assert re.fullmatch(r"NAME +KIND +STATUS +LAST RUN +NEXT RUN", lines[0])
    assert re.fullmatch(r"Both +exec +started +- +-", lines[1])
    assert re.fullmatch(r"Deploy site +exec +started +- +-", lines[2])
    assert re.fullmatch(
        r"Ping self +http +started +- +\d{4}-\d\d-\d\d 06:00:00 UTC", lines[5]
    )
    assert len(lines) == 6


async def test_run_then_log_prints_decoded_text(running):
    ran = await karajo(
        "run", "Deploy site", "--server", running.url, env={"KARAJO_SECRET": SECRET}
    )
    await running.wait_for_log("deploy_site", ".success")
    log = await karajo("log", "deploy_site", "--server", running.url)
    first = await karajo("log", "Deploy site", "1", "--server", running.url)

    assert ran.code == 0, ran.err
    assert (
        ran.out
        == 'exec job "Deploy site" (id deploy_site): run queued; status started\n'
    )
    assert log.code == 0, log.err
    assert "UTC job: deploy_site: deployed\n" in log.out
    assert log.out.endswith("job: deploy_site: === job: deploy_site: finished.\n")
    assert first.out == log.out


async def test_http_job_run_and_log(running):
    ran = await karajo("run", "ping_self", "--server", running.url, "--secret", SECRET)
    with trio.fail_after(10):
        while not running.tree.logs("ping_self", "job_http"):
            await trio.sleep(0.02)
        while running.server.http_jobs["ping_self"].status != "success":
            await trio.sleep(0.02)
    log = await karajo("log", "Ping self", "--server", running.url)

    assert ran.out.startswith('HTTP job "Ping self" (id ping_self): run queued')
    assert "--- HTTP response:" in log.out and "=== DONE" in log.out


async def test_ambiguous_name_needs_kind(running):
    secret = {"KARAJO_SECRET": SECRET}

    ambiguous = await karajo("pause", "Both", "--server", running.url, env=secret)
    exact = await karajo(
        "pause", "Both", "--kind", "http", "--server", running.url, env=secret
    )
    resumed = await karajo(
        "resume", "both", "--kind", "http", "--server", running.url, env=secret
    )

    assert ambiguous.code == 1
    assert ambiguous.err == (
        "karajo: 'Both' is ambiguous: it fits the exec job \"Both\" (id both) and "
        'the HTTP job "Both" (id both); add --kind exec or --kind http\n'
    )
    assert exact.out == 'HTTP job "Both" (id both): paused; status paused\n'
    assert resumed.out == 'HTTP job "Both" (id both): resumed; status started\n'
    assert running.server.jobs["both"].status == "started"


async def test_cancel_running_exec_job(running):
    secret = {"KARAJO_SECRET": SECRET}
    await karajo("run", "slow", "--server", running.url, env=secret)
    await running.wait_for_log("slow", ".running")

    canceled = await karajo("cancel", "slow", "--server", running.url, env=secret)
    await running.wait_for_log("slow", ".canceled")
    again = await karajo("cancel", "slow", "--server", running.url, env=secret)

    assert canceled.code == 0, canceled.err
    assert again.code == 1
    assert again.err == "karajo: job slow is not running (412 ERR_JOB_NOT_RUNNING)\n"


async def test_config_file_gives_server_and_secret(running, tmp_path):
    host_port = running.url.removeprefix("http://")
    config = tmp_path / "client.conf"
    config.write_text(f"[karajo]\nlisten_address = {host_port}\nsecret = {SECRET}\n")

    paused = await karajo("-config", str(config), "pause", "slow")
    resumed = await karajo("resume", "slow", "-config", str(config))

    assert paused.code == 0, paused.err
    assert paused.out == 'exec job "slow" (id slow): paused; status paused\n'
    # The original clears an exec job's status on resume.
    assert resumed.out == 'exec job "slow" (id slow): resumed; status -\n'


async def test_errors_print_server_message_and_exit_non_zero(running):
    wrong = await karajo("run", "slow", "--server", running.url, "--secret", "bad")
    unknown = await karajo("log", "nothing", "--server", running.url)
    no_log = await karajo("log", "slow", "--server", running.url)
    no_secret = await karajo("run", "slow", "--server", running.url)

    assert (wrong.code, wrong.err) == (
        1,
        "karajo: empty or invalid signature (401 ERR_INVALID_SIGNATURE)\n",
    )
    assert unknown.code == 1 and "no job has the name or ID 'nothing'" in unknown.err
    assert no_log.code == 1 and "has no log yet" in no_log.err
    assert no_secret.code == 2 and "KARAJO_SECRET" in no_secret.err


async def test_unreachable_server_exits_non_zero():
    result = await karajo("jobs", "--server", f"http://127.0.0.1:{free_port()}")

    assert result.code == 1
    assert "no answer from http://127.0.0.1:" in result.err
    assert "(0 ERR_CONNECTION)" in result.err


async def test_user_signs_in_with_password_from_environment(tree, start_server):
    tree.write_main(JOBS)
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    tree.write("user.conf", f'[user "ana"]\npassword = {hashed}\n')
    running = await start_server()

    anonymous = await karajo("jobs", "--server", running.url)
    signed_in = await karajo(
        "jobs", "--server", running.url, "--user", "ana", env={"KARAJO_PASSWORD": "pw"}
    )

    assert anonymous.code == 1 and "(401 ERR_AUTH_REQUIRED)" in anonymous.err
    assert signed_in.code == 0 and "Deploy site" in signed_in.out
