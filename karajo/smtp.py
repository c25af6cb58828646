"""A small SMTP client on trio streams: hands one message to a mail server.

It speaks what a submission server expects (RFC 5321, RFC 6409): EHLO,
TLS either from the first byte (RFC 8314) or by STARTTLS (RFC 3207), AUTH
PLAIN or LOGIN (RFC 4954), one MAIL transaction, QUIT.  Both ways of
connecting are encrypted before any login is sent.  `smtplib` would need a
thread per send; this needs none.

Errors are `SmtpError`; `is_permanent` says whether sending the same message
again can help (a refused login or recipient cannot, a server that is down
can).  No message of an error holds a password: commands are named by their
verb only.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from karajo.errors import KarajoError

if TYPE_CHECKING:
    from karajo.config import SmtpServer

# RFC 5321 4.5.3.1.5 sets 512 octets for a reply line; some servers send more.
REPLY_LINE_LIMIT = 8192
READ_SIZE = 16 * 1024
DEFAULT_TIMEOUT = 60.0
CLOSE_TIMEOUT = 5.0
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SmtpError(KarajoError):
    """The mail server could not be reached, or refused what was sent."""

    def __init__(self, message: str, *, is_permanent: bool = False) -> None:
        super().__init__(message)
        self.is_permanent = is_permanent


@dataclass(frozen=True)
class Reply:
    """A server reply: its code and the text of all its lines."""

    code: int
    lines: list[str]

    def __str__(self) -> str:
        return f"{self.code} {' '.join(line for line in self.lines if line)}".strip()


@dataclass(frozen=True)
class Login:
    """The user and password for AUTH; empty when the server needs none."""

    user: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class SendResult:
    """Who the server took the message for, and who it refused."""

    accepted: list[str]
    refused: dict[str, str]


async def send_message(
    server: SmtpServer,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    *,
    login: Login = Login(),
    insecure: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> SendResult:
    """Send one message to every recipient the server accepts.

    Raises SmtpError when the message could not be handed over at all,
    including when every recipient was refused.
    """
    context = ssl_context or make_ssl_context(insecure)
    try:
        with trio.fail_after(timeout):
            async with open_session(server, login, context) as session:
                return await session.send(sender, recipients, data)
    except trio.TooSlowError:
        raise _timed_out(timeout) from None


async def check_server(
    server: SmtpServer,
    *,
    login: Login = Login(),
    insecure: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Connect, log in and quit; raise SmtpError when any step fails."""
    context = ssl_context or make_ssl_context(insecure)
    try:
        with trio.fail_after(timeout):
            async with open_session(server, login, context):
                pass
    except trio.TooSlowError:
        raise _timed_out(timeout) from None


# Loading the system's certificates takes some 20ms of CPU in the event
# loop; a context serves any number of connections, so load them once.
@functools.cache
def make_ssl_context(insecure: bool) -> ssl.SSLContext:
    """The system's trusted certificates, or no checks at all when insecure."""
    context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@asynccontextmanager
async def open_session(
    server: SmtpServer, login: Login, context: ssl.SSLContext
) -> AsyncIterator[_Session]:
    """Connect, greet, encrypt and log in; QUIT and close on the way out.

    Failures of the connection, inside the block too, become SmtpError.
    """
    try:
        session = await _Session.connect(server, context)
    except OSError as error:
        raise SmtpError(f"cannot connect to {server}: {_reason(error)}") from error
    try:
        await session.start(login)
        yield session
        await session.quit()
    except SmtpError:
        await session.quit()
        raise
    except (trio.BrokenResourceError, trio.ClosedResourceError) as error:
        raise _transport_error(error.__cause__ or error) from error
    except OSError as error:
        raise _transport_error(error) from error
    finally:
        await session.close()


def _timed_out(timeout: float) -> SmtpError:
    return SmtpError(f"no answer from the server within {timeout:g}s")


def _transport_error(error: BaseException) -> SmtpError:
    if isinstance(error, ssl.SSLCertVerificationError):
        return SmtpError(
            f"the server's certificate is not trusted: {error.verify_message}; "
            "set smtp_insecure = true to accept a self-signed certificate",
            is_permanent=True,
        )
    if isinstance(error, ssl.SSLError):
        return SmtpError(f"TLS failed: {error.reason or error}")
    return SmtpError(f"the connection broke: {error or type(error).__name__}")


def _reason(error: OSError) -> str:
    """Why a connection failed; trio groups one error per address tried."""
    group = error.__cause__
    if isinstance(group, ExceptionGroup) and isinstance(group.exceptions[0], OSError):
        error = group.exceptions[0]
    if error.errno is not None:
        return os.strerror(error.errno)
    return str(error)


