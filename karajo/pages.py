"""The web pages under /karajo/: sign-in, dashboard, log pages, documentation.

The pages are static files from `karajo/www/` (see `karajo.assets`); what
they show comes from the API and from two Server-Sent Event streams that
this module also serves:

    GET /karajo/api/events                       the dashboard's job changes
    GET /karajo/api/events/log/<kind>?id=&counter=   one run's log, live

Everything under /karajo/app/ and /karajo/api/ needs a session when users
exist; the sign-in page, its assets and the documentation do not.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from quart import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as WerkzeugResponse

from karajo.assets import Assets, package_www
from karajo.csrf import csrf_token, session_token
from karajo.events import EventHub, LogFollower, SessionInfo, has_run_log
from karajo.log_store import parse_counter
from karajo.web import current_user, error_response, needs_sign_in

if TYPE_CHECKING:
    from karajo.job import Job
    from karajo.server import Server

logger = logging.getLogger(__name__)

DOC_INDEX = "doc/index.html"
DOCS_MISSING = (
    "the documentation is not built in this copy of karajo; "
    "build it from the source tree with `python scripts/build_docs.py`"
)
# URL names of the two kinds of job, as in the API paths.
KIND_EXEC = "job_exec"
KIND_HTTP = "job_http"


def blueprint(server: Server, assets: Assets | None = None) -> Blueprint:
    """The pages and streams; `assets` defaults to the package's www/."""
    if assets is None:
        assets = Assets(package_www(), is_development=server.env.karajo.is_development)
    if not assets.exists(DOC_INDEX):
        logger.warning("%s", DOCS_MISSING)
    pages = _Pages(server, assets, EventHub(server))
    server.on_stop.append(pages.hub.close)

    web = Blueprint("pages", __name__)
    rules: list[tuple[str, Callable[..., Awaitable[Response | WerkzeugResponse]]]] = [
        ("/karajo/", pages.index),
        ("/karajo/app/", pages.dashboard),
        (f"/karajo/app/{KIND_EXEC}/log/", pages.log_page),
        (f"/karajo/app/{KIND_HTTP}/log/", pages.log_page),
        ("/karajo/assets/<path:name>", pages.asset),
        ("/karajo/doc/", pages.doc),
        ("/karajo/doc/<path:name>", pages.doc),
        ("/karajo/api/events", pages.job_events),
        ("/karajo/api/events/log/<kind>", pages.log_events),
    ]
    for rule, view in rules:
        web.add_url_rule(rule, view_func=view, methods=["GET"], endpoint=rule)
    return web


class _Pages:
    def __init__(self, server: Server, assets: Assets, hub: EventHub) -> None:
        self.server = server
        self.assets = assets
        self.hub = hub

    def _is_signed_in(self) -> bool:
        return not self.server.env.users or current_user(self.server) is not None

    def _page(self, relative: str) -> Response:
        asset = self.assets.get(relative)
        if asset is None:
            return _not_found(
                f"the page {relative} is missing from this copy of karajo"
            )
        return asset.response()

    async def index(self) -> Response | WerkzeugResponse:
        if self._is_signed_in():
            return redirect("/karajo/app/")
        return self._page("index.html")

    async def dashboard(self) -> Response | WerkzeugResponse:
        if not self._is_signed_in():
            return redirect("/karajo/")
        return self._page("app/index.html")

    async def log_page(self) -> Response | WerkzeugResponse:
        if not self._is_signed_in():
            return redirect("/karajo/")
        return self._page("app/log.html")

    async def asset(self, name: str) -> Response:
        asset = self.assets.get(f"assets/{name}")
        if asset is None:
            return _not_found(f"no file {name} in karajo's assets")
        return asset.response()

    async def doc(self, name: str = "index.html") -> Response:
        asset = self.assets.get(f"doc/{name}")
        if asset is not None:
            return asset.response()
        if not self.assets.exists(DOC_INDEX):
            return _not_found(DOCS_MISSING)
        return _not_found(f"no page {name} in the documentation")

    async def job_events(self) -> Response:
        refused = needs_sign_in(self.server)
        if refused is not None:
            return refused
        if self.hub.is_full:
            return _busy()
        token = session_token()
        stream = self.hub.stream(
            self._session_info(), lambda: self._is_session_alive(token)
        )
        return _event_stream(stream)

    def _session_info(self) -> SessionInfo:
        users_exist = bool(self.server.env.users)
        token = session_token()
        user = current_user(self.server) if users_exist else None
        csrf = csrf_token(token) if user is not None and token else ""
        return SessionInfo(user, users_exist, csrf)

    def _is_session_alive(self, token: str | None) -> bool:
        if not self.server.env.users:
            return True
        return self.server.sessions.user_of(token) is not None

    async def log_events(self, kind: str) -> Response:
        refused = needs_sign_in(self.server)
        if refused is not None:
            return refused
        job = self._job(kind, request.args.get("id", ""))
        if job is None:
            return error_response(
                404,
                "ERR_JOB_NOT_FOUND",
                f"no {kind} has the id {request.args.get('id', '')!r}",
            )
        counter = request.args.get("counter", "")
        if parse_counter(counter) is None:
            return error_response(
                400, "ERR_INVALID_COUNTER", f"counter {counter!r} is not a number"
            )
        if not has_run_log(job, int(counter)):
            return error_response(
                404, "ERR_JOB_LOG_NOT_FOUND", f"{kind} {job.id} has no log #{counter}"
            )
        return _event_stream(LogFollower(job, int(counter)).stream())

    def _job(self, kind: str, job_id: str) -> Job | None:
        if kind == KIND_EXEC:
            return self.server.jobs.get(job_id)
        if kind == KIND_HTTP:
            return self.server.http_jobs.get(job_id)
        return None


def _event_stream(stream: object) -> Response:
    response = Response(
        stream,  # type: ignore[arg-type]
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    # A stream lasts as long as the page is open, not a request's time limit.
    response.timeout = None
    return response


def _not_found(message: str) -> Response:
    return Response(
        f"404 {message}\n", status=404, content_type="text/plain; charset=utf-8"
    )


def _busy() -> Response:
    return error_response(
        503, "ERR_TOO_MANY_STREAMS", "too many pages follow the server; try again later"
    )
