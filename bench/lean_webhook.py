#!/usr/bin/env python3
"""An experiment for the webhook-accept benchmark: how fast can karajo take
webhooks on hypercorn if quart is left out of the way?

`LeanWebhook` is raw ASGI in front of quart (`app.asgi_app`): a signed
`POST /karajo/api/job_exec/run/<path>` to a known job, with a
Content-Length within max_body_size, is checked, queued and answered
here, with the same JSON, security headers and access-log line as quart's
route; anything else goes on to quart unchanged.  It leaves out what the
benchmark never meets: web.py's BODY_TIMEOUT (408 for a stalled body).

It is not wired into karajo, and that is a decision, not an omission: with
jobs busy it takes about 1.4 times the webhooks per second of quart's route
and cuts p99 by about half (bench/run_all.py), but when the webhooks start
runs, the runs cost more than either path (bench/profile.py), and shipping
it means a second webhook path kept identical to karajo.api's, body
timeout included.  This script runs a server with it:

    .venv/bin/python bench/lean_webhook.py -config FILE
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from karajo.cli import configure_logging, run
from karajo.config import load_environment
from karajo.errors import SignatureError
from karajo.job import JobBusyError, JobPausedError, StartRequest
from karajo.server import Server
from karajo.web import KARAJO_CSP
from karajo.webhook_auth import verify_webhook

logger = logging.getLogger("karajo.api")
access_logger = logging.getLogger("karajo.access")

_PREFIXES = ("/karajo/api/job_exec/run/", "/karajo/api/job/run/")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", KARAJO_CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class LeanWebhook:
    """ASGI middleware answering webhook runs without quart."""

    def __init__(self, server: Server, app: Any) -> None:
        self.server = server
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        job = self._job_of(scope)
        if job is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        headers = {
            name.decode("latin-1").title(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        client = (scope.get("client") or ("",))[0]
        try:
            verify_webhook(
                job.config.auth_kind,
                body=body,
                headers=headers,
                secret=job.config.secret,
                header_sign=job.config.header_sign,
                sourcehut_key=self.server.env.karajo.sourcehut_public_key,
            )
        except SignatureError as error:
            logger.warning("job %s: webhook from %s refused: %s", job.id, client, error)
            code, payload = (
                403,
                _error(
                    403,
                    "ERR_JOB_FORBIDDEN",
                    "the request is not signed with the job's secret",
                ),
            )
        else:
            code, payload = _queue(
                job, StartRequest("webhook", body, list(headers.items()))
            )
        data = json.dumps(payload, separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *_SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
        access_logger.info("%s %s %s %d", client, "POST", scope["path"], code)

    def _job_of(self, scope: dict) -> Any:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path = scope["path"]
        prefix = next((p for p in _PREFIXES if path.startswith(p)), None)
        if prefix is None or len(path) == len(prefix):
            return None
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value) if value.isdigit() else None
            elif name == b"transfer-encoding":
                return None
        if length is None or length > self.server.env.karajo.max_body_size:
            return None
        return self.server.job_by_path("/" + path[len(prefix) :])


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _queue(job: Any, start: StartRequest) -> tuple[int, dict[str, Any]]:
    try:
        job.request_run(start)
    except JobPausedError:
        return 412, _error(412, "ERR_JOB_PAUSED", f"{job.kind} {job.id} is paused")
    except JobBusyError:
        return 429, _error(
            429, "ERR_JOB_ALREADY_RUN", f"{job.kind} {job.id} already has a run queued"
        )
    return 200, {"code": 200, "message": "OK", "data": job.to_json()}


def _error(code: int, name: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "name": name}


def main() -> None:
    config = sys.argv[sys.argv.index("-config") + 1]
    configure_logging(False)
    server = Server(load_environment(config))
    server.app.asgi_app = LeanWebhook(server, server.app.asgi_app)
    run(server)


if __name__ == "__main__":
    main()
