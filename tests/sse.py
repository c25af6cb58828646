"""Reading Server-Sent Events over a plain socket, for the tests.

httpx's streaming iterators are chains of async generators that cannot be
closed early without trio warning about each one, and a dashboard stream
never ends by itself; so the tests speak HTTP/1.0 on a socket instead,
which also makes the server delimit the body by closing the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import trio

Event = tuple[str, Any]
_READ_SIZE = 65536


class EventReader:
    """The events of one open stream, read in as many steps as a test needs."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = b""
        self.status = 0
        self.headers: dict[str, str] = {}

    async def read_head(self) -> None:
        head = await self._read_through(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status_line.split()[1])
        for line in lines:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    async def _read_through(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            data = await self._stream.receive_some(_READ_SIZE)
            if not data:
                raise EOFError(f"the stream ended; it left {self._buffer!r}")
            self._buffer += data
        part, _, self._buffer = self._buffer.partition(marker)
        return part

    async def next_event(self) -> Event | None:
        """The next event, or None for a comment block."""
        block = (await self._read_through(b"\n\n")).decode()
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data.append(line[len("data: ") :])
        return (name, json.loads("\n".join(data))) if data else None

    async def until(
        self, is_done: Callable[[list[Event]], bool], timeout: float = 15
    ) -> list[Event]:
        """Events read until `is_done` holds for those read in this step."""
        received: list[Event] = []
        with trio.fail_after(timeout):
            while True:
                try:
                    event = await self.next_event()
                except EOFError:
                    raise AssertionError(f"the stream ended; it sent {received!r}")
                if event is None:
                    continue
                received.append(event)
                if is_done(received):
                    return received

    async def rest(self) -> bytes:
        """Whatever the server sends until it closes the connection."""
        while data := await self._stream.receive_some(_READ_SIZE):
            self._buffer += data
        return self._buffer


@asynccontextmanager
async def open_events(
    client: httpx.AsyncClient, path: str
) -> AsyncIterator[EventReader]:
    """GET `path` on the client's server with its cookies; yield the reader."""
    url = urlsplit(str(client.base_url))
    stream = await trio.open_tcp_stream(url.hostname, url.port)
    async with stream:
        cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        request = (
            f"GET {path} HTTP/1.0\r\nHost: {url.netloc}\r\n"
            f"Accept: text/event-stream\r\nCookie: {cookies}\r\n\r\n"
        )
        await stream.send_all(request.encode())
        reader = EventReader(stream)
        await reader.read_head()
        yield reader


def last_is(name: str) -> Callable[[list[Event]], bool]:
    return lambda received: received[-1][0] == name