class _Session:
    """One connection to the server, after its greeting."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        server: SmtpServer,
        context: ssl.SSLContext,
        local: str,
    ) -> None:
        self.stream = stream
        self.server = server
        self.context = context
        self.local = local
        self.extensions: dict[str, str] = {}
        self._buffer = bytearray()

    @classmethod
    async def connect(cls, server: SmtpServer, context: ssl.SSLContext) -> _Session:
        tcp = await trio.open_tcp_stream(server.host, server.port)
        stream: trio.abc.Stream = tcp
        if server.is_implicit_tls:
            stream = trio.SSLStream(tcp, context, server_hostname=server.host)
        local = _address_literal(tcp.socket.getsockname()[0])
        return cls(stream, server, context, local)

    async def start(self, login: Login) -> None:
        if isinstance(self.stream, trio.SSLStream):
            await self.stream.do_handshake()
        self.expect(await self.read_reply(), (220,), "the greeting")
        await self.hello()
        if not self.server.is_implicit_tls:
            await self.start_tls()
        if login.user:
            await self.authenticate(login)

    async def hello(self) -> None:
        reply = await self.command(f"EHLO {self.local}", (250,), "EHLO")
        self.extensions = {}
        for line in reply.lines[1:]:
            keyword, _, params = line.partition(" ")
            self.extensions[keyword.upper()] = params

    async def start_tls(self) -> None:
        if "STARTTLS" not in self.extensions:
            raise SmtpError(
                "the server does not offer STARTTLS; use smtps:// if it "
                "speaks TLS from the start",
                is_permanent=True,
            )
        await self.command("STARTTLS", (220,), "STARTTLS")
        # RFC 3207 section 5: anything sent before the handshake could come
        # from an attacker in the middle; refuse rather than read it later.
        if self._buffer:
            raise SmtpError("the server sent data before the TLS handshake")
        stream = trio.SSLStream(
            self.stream, self.context, server_hostname=self.server.host
        )
        self.stream = stream
        await stream.do_handshake()
        await self.hello()

    async def authenticate(self, login: Login) -> None:
        mechanisms = self.extensions.get("AUTH", "").upper().split()
        if "PLAIN" in mechanisms:
            token = _b64(f"\0{login.user}\0{login.password}")
            reply = await self.command(f"AUTH PLAIN {token}", None, "AUTH")
        elif "LOGIN" in mechanisms:
            await self.command("AUTH LOGIN", (334,), "AUTH LOGIN")
            await self.command(_b64(login.user), (334,), "AUTH LOGIN")
            reply = await self.command(_b64(login.password), None, "AUTH LOGIN")
        else:
            raise SmtpError(
                "the server offers neither AUTH PLAIN nor AUTH LOGIN",
                is_permanent=True,
            )
        if reply.code != 235:
            raise SmtpError(
                f"login as {login.user!r} refused: {reply}",
                is_permanent=reply.code >= 500,
            )

    async def send(
        self, sender: str, recipients: Sequence[str], data: bytes
    ) -> SendResult:
        await self.command(f"MAIL FROM:<{sender}>", (250,), "MAIL FROM")
        accepted: list[str] = []
        refused: dict[str, str] = {}
        replies: list[Reply] = []
        for recipient in recipients:
            reply = await self.command(f"RCPT TO:<{recipient}>", None, "RCPT TO")
            if reply.code in (250, 251):
                accepted.append(recipient)
            else:
                refused[recipient] = str(reply)
                replies.append(reply)
        if not accepted:
            await self.command("RSET", None, "RSET")
            shown = "; ".join(f"{rcpt}: {why}" for rcpt, why in refused.items())
            raise SmtpError(
                f"every recipient was refused: {shown}",
                is_permanent=all(reply.code >= 500 for reply in replies),
            )
        await self.command("DATA", (354,), "DATA")
        await self.stream.send_all(_dot_stuffed(data))
        self.expect(await self.read_reply(), (250,), "the message")
        return SendResult(accepted, refused)

    async def quit(self) -> None:
        # The message is handed over already; a rude goodbye changes nothing.
        try:
            await self.stream.send_all(b"QUIT\r\n")
            await self.read_reply()
        except (SmtpError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    async def close(self) -> None:
        with trio.move_on_after(CLOSE_TIMEOUT) as scope:
            scope.shield = True
            await trio.aclose_forcefully(self.stream)

    async def command(
        self, line: str, expected: tuple[int, ...] | None, what: str
    ) -> Reply:
        """Send one command line; check the reply unless `expected` is None."""
        await self.stream.send_all(line.encode("utf-8") + b"\r\n")
        reply = await self.read_reply()
        if expected is not None:
            self.expect(reply, expected, what)
        return reply

    def expect(self, reply: Reply, expected: tuple[int, ...], what: str) -> None:
        if reply.code not in expected:
            raise SmtpError(f"{what} refused: {reply}", is_permanent=reply.code >= 500)

    async def read_reply(self) -> Reply:
        """Read the lines of one reply, `250-...` up to `250 ...`."""
        lines: list[str] = []
        while True:
            raw = await self._read_line()
            code, separator, text = raw[:3], raw[3:4], raw[4:]
            if not code.isdigit() or separator not in (b"-", b" ", b""):
                raise SmtpError(f"not an SMTP reply: {raw[:80]!r}")
            lines.append(text.decode("utf-8", "replace"))
            if separator != b"-":
                return Reply(int(code), lines)

    async def _read_line(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end]).rstrip(b"\r")
                del self._buffer[: end + 1]
                return line
            if len(self._buffer) > REPLY_LINE_LIMIT:
                raise SmtpError("a reply line from the server is too long")
            chunk = await self.stream.receive_some(READ_SIZE)
            if not chunk:
                raise SmtpError("the server closed the connection")
            self._buffer += chunk


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _address_literal(address: str) -> str:
    """Our own address in EHLO's form (RFC 5321 4.1.3), with no DNS look-up."""
    if ":" in address:
        return f"[IPv6:{address}]"
    return f"[{address}]"


def _dot_stuffed(data: bytes) -> bytes:
    """The DATA payload: CRLF lines, leading dots doubled, `.` at the end.

    RFC 5321 2.3.8 forbids bare CR and LF, and 4.5.2 asks for the dots.
    """
    lines = _LINE_END.split(data)
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"".join(line + b"\r\n" for line in stuffed) + b".\r\n"
