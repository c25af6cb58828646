"""HTTP jobs against real HTTP servers on loopback that record what arrives."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import trio

from karajo.job import FinishedRun, StartRequest
from karajo.job_http import RESPONSE_LOG_LIMIT, HttpJob
from tests.conftest import SECRET, free_port, sign
from tests.http_target import Received, Target, serve_target, tls_context

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC job_http: \w+: ", re.MULTILINE)


def plain(text: str) -> str:
    return STAMP.sub("", text)


# Running one HTTP job without the whole server.

RunJob = Callable[..., Awaitable[tuple[FinishedRun, str]]]


@pytest.fixture
def run_http_job(tree, nursery) -> RunJob:
    async def run(section: str, name: str = "h") -> tuple[FinishedRun, str]:
        tree.write_main(section)
        env = tree.load()
        job = HttpJob(env.http_jobs[name], env)
        job.recover()
        send, receive = trio.open_memory_channel[FinishedRun](10)
        nursery.start_soon(job.run_forever, trio.Semaphore(1), send)
        job.request_run(StartRequest("test"))
        with trio.fail_after(10):
            finished = await receive.receive()
        return finished, plain(finished.log_path.read_text())

    return run


def http_section(url: str, extra: str = "", name: str = "h") -> str:
    return f'[job.http "{name}"]\nhttp_url = {url}\n{extra}\n'


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
@pytest.mark.parametrize("request_type", ["query", "form", "json"])
async def test_request_carries_epoch_headers_and_signature(
    nursery, run_http_job, method, request_type
):
    target = await serve_target(nursery, Target())
    extra = (
        f"http_method = {method}\nhttp_request_type = {request_type}\n"
        "secret = job-secret\nheader_sign = X-Sign\n"
        "http_header = X-Extra: one two\nhttp_header = Authorization: Bearer tok\n"
    )
    before = int(time.time())

    run, _ = await run_http_job(http_section(target.url + "/hook/x", extra))

    assert run.status == "success"
    [got] = target.received
    in_body = request_type != "query" and method in ("POST", "PUT")
    signed = got.body if in_body else got.query.encode()
    assert (got.method, got.path) == (method, "/hook/x")
    assert got.headers["x-sign"] == sign(signed, "job-secret")
    assert got.headers["x-extra"] == "one two"
    assert got.headers["authorization"] == "Bearer tok"
    if in_body:
        assert got.query == ""
        epoch = _epoch_in_body(request_type, got)
    else:
        assert got.body == b"" and "content-type" not in got.headers
        epoch = int(parse_qs(got.query)["_karajo_epoch"][0])
    assert before <= epoch <= time.time()


def _epoch_in_body(request_type: str, got: Received) -> int:
    if request_type == "json":
        assert got.headers["content-type"] == "application/json"
        assert re.fullmatch(rb'\{"_karajo_epoch":\d+\}', got.body)
        return json.loads(got.body)["_karajo_epoch"]
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert re.fullmatch(rb"_karajo_epoch=\d+", got.body)
    return int(got.body.split(b"=")[1])


async def test_url_query_is_kept_and_signed_whole(nursery, run_http_job):
    target = await serve_target(nursery, Target())

    await run_http_job(http_section(target.url + "/p?a=1&b=x%20y"))

    [got] = target.received
    assert re.fullmatch(r"a=1&b=x%20y&_karajo_epoch=\d+", got.query)
    assert got.headers["x-karajo-sign"] == sign(got.query)


async def test_log_shows_request_and_response_with_credentials_masked(
    nursery, run_http_job
):
    target = await serve_target(
        nursery,
        Target(headers=[("Set-Cookie", "sid=abc"), ("X-Served-By", "recorder")]),
    )
    extra = (
        "http_method = POST\nhttp_request_type = json\n"
        "http_header = Authorization: Bearer tok\nhttp_header = X-Api-Token: t0k\n"
        "http_header = X-Private-Key: k3y\nhttp_header = Cookie: c=1\n"
        "http_header = X-Plain: visible\n"
    )

    run, text = await run_http_job(http_section(target.url + "/in", extra))

    assert run.status == "success"
    for secret in ("Bearer tok", "t0k", "k3y", "c=1", "sid=abc", SECRET):
        assert secret not in text
    assert re.search(r"^X-Karajo-Sign: \*\*\*$", text, re.MULTILINE)
    assert (
        "Authorization: ***\nX-Api-Token: ***\nX-Private-Key: ***\nCookie: ***\n"
        in text
    )
    assert "X-Plain: visible\n" in text
    assert "--- HTTP request:\nPOST /in HTTP/1.1\n" in text
    assert re.search(r'\n\{"_karajo_epoch":\d+\}\n', text)
    assert "--- HTTP response:\nHTTP/1.1 200 OK\nContent-Length: 5\n" in text
    assert "Set-Cookie: ***\nX-Served-By: recorder\n\npong\n=== DONE\n" in text
    assert text.endswith("=== job_http: h: finished.\n")


async def test_long_response_body_is_cut_with_note(nursery, run_http_job):
    body = b"x" * (RESPONSE_LOG_LIMIT + 1000)
    target = await serve_target(nursery, Target(body=body))

    run, text = await run_http_job(http_section(target.url + "/big"))

    assert run.status == "success"
    assert "x" * RESPONSE_LOG_LIMIT + "\n[... 1000 bytes of the body left out; " in text
    assert f"the log keeps the first {RESPONSE_LOG_LIMIT} ...]" in text


def test_timeout_zero_takes_global_and_negative_means_none(tree):
    tree.write_main(
        http_section("http://x/", "http_timeout = 0", "zero")
        + http_section("http://x/", "http_timeout = -1s", "none")
        + http_section("http://x/", "http_timeout = 2s", "own"),
        karajo="http_timeout = 7s\n",
    )
    env = tree.load()
    jobs = {name: HttpJob(config, env) for name, config in env.http_jobs.items()}

    assert jobs["zero"].timeout == 7 * 10**9
    assert jobs["none"].timeout is None
    assert jobs["own"].timeout == 2 * 10**9
    assert jobs["none"].to_json()["http_timeout"] == 0


# Failing targets, through the whole server, which keeps going.


async def run_through_api(running, job_id: str) -> str:
    """Run an HTTP job by the API and return its newest log as plain text."""
    done_before = len(_finished_logs(running.tree, job_id))
    query = f"_karajo_epoch={int(time.time())}&id={job_id}"
    response = await running.client.post(
        f"/karajo/api/job_http/run?{query}", headers={"X-Karajo-Sign": sign(query)}
    )
    assert response.status_code == 200, response.text
    with trio.fail_after(10):
        while len(_finished_logs(running.tree, job_id)) == done_before:
            await trio.sleep(0.02)
    newest = _finished_logs(running.tree, job_id)[-1]
    return newest.name.rsplit(".", 1)[1] + "\n" + plain(newest.read_text())


def _finished_logs(tree, job_id: str) -> list[Path]:
    directory = tree.log_dir(job_id, "job_http")
    names = [name for name in tree.logs(job_id, "job_http") if "running" not in name]
    return [directory / name for name in names]


def _reason(text: str) -> str:
    [line] = [line for line in text.splitlines() if line.startswith("!!! ")]
    return line


async def test_answer_500_fails_with_status_in_reason(tree, nursery, start_server):
    target = await serve_target(nursery, Target(status=500, body=b"boom"))
    tree.write_main(http_section(target.url + "/x"))
    running = await start_server()

    text = await run_through_api(running, "h")

    assert text.startswith("failed\n")
    assert "HTTP/1.1 500 Internal Server Error\n" in text and "\nboom\n" in text
    assert _reason(text) == (
        "!!! job_http: h: the answer is 500 Internal Server Error, not 200 OK"
    )
    await _assert_server_keeps_going(running, "h", "failed")


async def test_silent_target_times_out(tree, nursery, start_server):
    target = await serve_target(nursery, Target(hang=True))
    tree.write_main(http_section(target.url + "/x", "http_timeout = 300ms"))
    running = await start_server()

    text = await run_through_api(running, "h")

    assert text.startswith("failed\n")
    host_port = target.url.removeprefix("http://")
    assert _reason(text) == (
        f"!!! job_http: h: no complete answer from {host_port} within 300ms "
        "(http_timeout)"
    )
    await _assert_server_keeps_going(running, "h", "failed")


async def test_refused_connection_fails_with_reason(tree, start_server):
    port = free_port()
    tree.write_main(http_section(f"http://127.0.0.1:{port}/x"))
    running = await start_server()

    text = await run_through_api(running, "h")

    assert text.startswith("failed\n")
    assert _reason(text) == (
        f"!!! job_http: h: cannot connect to 127.0.0.1:{port}: Connection refused"
    )
    await _assert_server_keeps_going(running, "h", "failed")


@pytest.mark.parametrize("insecure", [False, True])
async def test_self_signed_https_needs_insecure(
    tree, nursery, start_server, tmp_path, insecure
):
    target = await serve_target(nursery, Target(), tls=tls_context(tmp_path))
    tree.write_main(
        http_section(target.url + "/tls", f"http_insecure = {str(insecure).lower()}")
    )
    running = await start_server()

    text = await run_through_api(running, "h")

    if insecure:
        assert text.startswith("success\n") and "\npong\n" in text
        assert len(target.received) == 1
    else:
        assert text.startswith("failed\n")
        assert _reason(text) == (
            f"!!! job_http: h: TLS certificate of {target.url[8:]} refused: "
            "self-signed certificate; set http_insecure = true to accept any "
            "certificate"
        )
        assert target.received == []
    await _assert_server_keeps_going(running, "h", "success" if insecure else "failed")


async def _assert_server_keeps_going(running, job_id: str, status: str) -> None:
    response = await running.client.get("/karajo/api/job_http", params={"id": job_id})
    assert response.json()["data"]["status"] == status
    await run_through_api(running, job_id)
    assert len(_finished_logs(running.tree, job_id)) == 2


# Karajo's own address.

DEPLOY_JOB = """\
[job "Deploy"]
path = /deploy
secret = deploy-secret
command = "echo deployed with $(cat $KARAJO_WEBHOOK_BODY)"
"""


@pytest.mark.parametrize(
    ("auth", "header_sign"),
    [("hmac-sha256", "X-Karajo-Sign"), ("gitea", "X-Gitea-Signature")],
)
async def test_self_url_triggers_exec_job_on_same_server(
    tree, start_server, auth, header_sign
):
    tree.write_main(
        DEPLOY_JOB
        + f"auth_kind = {auth}\n"
        + http_section(
            "/karajo/api/job_exec/run/deploy",
            "http_method = POST\nhttp_request_type = json\n"
            f"secret = deploy-secret\nheader_sign = {header_sign}\n",
            "Trigger deploy",
        )
    )
    running = await start_server()

    text = await run_through_api(running, "trigger_deploy")
    [exec_log] = await running.wait_for_log("deploy", ".success")

    assert text.startswith("success\n")
    assert re.search(
        r"^POST /karajo/api/job_exec/run/deploy HTTP/1.1$", text, re.MULTILINE
    )
    assert '"id":"deploy"' in text
    exec_text = (tree.log_dir("deploy") / exec_log).read_text()
    assert re.search(r'deployed with \{"_karajo_epoch":\d+\}', exec_text)


async def test_self_url_pauses_other_http_job_signed_over_query(tree, start_server):
    tree.write_main(
        http_section("http://127.0.0.1:9/", name="victim")
        + http_section(
            "/karajo/api/job_http/pause?id=victim", "http_method = POST", "pauser"
        )
    )
    running = await start_server()

    text = await run_through_api(running, "pauser")

    assert text.startswith("success\n")
    assert running.server.http_jobs["victim"].status == "paused"


async def test_environment_lists_http_jobs_without_secrets(tree, start_server):
    tree.write_main(
        http_section(
            "https://127.0.0.1:9/x",
            "http_method = put\nhttp_header = X-Api-Key: k3y\nsecret = s3cret\n"
            "http_insecure = true\nhttp_timeout = 3s\n",
            "Ping",
        )
    )
    running = await start_server()

    response = await running.client.get("/karajo/api/environment")

    job = response.json()["data"]["http_jobs"]["Ping"]
    assert {k: job[k] for k in list(job) if k.startswith("http_")} == {
        "http_method": "PUT",
        "http_url": "https://127.0.0.1:9/x",
        "http_request_type": "query",
        "http_headers": ["X-Api-Key: ***"],
        "http_timeout": 3 * 10**9,
        "http_insecure": True,
    }
    assert job["id"] == "ping" and job["header_sign"] == "X-Karajo-Sign"
    assert "s3cret" not in response.text and "k3y" not in response.text


async def test_redirect_to_other_origin_drops_signature_and_extra_headers(
    nursery, run_http_job
):
    elsewhere = await serve_target(nursery, Target())
    home = await serve_target(
        nursery, Target(status=302, headers=[("Location", elsewhere.url + "/landing")])
    )

    run, text = await run_http_job(
        http_section(home.url + "/start", "http_header = X-Api-Token: t0ken\n")
    )

    assert run.status == "success"
    assert "x-karajo-sign" in home.received[0].headers
    assert home.received[0].headers["x-api-token"] == "t0ken"
    [arrived] = elsewhere.received
    assert "x-karajo-sign" not in arrived.headers
    assert "x-api-token" not in arrived.headers
    assert "--- redirected: 302 Found to " in text
