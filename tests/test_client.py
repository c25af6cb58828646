"""karajo.client against the real server on loopback, every endpoint of the API.

The client is synchronous; it runs in a worker thread so that the server,
in this test's trio loop, keeps answering.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import bcrypt
import pytest
import trio

from karajo.client import Client, KarajoClientError
from tests.conftest import SECRET, free_port
from tests.http_target import Target, serve_target

JOBS = """\
[job "Deploy site"]
path = /deploy
secret = deploy-secret
command = echo deployed

[job "slow"]
command = sleep 30

[job.http "Ping self"]
http_url = /karajo/api/environment

[job.http "Both"]
http_url = /karajo/api/environment

[job "Both"]
command = true
"""


async def call(function: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(partial(function, *args))


async def failure(function: Callable[..., Any], *args: Any) -> KarajoClientError:
    with pytest.raises(KarajoClientError) as caught:
        await call(function, *args)
    return caught.value


@pytest.fixture
async def karajo(tree, start_server):
    """A started server with JOBS and a client holding the global secret."""
    tree.write_main(JOBS)
    running = await start_server()
    client = Client(running.url, SECRET, timeout=10)
    yield client
    client.close()


async def wait_for_status(client: Client, kind: str, job_id: str, status: str) -> None:
    with trio.fail_after(10):
        while True:
            environment = await call(client.environment)
            jobs = environment["jobs" if kind == "job" else "http_jobs"].values()
            if {job["id"]: job for job in jobs}[job_id]["status"] == status:
                return
            await trio.sleep(0.02)


async def test_environment_has_both_kinds(karajo):
    environment = await call(karajo.environment)

    assert set(environment["jobs"]) == {"Deploy site", "slow", "Both"}
    assert set(environment["http_jobs"]) == {"Ping self", "Both"}
    assert (
        environment["http_jobs"]["Ping self"]["http_url"] == "/karajo/api/environment"
    )


async def test_exec_run_by_id_then_log_is_decoded(karajo):
    job = await call(karajo.job_exec_run, "deploy_site")
    await wait_for_status(karajo, "job", "deploy_site", "success")

    log = await call(karajo.job_exec_log, "deploy_site", 1)

    assert job["id"] == "deploy_site"
    assert (log.job_id, log.name, log.status, log.counter) == (
        "deploy_site",
        "deploy_site.1.success",
        "success",
        1,
    )
    assert "job: deploy_site: deployed\n" in log.text


async def test_http_run_by_id_then_log_is_decoded(karajo):
    await call(karajo.job_http_run, "ping_self")
    await wait_for_status(karajo, "job_http", "ping_self", "success")

    log = await call(karajo.job_http_log, "ping_self", 1)
    job = await call(karajo.job_http, "ping_self")

    assert "job_http: ping_self: GET /karajo/api/environment?_karajo_epoch=" in log.text
    assert log.text.endswith(
        "job_http: ping_self: === job_http: ping_self: finished.\n"
    )
    assert job["logs"] == [
        {
            "job_id": "ping_self",
            "name": "ping_self.1.success",
            "status": "success",
            "counter": 1,
        }
    ]


async def test_webhook_signs_body_with_job_secret(karajo):
    job = await call(partial(karajo.webhook, "/deploy", secret="deploy-secret"))

    assert job["id"] == "deploy_site"
    await wait_for_status(karajo, "job", "deploy_site", "success")


@pytest.mark.parametrize(
    ("kind", "job_id", "resumed"), [("exec", "both", ""), ("http", "both", "started")]
)
async def test_pause_refuses_run_and_resume_restores(karajo, kind, job_id, resumed):
    prefix = "job_exec" if kind == "exec" else "job_http"

    paused = await call(getattr(karajo, f"{prefix}_pause"), job_id)
    refused = await failure(getattr(karajo, f"{prefix}_run"), job_id)
    again = await call(getattr(karajo, f"{prefix}_resume"), job_id)

    assert paused["status"] == "paused"
    assert (refused.code, refused.name) == (412, "ERR_JOB_PAUSED")
    assert again["status"] == resumed


async def test_cancel_ends_exec_run_and_second_cancel_fails(karajo):
    await call(karajo.job_exec_run, "slow")
    await wait_for_status(karajo, "job", "slow", "running")

    await call(karajo.job_exec_cancel, "slow")
    await wait_for_status(karajo, "job", "slow", "canceled")
    error = await failure(karajo.job_exec_cancel, "slow")

    assert (error.code, error.name) == (412, "ERR_JOB_NOT_RUNNING")


async def test_cancel_ends_http_run_waiting_for_answer(tree, nursery, start_server):
    target = await serve_target(nursery, Target(hang=True))
    tree.write_main(f'[job.http "wait"]\nhttp_url = {target.url}/\n')
    running = await start_server()
    client = Client(running.url, SECRET)

    await call(client.job_http_run, "wait")
    await wait_for_status(client, "job_http", "wait", "running")
    await call(client.job_http_cancel, "wait")
    await wait_for_status(client, "job_http", "wait", "canceled")
    log = await call(client.job_http_log, "wait", 1)
    client.close()

    assert "??? CANCELED (canceled by request)" in log.text


async def test_second_queued_run_gets_429(karajo):
    await call(karajo.job_exec_run, "slow")
    await wait_for_status(karajo, "job", "slow", "running")
    await call(karajo.job_exec_run, "slow")

    error = await failure(karajo.job_exec_run, "slow")

    assert (error.code, error.name) == (429, "ERR_JOB_ALREADY_RUN")
    await call(karajo.job_exec_cancel, "slow")


@pytest.mark.parametrize(
    ("method", "args", "code", "name"),
    [
        ("job_exec_run", ("nope",), 404, "ERR_JOB_NOT_FOUND"),
        ("job_exec_pause", ("nope",), 404, "ERR_JOB_NOT_FOUND"),
        ("job_http", ("nope",), 400, "ERR_INVALID_JOB_ID"),
        ("job_http_run", ("nope",), 400, "ERR_INVALID_JOB_ID"),
        ("job_http_resume", ("nope",), 400, "ERR_INVALID_JOB_ID"),
        ("job_http_log", ("nope", 1), 400, "ERR_INVALID_JOB_ID"),
        ("job_http_log", ("ping_self", 7), 404, "ERR_JOB_LOG_NOT_FOUND"),
        ("job_exec_log", ("slow", 7), 404, "ERR_JOB_LOG_NOT_FOUND"),
        ("job_http_cancel", ("ping_self",), 412, "ERR_JOB_NOT_RUNNING"),
    ],
)
async def test_errors_carry_server_code_and_name(karajo, method, args, code, name):
    error = await failure(getattr(karajo, method), *args)

    assert (error.code, error.name) == (code, name)
    assert error.message and str(error).endswith(f"({code} {name})")


@pytest.mark.parametrize("method", ["job_exec_pause", "job_http_pause"])
async def test_wrong_secret_gets_401(karajo, method):
    client = Client(karajo.server_url, "wrong")

    error = await failure(getattr(client, method), "both")
    client.close()

    assert (error.code, error.message) == (401, "empty or invalid signature")


async def test_login_keeps_session_cookie(tree, start_server):
    tree.write_main(JOBS)
    hashed = bcrypt.hashpw(b"secret pw", bcrypt.gensalt(rounds=4)).decode()
    tree.write("user.conf", f'[user "ana"]\npassword = {hashed}\n')
    running = await start_server()
    client = Client(running.url, SECRET)

    anonymous = await failure(client.environment)
    await call(client.login, "ana", "secret pw")
    environment = await call(client.environment)
    # Last: the server may throttle sign-ins after a failed one.
    wrong = await failure(client.login, "ana", "nope")
    client.close()

    assert anonymous.code == 401
    assert (wrong.code, wrong.name) == (400, "ERR_AUTH_LOGIN")
    assert "Ping self" in environment["http_jobs"]


async def test_unreachable_server_gives_code_zero():
    client = Client(f"http://127.0.0.1:{free_port()}", SECRET)

    error = await failure(client.environment)
    client.close()

    assert (error.code, error.name) == (0, "ERR_CONNECTION")
    assert "Connection refused" in error.message


def test_signed_call_without_secret_is_misuse():
    client = Client("http://127.0.0.1:9")

    with pytest.raises(ValueError, match="secret"):
        client.job_exec_pause("x")
    client.close()
