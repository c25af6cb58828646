"""The HTTP API, driven over loopback against the real server."""

from __future__ import annotations

import base64
import gzip
import json
import time

import bcrypt
import pytest
import trio

from tests.conftest import SECRET, sign

HOOK_JOB = """\
    [job "Deploy site"]
    path = /deploy
    command = "echo body: $(cat $KARAJO_WEBHOOK_BODY)"
    command = "grep -i '^x-custom' $KARAJO_WEBHOOK_HEADERS || true"
    """

SLOW_JOB = """\
    [job "slow"]
    path = /slow
    command = sleep 30
    """


def signed_form(job_id: str) -> tuple[bytes, dict[str, str]]:
    body = f"_karajo_epoch={int(time.time())}&id={job_id}".encode()
    return body, {
        "X-Karajo-Sign": sign(body),
        "Content-Type": "application/x-www-form-urlencoded",
    }


async def test_webhook_signed_runs_job_and_writes_log(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    body = b'{"ref": "main"}'

    response = await running.client.post(
        "/karajo/api/job_exec/run/deploy",
        content=body,
        headers={"X-Karajo-Sign": sign(body), "X-Custom": "yes"},
    )

    assert response.status_code == 200
    assert response.json()["data"]["id"] == "deploy_site"
    [name] = await running.wait_for_log("deploy_site", ".success")
    assert name == "deploy_site.1.success"
    text = (tree.log_dir("deploy_site") / name).read_text()
    assert 'job: deploy_site: body: {"ref": "main"}' in text
    assert "job: deploy_site: X-Custom: yes" in text


@pytest.mark.parametrize(
    ("headers", "path", "status", "name"),
    [
        (
            {"X-Karajo-Sign": "0" * 64},
            "/karajo/api/job_exec/run/deploy",
            403,
            "ERR_JOB_FORBIDDEN",
        ),
        ({}, "/karajo/api/job_exec/run/deploy", 403, "ERR_JOB_FORBIDDEN"),
        (
            {"X-Karajo-Sign": "zz"},
            "/karajo/api/job_exec/run/deploy",
            403,
            "ERR_JOB_FORBIDDEN",
        ),
        (
            {"X-Karajo-Sign": sign(b"x")},
            "/karajo/api/job_exec/run/nope",
            404,
            "ERR_JOB_NOT_FOUND",
        ),
    ],
)
async def test_webhook_refused(tree, start_server, headers, path, status, name):
    tree.write_main(HOOK_JOB)
    running = await start_server()

    response = await running.client.post(path, content=b"x", headers=headers)

    assert response.status_code == status
    assert response.json() == {
        "code": status,
        "message": response.json()["message"],
        "name": name,
    }
    assert tree.logs("deploy_site") == []


async def test_webhook_legacy_path_still_answers(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()

    response = await running.client.post(
        "/karajo/api/job/run/deploy",
        content=b"{}",
        headers={"X-Karajo-Sign": sign(b"{}")},
    )

    assert response.status_code == 200
    await running.wait_for_log("deploy_site", ".success")


async def test_webhook_queued_twice_gets_429(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    headers = {"X-Karajo-Sign": sign(b"")}

    statuses = []
    for _ in range(3):
        response = await running.client.post(
            "/karajo/api/job_exec/run/slow", headers=headers
        )
        statuses.append(response.status_code)
        await trio.sleep(0.2)

    # One runs, one waits in the queue, the third is refused.
    assert statuses == [200, 200, 429]
    assert response.json()["name"] == "ERR_JOB_ALREADY_RUN"
    running.server.jobs["slow"].cancel()


async def test_pause_refuses_webhook_and_resume_clears(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    body, headers = signed_form("deploy_site")

    paused = await running.client.post(
        "/karajo/api/job_exec/pause", content=body, headers=headers
    )
    hook = await running.client.post(
        "/karajo/api/job_exec/run/deploy",
        content=b"",
        headers={"X-Karajo-Sign": sign(b"")},
    )
    resumed = await running.client.post(
        "/karajo/api/job/resume", content=body, headers=headers
    )

    assert paused.json()["data"]["status"] == "paused"
    assert (hook.status_code, hook.json()["name"]) == (412, "ERR_JOB_PAUSED")
    assert resumed.status_code == 200
    assert resumed.json()["data"]["status"] == ""


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
async def test_control_with_bad_signature_gets_401(tree, start_server, action):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    body, headers = signed_form("deploy_site")
    headers["X-Karajo-Sign"] = sign(body, "wrong")

    response = await running.client.post(
        f"/karajo/api/job_exec/{action}", content=body, headers=headers
    )

    assert response.status_code == 401
    assert response.json()["message"] == "empty or invalid signature"


async def test_control_unknown_job_gets_404(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    body, headers = signed_form("nope")

    response = await running.client.post(
        "/karajo/api/job_exec/pause", content=body, headers=headers
    )

    assert (response.status_code, response.json()["name"]) == (404, "ERR_JOB_NOT_FOUND")


async def test_cancel_ends_running_command(tree, start_server):
    tree.write_main(SLOW_JOB)
    running = await start_server()
    await running.client.post(
        "/karajo/api/job_exec/run/slow", headers={"X-Karajo-Sign": sign(b"")}
    )
    await running.wait_for_log("slow", ".running")
    body, headers = signed_form("slow")

    response = await running.client.post(
        "/karajo/api/job_exec/cancel", content=body, headers=headers
    )

    assert response.status_code == 200
    [name] = await running.wait_for_log("slow", ".canceled")
    text = (tree.log_dir("slow") / name).read_text()
    assert "??? CANCELED (canceled by request)" in text
    assert "ended the command's remaining processes with SIGTERM" in text


async def test_log_endpoint_returns_base64_content_gzipped(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    await running.client.post(
        "/karajo/api/job_exec/run/deploy",
        content=b"{}",
        headers={"X-Karajo-Sign": sign(b"{}")},
    )
    await running.wait_for_log("deploy_site", ".success")

    response = await running.client.get(
        "/karajo/api/job_exec/log", params={"id": "deploy_site", "counter": "1"}
    )
    missing = await running.client.get(
        "/karajo/api/job_exec/log", params={"id": "deploy_site", "counter": "9"}
    )

    data = response.json()["data"]
    assert response.headers["content-encoding"] == "gzip"
    assert {k: data[k] for k in ("job_id", "name", "status", "counter")} == {
        "job_id": "deploy_site",
        "name": "deploy_site.1.success",
        "status": "success",
        "counter": 1,
    }
    assert b"=== job: deploy_site: finished." in base64.b64decode(data["content"])
    assert missing.status_code == 404


async def test_environment_lists_jobs_with_original_names(tree, start_server):
    tree.write_main(HOOK_JOB + SLOW_JOB)
    running = await start_server()

    response = await running.client.get(
        "/karajo/api/environment", headers={"Accept-Encoding": "gzip"}
    )
    raw = await running.client.get(
        "/karajo/api/environment", headers={"Accept-Encoding": "identity"}
    )

    data = response.json()["data"]
    assert set(data) >= {
        "jobs",
        "http_jobs",
        "name",
        "listen_address",
        "dir_base",
        "dir_public",
        "version",
        "http_timeout",
        "max_job_running",
        "is_development",
    }
    job = data["jobs"]["Deploy site"]
    assert job["next_run"] == "0001-01-01T00:00:00Z"
    assert job["path"] == "/deploy" and job["auth_kind"] == "hmac-sha256"
    assert data["http_timeout"] == 300 * 10**9
    assert SECRET not in json.dumps(data)
    assert "content-encoding" not in raw.headers
    assert gzip.compress(raw.content) and raw.json() == response.json()


async def test_body_over_limit_gets_413(tree, start_server):
    tree.write_main(HOOK_JOB, karajo="max_body_size = 1K\n")
    running = await start_server()

    response = await running.client.post(
        "/karajo/api/job_exec/run/deploy",
        content=b"x" * 4096,
        headers={"X-Karajo-Sign": sign(b"x" * 4096)},
    )

    assert response.status_code == 413
    assert response.json()["name"] == "ERR_BODY_TOO_LARGE"


async def test_unknown_api_path_and_method_answer_in_json(tree, start_server):
    tree.write_main(HOOK_JOB)
    running = await start_server()

    missing = await running.client.get("/karajo/api/nothing")
    wrong_method = await running.client.get("/karajo/api/job_exec/pause")

    assert missing.json()["code"] == 404
    assert wrong_method.json()["code"] == 405


async def test_users_require_sign_in_and_login_sets_cookie(tree, start_server):
    tree.write_main(HOOK_JOB)
    hashed = bcrypt.hashpw(b"pa ss\xc3\xa9", bcrypt.gensalt(rounds=4)).decode()
    tree.write("user.conf", f'[user "ana"]\npassword = {hashed}\n')
    running = await start_server()

    anonymous = await running.client.get("/karajo/api/environment")
    right = await running.client.post(
        "/karajo/api/auth/login", data={"name": "ana", "password": "pa ssé"}
    )
    signed_in = await running.client.get("/karajo/api/environment")
    wrong = await running.client.post(
        "/karajo/api/auth/login", data={"name": "ana", "password": "x"}
    )
    unknown_user = await running.client.post(
        "/karajo/api/auth/login", data={"name": "bob", "password": "pa ssé"}
    )

    assert anonymous.status_code == 401
    assert (wrong.status_code, wrong.json()["name"]) == (400, "ERR_AUTH_LOGIN")
    # A failure makes the address wait before its next try.
    assert unknown_user.status_code == 429
    assert unknown_user.json()["name"] == "ERR_AUTH_THROTTLED"
    assert unknown_user.headers["retry-after"] == "1"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert signed_in.status_code == 200


@pytest.mark.parametrize("epoch", ["", "abc", str(int(time.time()) - 3600)])
async def test_control_with_stale_or_missing_epoch_is_refused(
    tree, start_server, epoch
):
    tree.write_main(HOOK_JOB)
    running = await start_server()
    body = f"_karajo_epoch={epoch}&id=deploy_site".encode()

    response = await running.client.post(
        "/karajo/api/job_exec/pause",
        content=body,
        headers={"X-Karajo-Sign": sign(body)},
    )

    assert (response.status_code, response.json()["name"]) == (401, "ERR_INVALID_EPOCH")
    assert running.server.jobs["deploy_site"].status != "paused"


async def test_epoch_check_can_be_turned_off(tree, start_server):
    tree.write_main(HOOK_JOB, karajo="signature_max_age = 0\n")
    running = await start_server()
    body = b"_karajo_epoch=1&id=deploy_site"

    response = await running.client.post(
        "/karajo/api/job_exec/pause",
        content=body,
        headers={"X-Karajo-Sign": sign(body)},
    )

    assert response.status_code == 200
