"""The HTTP API under /karajo/api/, with the original's paths and names.

Webhooks (`job_exec/run/<path>`) are checked by the job's auth kind over
the raw body; run, pause, resume and cancel by `X-Karajo-Sign`, the
HMAC-SHA256 with the global secret of the raw form body (exec jobs) or of
the raw query string (HTTP jobs, as the original signs them); reading needs
a session when users exist.  Older paths still called by deployed webhooks
answer too.  Running and canceling by id are beyond the original.
"""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from quart import Blueprint, Response, request

from karajo import __version__
from karajo.duration import SECOND, format_duration
from karajo.csrf import session_may_act
from karajo.errors import SignatureError
from karajo.job import JobBusyError, JobPausedError, StartRequest
from karajo.log_store import parse_counter, read_log_content
from karajo.metrics import metrics_view
from karajo.session import (
    COOKIE_NAME,
    SESSION_LIFETIME,
    LoginThrottle,
    check_password,
)
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
# A valid bcrypt hash of a random password nobody knows (cost 10, as users').
_DUMMY_HASH = "$2b$10$8Jt3r1mOx2b1qYQf3vNnZeqk2Qe4lq5YVwq9F3y2o7QmG1xJwT0aK"


def blueprint(server: Server) -> Blueprint:
    api = Blueprint("api", __name__, url_prefix="/karajo/api")
    routes = _Routes(server)
    for path in ("/job_exec/run/<path:job_path>", "/job/run/<path:job_path>"):
        api.add_url_rule(
            path, view_func=routes.run_webhook, methods=["POST"], endpoint=path
        )
    for action in ("run", "pause", "resume", "cancel"):
        for prefix in ("/job_exec", "/job", "/job_http"):
            if prefix == "/job" and action in ("run", "cancel"):
                continue
            api.add_url_rule(
                f"{prefix}/{action}",
                view_func=routes.control(prefix, action),
                methods=["POST"],
                endpoint=f"{prefix}/{action}",
            )
    for path in ("/job_exec/log", "/job/log"):
        api.add_url_rule(
            path, view_func=routes.exec_log, methods=["GET"], endpoint=path
        )
    api.add_url_rule("/job_http", view_func=routes.http_job, methods=["GET"])
    api.add_url_rule("/job_http/log", view_func=routes.http_log, methods=["GET"])
    api.add_url_rule("/environment", view_func=routes.environment, methods=["GET"])
    api.add_url_rule("/metrics", view_func=metrics_view(server), methods=["GET"])
    api.add_url_rule("/auth/login", view_func=routes.login, methods=["POST"])
    api.add_url_rule("/auth/logout", view_func=routes.logout, methods=["POST"])
    return api


