"""The HTTP API under /karajo/api/, with the original's paths and names.

Webhooks (`job_exec/run/<path>`) are checked by the job's auth kind over
the raw body; pause, resume and cancel by `X-Karajo-Sign`, the HMAC-SHA256
of the raw form body with the global secret; reading needs a session when
users exist.  Older paths still called by deployed webhooks answer too.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from quart import Blueprint, Response, request

from karajo import __version__
from karajo.errors import SignatureError
from karajo.job import JobBusyError, JobPausedError, StartRequest
from karajo.log_store import read_log_content
from karajo.session import COOKIE_NAME, SESSION_LIFETIME, check_password
from karajo.web import error_response, json_response, needs_sign_in
from karajo.webhook_auth import (
    DEFAULT_HEADER_SIGN,
    verify_api_signature,
    verify_webhook,
)

if TYPE_CHECKING:
    from karajo.job import Job
    from karajo.server import Server

logger = logging.getLogger(__name__)

ERR_INVALID_SIGNATURE = "empty or invalid signature"


def blueprint(server: Server) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/karajo/api")
    routes = _Routes(server)
    for path in ("/job_exec/run/<path:job_path>", "/job/run/<path:job_path>"):
        api.add_url_rule(
            path, view_func=routes.run_webhook, methods=["POST"], endpoint=path
        )
    for action in ("pause", "resume", "cancel"):
        for prefix in ("/job_exec", "/job"):
            if prefix == "/job" and action == "cancel":
                continue
            api.add_url_rule(
                f"{prefix}/{action}",
                view_func=routes.control(action),
                methods=["POST"],
                endpoint=f"{prefix}/{action}",
            )
    for path in ("/job_exec/log", "/job/log"):
        api.add_url_rule(
            path, view_func=routes.exec_log, methods=["GET"], endpoint=path
        )
    api.add_url_rule("/environment", view_func=routes.environment, methods=["GET"])
    api.add_url_rule("/auth/login", view_func=routes.login, methods=["POST"])
    api.add_url_rule("/auth/logout", view_func=routes.logout, methods=["POST"])
    return api


class _Routes:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def run_webhook(self, job_path: str) -> Response:
        job = self.server.job_by_path("/" + job_path)
        if job is None:
            return error_response(
                404, "ERR_JOB_NOT_FOUND", f"no job has the path /{job_path}"
            )
        body = await request.get_data(cache=False, as_text=False, parse_form_data=False)
        try:
            verify_webhook(
                job.config.auth_kind,
                body=body,
                headers=request.headers,
                secret=job.config.secret,
                header_sign=job.config.header_sign,
                sourcehut_key=self.server.env.karajo.sourcehut_public_key,
            )
        except SignatureError as error:
            logger.warning(
                "job %s: webhook from %s refused: %s",
                job.id,
                request.remote_addr,
                error,
            )
            return error_response(
                403,
                "ERR_JOB_FORBIDDEN",
                "the request is not signed with the job's secret",
            )
        return self._queue(
            job, StartRequest("webhook", body, list(request.headers.items()))
        )

    def _queue(self, job: Job, start: StartRequest) -> Response:
        try:
            job.request_run(start)
        except JobPausedError:
            return error_response(412, "ERR_JOB_PAUSED", f"job {job.id} is paused")
        except JobBusyError:
            return error_response(
                429, "ERR_JOB_ALREADY_RUN", f"job {job.id} already has a run queued"
            )
        return json_response(200, "OK", data=job.to_json())

    def control(self, action: str):  # noqa: ANN201 - a view function factory
        async def view() -> Response:
            body = await request.get_data(
                cache=False, as_text=False, parse_form_data=False
            )
            found = self._signed_job(body, body)
            if isinstance(found, Response):
                return found
            job = found
            if action == "pause":
                job.pause()
            elif action == "resume":
                job.resume()
            elif not job.cancel():
                return error_response(
                    412, "ERR_JOB_NOT_RUNNING", f"job {job.id} is not running"
                )
            return json_response(200, "OK", data=job.to_json())

        view.__name__ = f"job_{action}"
        return view

    def _signed_job(self, signed: bytes, form: bytes) -> Job | Response:
        """The job named by a signed form, or the error to answer with."""
        try:
            verify_api_signature(
                signed,
                self.server.env.karajo.secret,
                request.headers.get(DEFAULT_HEADER_SIGN),
            )
        except SignatureError as error:
            logger.warning(
                "%s %s from %s refused: %s",
                request.method,
                request.path,
                request.remote_addr,
                error,
            )
            return error_response(401, "ERR_INVALID_SIGNATURE", ERR_INVALID_SIGNATURE)
        fields = parse_qs(form.decode("utf-8", "replace"), keep_blank_values=True)
        job_id = (fields.get("id") or [""])[0]
        if not job_id:
            return error_response(400, "ERR_INVALID_JOB_ID", "the form has no job id")
        job = self.server.jobs.get(job_id)
        if job is None:
            return error_response(
                404, "ERR_JOB_NOT_FOUND", f"no job has the id {job_id!r}"
            )
        return job

    async def exec_log(self) -> Response:
        refused = needs_sign_in(self.server)
        if refused is not None:
            return refused
        job = self.server.jobs.get(request.args.get("id", ""))
        if job is None:
            return error_response(
                404,
                "ERR_JOB_NOT_FOUND",
                f"no job has the id {request.args.get('id', '')!r}",
            )
        return self._log_of(job)

    def _log_of(self, job: Job) -> Response:
        text = request.args.get("counter", "")
        if not text.isdigit():
            return error_response(
                400, "ERR_INVALID_COUNTER", f"counter {text!r} is not a number"
            )
        entry = job.log_dir.find(int(text))
        if entry is None:
            return error_response(
                404, "ERR_JOB_LOG_NOT_FOUND", f"job {job.id} has no log #{text}"
            )
        try:
            content = read_log_content(entry.path)
        except OSError as error:
            logger.error(
                "%s %s: cannot read log %s: %s",
                job.kind,
                job.id,
                entry.path,
                error.strerror,
            )
            return error_response(
                500, "ERR_INTERNAL", "the log cannot be read; the server log says why"
            )
        data = entry.to_json()
        data["content"] = base64.b64encode(content).decode()
        return json_response(200, "OK", data=data, compress=True)

    async def environment(self) -> Response:
        refused = needs_sign_in(self.server)
        if refused is not None:
            return refused
        return json_response(
            200, "OK", data=environment_json(self.server), compress=True
        )

    async def login(self) -> Response:
        form = await request.form
        name, password = form.get("name", ""), form.get("password", "")
        hashed = self.server.env.users.get(name)
        if hashed is None or not await check_password(password, hashed):
            logger.warning("sign-in as %r from %s refused", name, request.remote_addr)
            return error_response(
                400, "ERR_AUTH_LOGIN", "invalid user name and/or password"
            )
        token = self.server.sessions.create(name)
        response = json_response(200, "OK")
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=SESSION_LIFETIME,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.scheme == "https",
        )
        logger.info("user %s signed in from %s", name, request.remote_addr)
        return response

    async def logout(self) -> Response:
        self.server.sessions.end(request.cookies.get(COOKIE_NAME))
        response = json_response(200, "OK")
        response.delete_cookie(COOKIE_NAME, path="/")
        return response


def environment_json(server: Server) -> dict[str, object]:
    config = server.env.karajo
    return {
        "name": config.name,
        "listen_address": config.listen_address,
        "dir_base": config.dir_base,
        "dir_public": config.dir_public,
        "version": __version__,
        "http_timeout": config.http_timeout,
        "max_job_running": config.max_job_running,
        "is_development": config.is_development,
        "jobs": {job.name: job.to_json() for job in server.jobs.values()},
        "http_jobs": {job.name: job.to_json() for job in server.http_jobs.values()},
    }
