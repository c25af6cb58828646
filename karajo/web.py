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
    from karajo import api

    app = QuartTrio("karajo")
    app.config["MAX_CONTENT_LENGTH"] = server.env.karajo.max_body_size
    # Quart would otherwise pretty-print and sort JSON and log at DEBUG.
    app.config["JSON_SORT_KEYS"] = False
    app.register_blueprint(api.blueprint(server))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.after_request(_log_access)
    return app


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
        413: "ERR_BODY_TOO_LARGE",
    }
    messages = {
        404: f"no API at {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: f"request body over the limit of {_max_body(error)} bytes",
    }
    return error_response(
        code,
        names.get(code, "ERR_HTTP"),
        messages.get(code, error.description or error.name),
    )


def _max_body(error: HTTPException) -> str:
    from quart import current_app

    return str(current_app.config.get("MAX_CONTENT_LENGTH"))


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
