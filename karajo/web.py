"""The quart-trio application: JSON answers, errors, and sign-in checks.

The API routes live in `karajo.api`; this module builds the app around
them and makes every answer under /karajo/api/ the original's JSON wrapper
`{"code", "message", "name", "data"}`, errors included.
"""

from __future__ import annotations

import gzip
import json
import logging
from typing import TYPE_CHECKING, Any

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from karajo.session import COOKIE_NAME

if TYPE_CHECKING:
    from karajo.server import Server

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("karajo.access")

API_PREFIX = "/karajo/api/"
BODY_TIMEOUT = 30
# Below this size gzip costs more time than it saves on the wire.
_GZIP_MIN_SIZE = 512


def json_response(
    code: int,
    message: str,
    *,
    name: str = "",
    data: Any = None,
    compress: bool = False,
) -> Response:
    """The original's JSON wrapper; `code` is also the HTTP status."""
    payload: dict[str, Any] = {"code": code, "message": message}
    if name:
        payload["name"] = name
    if data is not None:
        payload["data"] = data
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json"}
    if compress and len(body) >= _GZIP_MIN_SIZE and _accepts_gzip():
        # mtime=0 keeps equal answers byte-identical.
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return Response(body, status=code, headers=headers)


def _accepts_gzip() -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


def error_response(code: int, name: str, message: str) -> Response:
    return json_response(code, message, name=name)


def current_user(server: Server) -> str | None:
    return server.sessions.user_of(request.cookies.get(COOKIE_NAME))


def needs_sign_in(server: Server) -> Response | None:
    """An error answer when users exist and the request has no session."""
    if not server.env.users or current_user(server) is not None:
        return None
    return error_response(
        401, "ERR_AUTH_REQUIRED", "sign in first: POST /karajo/api/auth/login"
    )


def create_app(server: Server) -> QuartTrio:
    """Build the web app for a server; library users may add routes to it."""
    from karajo import api, pages, public_files

    # No static folder: /static/ belongs to dir_public like any other path.
    app = QuartTrio("karajo", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = server.env.karajo.max_body_size
    # A body still not complete after this long is answered with 408, so a
    # slow or stalled client cannot hold a request open.
    app.config["BODY_TIMEOUT"] = BODY_TIMEOUT
    # Quart would otherwise pretty-print and sort JSON and log at DEBUG.
    app.config["JSON_SORT_KEYS"] = False
    app.register_blueprint(api.blueprint(server))
    app.register_blueprint(pages.blueprint(server))
    app.register_blueprint(public_files.blueprint(server))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_read_whole_body)
    app.after_request(_add_security_headers)
    app.after_request(_log_access)
    return app


# Karajo's own pages load nothing from elsewhere and run no inline script, so
# an injected tag can neither run nor call out; no other site may frame them.
KARAJO_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


async def _add_security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # The dir_public site is the owner's own: its pages keep their freedom.
    if request.path == "/karajo" or request.path.startswith("/karajo/"):
        response.headers.setdefault("Content-Security-Policy", KARAJO_CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


async def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    if not request.path.startswith(API_PREFIX):
        return Response(
            f"{code} {error.name}\n", status=code, content_type="text/plain"
        )
    names = {
        400: "ERR_BAD_REQUEST",
        404: "ERR_NOT_FOUND",
        405: "ERR_METHOD_NOT_ALLOWED",
        408: "ERR_REQUEST_TIMEOUT",
        413: "ERR_BODY_TOO_LARGE",
    }
    messages = {
        404: f"no API at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: f"request body over the limit of {_max_body(error)} bytes",
    }
    response = error_response(
        code,
        names.get(code, "ERR_HTTP"),
        messages.get(code, error.description or error.name),
    )
    if code in (408, 413):
        # The rest of the body may still be on its way: end the connection
        # after this answer rather than read it, or leave it half-used.
        response.headers["Connection"] = "close"
    return response


def _max_body(error: HTTPException) -> str:
    from quart import current_app

    return str(current_app.config.get("MAX_CONTENT_LENGTH"))


async def _read_whole_body() -> None:
    """Receive the request body before any answer, even an error.

    Answering while the client still sends its body (a 404 or 405 decided
    from the path alone) can leave the connection hanging under load with
    hypercorn's HTTP/1.1 handling; the body is bounded by MAX_CONTENT_LENGTH
    and BODY_TIMEOUT, and cached for the view.
    """
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        await request.get_data(cache=True, parse_form_data=False)


async def _unexpected_error(error: Exception) -> Response:
    logger.exception("%s %s: internal error", request.method, request.path)
    return error_response(
        500, "ERR_INTERNAL", "internal error; the server log has the details"
    )


async def _log_access(response: Response) -> Response:
    access_logger.info(
        "%s %s %s %d",
        request.remote_addr,
        request.method,
        request.path,
        response.status_code,
    )
    return response
