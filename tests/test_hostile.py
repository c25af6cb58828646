"""Hostile HTTP input: malformed requests, slow bodies, floods of bad signatures."""

from __future__ import annotations

import json

import pytest
import trio

from tests.conftest import sign

JOB = '[job "hook"]\npath = /hook\ncommand = true\n'


async def raw_exchange(url: str, data: bytes, *, wait: float = 5) -> bytes:
    """Send raw bytes to the server and read until it closes or goes quiet."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        await stream.send_all(data)
        received = b""
        with trio.move_on_after(wait):
            while chunk := await stream.receive_some(65536):
                received += chunk
                if b"\r\n\r\n" in received and _is_complete(received):
                    break
        return received


def _is_complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def json_body(response: bytes) -> dict:
    return json.loads(response.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET /karajo/api/environment HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (
            b"POST /karajo/api/job_exec/run/hook HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: nope\r\n\r\n",
            400,
        ),
        (
            b"GET /karajo/api/environment HTTP/1.1\r\nHost: x\r\nX-Big: "
            + b"a" * 70000
            + b"\r\n\r\n",
            431,
        ),
    ],
)
async def test_malformed_http_gets_4xx_and_server_keeps_going(
    tree, start_server, request_bytes, status
):
    tree.write_main(JOB)
    running = await start_server()

    response = await raw_exchange(running.url, request_bytes)
    after = await running.client.get("/karajo/api/environment")

    assert status_of(response) == status
    assert after.status_code == 200


@pytest.mark.parametrize("method", ["FOO", "PUT", "DELETE", "PATCH"])
async def test_unknown_method_gets_405_in_json(tree, start_server, method):
    tree.write_main(JOB)
    running = await start_server()

    response = await running.client.request(method, "/karajo/api/job_exec/run/hook")

    assert response.status_code == 405
    assert response.json()["code"] == 405


async def test_stalled_body_times_out_with_408(tree, start_server):
    tree.write_main(JOB)
    running = await start_server()
    running.server.app.config["BODY_TIMEOUT"] = 1

    response = await raw_exchange(
        running.url,
        b"POST /karajo/api/job_exec/run/hook HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 100\r\n\r\nonly ten b",
        wait=10,
    )

    assert status_of(response) == 408
    assert json_body(response)["name"] == "ERR_REQUEST_TIMEOUT"
    assert running.tree.logs("hook") == []


@pytest.mark.parametrize(
    "query",
    [
        "id=%zz&counter=1",
        "id=hook&counter=-1",
        "id=hook&counter=1e9",
        "counter=1",
        "id=hook&counter=99999999999999999999999",
    ],
)
async def test_malformed_log_query_gets_4xx(tree, start_server, query):
    tree.write_main(JOB)
    running = await start_server()

    response = await running.client.get(f"/karajo/api/job_exec/log?{query}")

    assert 400 <= response.status_code < 500
    assert response.json()["code"] == response.status_code


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b"id=hook&id=other",
        b"%%%",
        b'{"id": "hook"}',
        b"a" * 10000,
    ],
)
async def test_malformed_control_forms_are_refused(tree, start_server, body):
    tree.write_main(JOB)
    running = await start_server()

    forged = await running.client.post(
        "/karajo/api/job_exec/pause", content=body, headers={"X-Karajo-Sign": "0" * 64}
    )
    signed = await running.client.post(
        "/karajo/api/job_exec/pause",
        content=body,
        headers={"X-Karajo-Sign": sign(body)},
    )

    assert forged.status_code == 401
    assert 400 <= signed.status_code < 500
    assert running.server.jobs["hook"].status != "paused"


async def test_many_forged_signatures_start_nothing(tree, start_server):
    tree.write_main(JOB)
    running = await start_server()

    async def forge(index: int) -> int:
        body = f"attempt {index}".encode()
        response = await running.client.post(
            "/karajo/api/job_exec/run/hook",
            content=body,
            headers={"X-Karajo-Sign": sign(body, "guess")},
        )
        return response.status_code

    statuses: list[int] = []

    async def record(index: int) -> None:
        statuses.append(await forge(index))

    async with trio.open_nursery() as nursery:
        for index in range(200):
            nursery.start_soon(record, index)

    assert set(statuses) == {403}
    assert running.tree.logs("hook") == []


async def test_no_secret_in_logs_answers_or_errors(tree, start_server, caplog):
    tree.write_main(
        JOB + '[job "other"]\npath = /other\nsecret = job-only-secret\ncommand = env\n'
    )
    running = await start_server()
    body = b"_karajo_epoch=1&id=hook"

    answers = [
        await running.client.post(
            "/karajo/api/job_exec/run/hook",
            content=b"x",
            headers={"X-Karajo-Sign": sign(b"y")},
        ),
        await running.client.post(
            "/karajo/api/job_exec/run/other",
            content=b"x",
            headers={"X-Karajo-Sign": sign(b"x", "job-only-secret")},
        ),
        await running.client.post(
            "/karajo/api/job_exec/pause",
            content=body,
            headers={"X-Karajo-Sign": sign(body)},
        ),
        await running.client.get("/karajo/api/environment"),
    ]
    await running.wait_for_log("other", ".success")
    log = await running.client.get("/karajo/api/job_exec/log?id=other&counter=1")

    texts = [answer.text for answer in answers] + [caplog.text, log.text]
    texts.append((running.tree.log_dir("other") / "other.1.success").read_text())
    for secret in ("test-secret", "job-only-secret"):
        assert not any(secret in text for text in texts), secret


async def test_generated_secret_goes_to_a_private_file_not_the_log(
    tree, start_server, caplog
):
    tree.write(
        "karajo.conf",
        f"[karajo]\nlisten_address = 127.0.0.1:0\ndir_base = {tree.base}\n",
    )
    running = await start_server()

    secret = running.server.env.karajo.secret
    path = tree.base / "var" / "lib" / "karajo" / "generated-secret"
    assert path.read_text() == secret + "\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert secret not in caplog.text
    assert str(path) in caplog.text


@pytest.mark.parametrize("counter", ["%C2%B2", "%D9%A3", "1%00"])
async def test_unicode_digit_counter_is_400_not_500(tree, start_server, counter):
    tree.write_main(JOB)
    running = await start_server()

    response = await running.client.get(
        f"/karajo/api/job_exec/log?id=hook&counter={counter}"
    )

    assert (response.status_code, response.json()["name"]) == (
        400,
        "ERR_INVALID_COUNTER",
    )