class _Routes:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.throttle = LoginThrottle()

    async def run_webhook(self, job_path: str) -> Response:
        job = self.server.job_by_path("/" + job_path)
        if job is None:
            return error_response(
                404, "ERR_JOB_NOT_FOUND", f"no job has the path /{job_path}"
            )
        body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
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
            return error_response(
                412, "ERR_JOB_PAUSED", f"{job.kind} {job.id} is paused"
            )
        except JobBusyError:
            return error_response(
                429,
                "ERR_JOB_ALREADY_RUN",
                f"{job.kind} {job.id} already has a run queued",
            )
        return json_response(200, "OK", data=job.to_json())

    def control(self, prefix: str, action: str) -> Callable[[], Awaitable[Response]]:
        is_http = prefix == "/job_http"

        async def view() -> Response:
            if is_http:
                signed = request.query_string
            else:
                signed = await request.get_data(
                    cache=True, as_text=False, parse_form_data=False
                )
            found = self._signed_job(signed, "job_http" if is_http else "job")
            if isinstance(found, Response):
                return found
            return self._act(found, action)

        view.__name__ = f"{prefix.strip('/')}_{action}"
        return view

    def _act(self, job: Job, action: str) -> Response:
        if action == "run":
            return self._queue(job, StartRequest("api"))
        if action == "pause":
            job.pause()
        elif action == "resume":
            job.resume()
        elif not job.cancel():
            return error_response(
                412, "ERR_JOB_NOT_RUNNING", f"{job.kind} {job.id} is not running"
            )
        return json_response(200, "OK", data=job.to_json())

    def _signed_job(self, signed: bytes, kind: str) -> Job | Response:
        """The job named by a signed form or query, or the error to answer with."""
        refused = self._refuse_unsigned(signed)
        if refused is not None:
            return refused
        fields = parse_qs(signed.decode("utf-8", "replace"), keep_blank_values=True)
        job_id = (fields.get("id") or [""])[0]
        if not job_id:
            return error_response(
                400, "ERR_INVALID_JOB_ID", "the request has no job id"
            )
        return self._job_of_kind(kind, job_id)

    def _refuse_unsigned(self, signed: bytes) -> Response | None:
        """The 401 answer to a control call not signed with the global secret.

        Every call that changes a job passes here, so who may control jobs
        is decided in this one place.  A signed-in user's session cookie
        with its CSRF token (karajo.csrf) stands in for the signature.
        """
        if session_may_act(self.server):
            return None
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
        return self._refuse_stale(signed)

    def _refuse_stale(self, signed: bytes) -> Response | None:
        """Refuse a signed call whose _karajo_epoch is far from now (a replay)."""
        max_age = self.server.env.karajo.signature_max_age
        if max_age <= 0:
            return None
        fields = parse_qs(signed.decode("utf-8", "replace"), keep_blank_values=True)
        epoch_text = (fields.get("_karajo_epoch") or [""])[0]
        try:
            skew = abs(time.time() - int(epoch_text))
        except ValueError:
            skew = None
        if skew is not None and skew <= max_age / SECOND:
            return None
        logger.warning(
            "%s %s from %s refused: _karajo_epoch %r is missing or more than %s "
            "from the server's time",
            request.method,
            request.path,
            request.remote_addr,
            epoch_text[:32],
            format_duration(max_age),
        )
        return error_response(
            401,
            "ERR_INVALID_EPOCH",
            "_karajo_epoch is missing or too far from the server's time "
            f"(allowed: {format_duration(max_age)}); check the client's clock",
        )

    def _job_of_kind(self, kind: str, job_id: str) -> Job | Response:
        """The exec job or HTTP job with this id, or the original's error."""
        if kind == "job_http":
            http_job = self.server.http_jobs.get(job_id)
            if http_job is None:
                # The original answers 400, not 404, for an unknown HTTP job.
                return error_response(
                    400, "ERR_INVALID_JOB_ID", f"no HTTP job has the id {job_id!r}"
                )
            return http_job
        job = self.server.jobs.get(job_id)
        if job is None:
            return error_response(
                404, "ERR_JOB_NOT_FOUND", f"no job has the id {job_id!r}"
            )
        return job

    def _readable_job(self, kind: str) -> Job | Response:
        """The job named by `?id=`, once the reader may read; else the error."""
        refused = needs_sign_in(self.server)
        if refused is not None:
            return refused
        return self._job_of_kind(kind, request.args.get("id", ""))

    async def exec_log(self) -> Response:
        found = self._readable_job("job")
        return found if isinstance(found, Response) else self._log_of(found)

    async def http_job(self) -> Response:
        found = self._readable_job("job_http")
        if isinstance(found, Response):
            return found
        return json_response(200, "OK", data=found.to_json())

    async def http_log(self) -> Response:
        found = self._readable_job("job_http")
        return found if isinstance(found, Response) else self._log_of(found)

    def _log_of(self, job: Job) -> Response:
        text = request.args.get("counter", "")
        if parse_counter(text) is None:
            return error_response(
                400, "ERR_INVALID_COUNTER", f"counter {text!r} is not a number"
            )
        entry = job.log_dir.find(int(text))
        if entry is None:
            return error_response(
                404,
                "ERR_JOB_LOG_NOT_FOUND",
                f"{job.kind} {job.id} has no log #{text}",
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
        address = request.remote_addr or ""
        wait = self.throttle.wait_left(address)
        if wait > 0:
            response = error_response(
                429,
                "ERR_AUTH_THROTTLED",
                f"too many failed sign-ins; try again in {math.ceil(wait)} s",
            )
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        form = await request.form
        name, password = form.get("name", ""), form.get("password", "")
        # An unknown name is checked against a dummy hash, so the answer
        # takes as long as for a known one and does not tell names apart.
        hashed = self.server.env.users.get(name, _DUMMY_HASH)
        is_valid = await check_password(password, hashed)
        if not is_valid or name not in self.server.env.users:
            self.throttle.failed(address)
            logger.warning("sign-in as %r from %s refused", name[:64], address)
            return error_response(
                400, "ERR_AUTH_LOGIN", "invalid user name and/or password"
            )
        self.throttle.succeeded(address)
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
