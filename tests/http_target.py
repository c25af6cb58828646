"""A recording HTTP/1.1 server on loopback, on h11 so that a test decides every byte.

It answers every request with `Target.status` and `Target.body`, or never
answers when `hang` is set, and keeps what arrived in `received`.  With a
TLS context it speaks HTTPS with the self-signed certificate of
`tests.mail_server.make_certificate`.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import h11
import trio

from tests.mail_server import make_certificate


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    """How the recording server answers; `hang` never answers."""

    status: int = 200
    body: bytes = b"pong\n"
    headers: list[tuple[str, str]] = field(default_factory=list)
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def handle(self, stream: trio.abc.Stream) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            request, body = await _read_request(connection, stream)
        except trio.BrokenResourceError:
            # A client that refused our TLS certificate hung up.
            return
        target = urlsplit(request.target.decode())
        self.received.append(
            Received(
                request.method.decode(),
                target.path,
                target.query,
                {k.decode().lower(): v.decode() for k, v in request.headers},
                body,
            )
        )
        if self.hang:
            await trio.sleep_forever()
        headers = [("Content-Length", str(len(self.body))), *self.headers]
        for event in (
            h11.Response(
                status_code=self.status,
                headers=headers,
                reason=HTTPStatus(self.status).phrase,
            ),
            h11.Data(data=self.body),
            h11.EndOfMessage(),
        ):
            await stream.send_all(connection.send(event))
        await stream.aclose()


async def _read_request(
    connection: h11.Connection, stream: trio.abc.Stream
) -> tuple[h11.Request, bytes]:
    request = None
    body = b""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await stream.receive_some(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, body


async def serve_target(
    nursery: trio.Nursery, target: Target, tls: ssl.SSLContext | None = None
) -> Target:
    if tls is None:
        listeners = await nursery.start(
            partial(trio.serve_tcp, target.handle, 0, host="127.0.0.1")
        )
        scheme, port = "http", listeners[0].socket.getsockname()[1]
    else:
        listeners = await nursery.start(
            partial(trio.serve_ssl_over_tcp, target.handle, 0, tls, host="127.0.0.1")
        )
        scheme = "https"
        port = listeners[0].transport_listener.socket.getsockname()[1]
    target.url = f"{scheme}://127.0.0.1:{port}"
    return target


def tls_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 signed by itself."""
    certificate = make_certificate(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_path, certificate.key_path)
    return context
