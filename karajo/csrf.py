"""A signed-in browser acting without the secret: session cookie plus CSRF token.

The control endpoints (run, pause, resume, cancel) take the HMAC signature
of the global secret.  A user signed in through `user.conf` instead sends
the session cookie and, in the `X-Karajo-Csrf` header, a token derived
from that session.  The cookie is `SameSite=Strict` already; the token is
the second lock, since another site can make a browser send the cookie in
some cases (older browsers, a sibling sub-domain) but can never read the
token, which only same-origin pages receive.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from quart import request

from karajo.session import COOKIE_NAME

if TYPE_CHECKING:
    from karajo.server import Server

CSRF_HEADER = "X-Karajo-Csrf"
# Drawn once per process and never changed: tokens live as long as the
# in-memory sessions they are derived from, which a restart ends as well.
_CSRF_KEY = secrets.token_bytes(32)


def csrf_token(session_token: str) -> str:
    """The CSRF token belonging to a session token."""
    message = b"karajo-csrf:" + session_token.encode()
    return hmac.new(_CSRF_KEY, message, hashlib.sha256).hexdigest()


def session_token() -> str | None:
    """The session token of the current request's cookie, if any."""
    return request.cookies.get(COOKIE_NAME) or None


def session_may_act(server: Server) -> bool:
    """Whether the request comes from a signed-in user with the right token.

    Always false without users: then only the secret's signature counts.
    """
    if not server.env.users:
        return False
    token = session_token()
    if token is None or server.sessions.user_of(token) is None:
        return False
    given = request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(given.encode(), csrf_token(token).encode())
