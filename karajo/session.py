"""Sign-in: bcrypt password checks and the sessions behind the `karajo` cookie."""

from __future__ import annotations

import secrets
import time

import trio

COOKIE_NAME = "karajo"
SESSION_LIFETIME = 24 * 60 * 60


async def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a `$2a$`/`$2b$`/`$2y$` bcrypt hash."""
    import bcrypt

    # bcrypt is deliberately slow (tenths of a second) and releases the GIL:
    # a worker thread keeps the server answering while it runs.
    return await trio.to_thread.run_sync(_bcrypt_matches, bcrypt, password, hashed)


def _bcrypt_matches(bcrypt_module: object, password: str, hashed: str) -> bool:
    try:
        return bool(bcrypt_module.checkpw(password.encode(), hashed.encode()))  # type: ignore[attr-defined]
    except ValueError:
        return False


class SessionStore:
    """Session tokens kept in memory; a restart signs everybody out."""

    def __init__(self, lifetime: float = SESSION_LIFETIME) -> None:
        self.lifetime = lifetime
        self._sessions: dict[str, tuple[str, float]] = {}

    def create(self, user: str) -> str:
        self._forget_expired()
        token = secrets.token_urlsafe(32)
        self._sessions[token] = (user, time.monotonic() + self.lifetime)
        return token

    def user_of(self, token: str | None) -> str | None:
        if not token:
            return None
        found = self._sessions.get(token)
        if found is None:
            return None
        user, expires = found
        if time.monotonic() >= expires:
            del self._sessions[token]
            return None
        return user

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for token in [
            t for t, (_, expires) in self._sessions.items() if expires <= now
        ]:
            del self._sessions[token]
