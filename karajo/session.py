"""Sign-in: bcrypt password checks and the sessions behind the `karajo` cookie."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import sys
import time
from types import ModuleType

import trio

from karajo import bcrypt_pure

logger = logging.getLogger(__name__)

COOKIE_NAME = "karajo"
SESSION_LIFETIME = 24 * 60 * 60
# Go's CompareHashAndPassword, which the original uses, reads only this many
# bytes of a password; bcrypt 5 raises on longer ones instead of cutting.
MAX_PASSWORD_BYTES = bcrypt_pure.MAX_KEY_BYTES
# Pure-Python checks take seconds of CPU each: a burst of sign-ins waits its
# turn here instead of starting one child process per request, and half the
# cores stay free for the server and the jobs.
_PURE_CHECKS = trio.CapacityLimiter(max(1, (os.cpu_count() or 2) // 2))


async def check_password(password: str, hashed: str) -> bool:
    """Whether `password` matches a `$2a$`/`$2b$`/`$2y$` bcrypt hash.

    Uses the compiled `bcrypt` package when it is installed, else
    `karajo.bcrypt_pure`; either way the event loop keeps serving meanwhile.
    """
    secret = password.encode()[:MAX_PASSWORD_BYTES]
    compiled = _compiled_bcrypt()
    if compiled is not None:
        # bcrypt is deliberately slow (tenths of a second) and releases the
        # GIL: a worker thread keeps the server answering while it runs.
        return await trio.to_thread.run_sync(_bcrypt_matches, compiled, secret, hashed)
    return await _pure_matches(secret, hashed)


@functools.cache
def _compiled_bcrypt() -> ModuleType | None:
    try:
        import bcrypt
    except ImportError:
        # A bare Python, such as the zipapp on a system without python3-bcrypt.
        return None
    return bcrypt


def _bcrypt_matches(bcrypt_module: ModuleType, secret: bytes, hashed: str) -> bool:
    try:
        return bool(bcrypt_module.checkpw(secret, hashed.encode()))
    except ValueError:
        return False


async def _pure_matches(secret: bytes, hashed: str) -> bool:
    """Run `karajo.bcrypt_pure` in a child process and read its verdict.

    Not a thread: pure-Python bcrypt holds the GIL for seconds, and the
    event loop would get it back only at each switch interval, slowing every
    other request.  A child runs on another core, leaves the server's GIL
    alone, and is killed if the sign-in request goes away.
    """
    if not sys.executable:
        # An embedded interpreter has no program to start: run it here, in a
        # thread, accepting the slower answers meanwhile.
        return await trio.to_thread.run_sync(_pure_matches_here, secret, hashed)
    async with _PURE_CHECKS:
        result = await trio.run_process(
            _pure_check_command(),
            stdin=hashed.encode() + b"\n" + secret,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    if result.returncode not in (bcrypt_pure.EXIT_MATCH, bcrypt_pure.EXIT_MISMATCH):
        logger.warning(
            "bcrypt check failed with status %d: %s",
            result.returncode,
            result.stderr.decode(errors="replace").strip(),
        )
    return result.returncode == bcrypt_pure.EXIT_MATCH


def _pure_check_command() -> list[str]:
    # The folder or zip archive holding the karajo package: -I ignores
    # PYTHONPATH, so the child is told where to import from.
    root = os.path.dirname(os.path.dirname(os.path.abspath(bcrypt_pure.__file__)))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); "
        "from karajo.bcrypt_pure import main; sys.exit(main())"
    )
    return [sys.executable, "-I", "-c", code]


def _pure_matches_here(secret: bytes, hashed: str) -> bool:
    try:
        return bcrypt_pure.checkpw(secret, hashed)
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


class LoginThrottle:
    """Sign-in attempts per client address, with a delay that grows.

    After the n-th failure in a row an address must wait 2**(n-1) seconds
    (at most MAX_DELAY) before its next attempt; a success clears it.  The
    table is bounded: the oldest addresses are forgotten first.
    """

    MAX_DELAY = 300.0
    MAX_ADDRESSES = 10_000

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    def wait_left(self, address: str) -> float:
        """Seconds this address must still wait; 0 when it may try."""
        _, not_before = self._failures.get(address, (0, 0.0))
        return max(0.0, not_before - time.monotonic())

    def failed(self, address: str) -> None:
        failures = self._failures.pop(address, (0, 0.0))[0] + 1
        delay = min(2.0 ** (failures - 1), self.MAX_DELAY)
        self._failures[address] = (failures, time.monotonic() + delay)
        while len(self._failures) > self.MAX_ADDRESSES:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)
