"""HTTP jobs: each run sends one signed HTTP request, to another server or karajo.

Where a run puts `_karajo_epoch`, the Unix time of the run:

    http_request_type  POST and PUT                  GET and DELETE
    query (default)    the query string              the query string
    form               the body, url-encoded form    the query string
    json               the body, {"_karajo_epoch":N}  the query string

GET and DELETE carry no body, as in the original, whose documentation
limits form and json to POST and PUT.  The signature, in the header named
by `header_sign`, is the hex HMAC-SHA256 with the job's secret of exactly
the bytes that carry the epoch: the whole raw query string as sent (any
query of `http_url` included) or the body.

A run succeeds when the final answer (redirects are followed, as Go's
client does) has status 200.  Its log holds the request and the response
with their headers; credential header values are masked and a long
response body is cut after RESPONSE_LOG_LIMIT bytes with a note.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import trio

from karajo import __version__
from karajo.client import loopback_url
from karajo.config import Environment, JobHttpConfig
from karajo.duration import SECOND, format_duration
from karajo.errors import JobError
from karajo.job import Clock, Job, StartRequest, wall_clock
from karajo.log_store import RunLog
from karajo.webhook_auth import sign_hmac_sha256

logger = logging.getLogger(__name__)

EPOCH_PARAM = "_karajo_epoch"
# The log keeps this much of a response body; the rest is counted, not kept.
RESPONSE_LOG_LIMIT = 64 * 1024
# Past this, the rest of a body is not even read: the note says "more than".
RESPONSE_READ_LIMIT = 64 * 1024 * 1024
MASK = "***"
# How long closing a connection may take once a run is canceled, in seconds.
CLOSE_GRACE = 5.0
# Header names whose values are credentials wherever they appear.
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)
_CREDENTIAL_WORDS = ("token", "key", "secret", "password", "auth")
_E = TypeVar("_E", bound=BaseException)
_BODYLESS_METHODS = ("GET", "DELETE")
_CONTENT_TYPES = {
    "form": "application/x-www-form-urlencoded",
    "json": "application/json",
}


class HttpJob(Job):
    """A `[job.http "NAME"]` at run time."""

    kind = "job_http"
    log_subdir = "job_http"
    config: JobHttpConfig

    def __init__(
        self, config: JobHttpConfig, env: Environment, clock: Clock = wall_clock
    ) -> None:
        super().__init__(config, env, clock)
        # Where a `/...` http_url goes; the server sets its real bound address
        # (it may listen on port 0) before the job's task starts.
        self.self_url = loopback_url("http://" + env.karajo.listen_address)

    @property
    def timeout(self) -> int | None:
        """The run's time limit in nanoseconds; None when there is none."""
        timeout = self.config.http_timeout or self.env.karajo.http_timeout
        return timeout if timeout > 0 else None

    @property
    def is_self_target(self) -> bool:
        return self.config.http_url.startswith("/")

    def _keep_headers_home(self, first: httpx.Request):  # noqa: ANN202 - an httpx hook
        """A hook that drops the signature and extra headers on a redirect
        to another origin: they were meant for the configured server only."""
        home = (first.url.scheme, first.url.host, first.url.port)
        private = {self.config.header_sign.lower(), "authorization", "cookie"}
        private |= {
            header.partition(":")[0].strip().lower()
            for header in self.config.http_headers
        }

        async def hook(outgoing: httpx.Request) -> None:
            if (outgoing.url.scheme, outgoing.url.host, outgoing.url.port) != home:
                for name in private:
                    outgoing.headers.pop(name, None)

        return hook

    async def execute(self, run_log: RunLog, request: StartRequest) -> None:
        run_log.line("=== BEGIN")
        epoch = int(self.clock().timestamp())
        # Proxies from the environment are for the outside world, not for
        # karajo's own loopback address.
        client = httpx.AsyncClient(
            verify=not self.config.http_insecure,
            timeout=None,
            follow_redirects=True,
            trust_env=not self.is_self_target,
        )
        async with _closing(client):
            outgoing = self.build_request(client, epoch)
            client.event_hooks["request"].append(self._keep_headers_home(outgoing))
            _log_request(run_log, outgoing, self.masked_names)
            try:
                status, reason = await self._send_within_timeout(
                    client, outgoing, run_log
                )
            except JobError as error:
                self._warn(run_log, str(error))
                raise
        if status != httpx.codes.OK:
            reason = f"the answer is {status} {reason}, not 200 OK"
            self._warn(run_log, reason)
            raise JobError(reason)
        run_log.line("=== DONE")

    def _warn(self, run_log: RunLog, reason: str) -> None:
        logger.warning("job_http %s run %d: %s", self.id, run_log.counter, reason)

    def build_request(self, client: httpx.AsyncClient, epoch: int) -> httpx.Request:
        """The signed request of one run, exactly as it will be sent."""
        config = self.config
        url = (
            self.self_url + config.http_url if self.is_self_target else config.http_url
        )
        in_body = (
            config.http_request_type in _CONTENT_TYPES
            and config.http_method not in _BODYLESS_METHODS
        )
        body = b""
        if in_body:
            body = _epoch_body(config.http_request_type, epoch)
        else:
            url = _with_query_param(url, f"{EPOCH_PARAM}={epoch}")

        headers = httpx.Headers({"User-Agent": f"karajo/{__version__}"})
        if in_body:
            headers["Content-Type"] = _CONTENT_TYPES[config.http_request_type]
        for name, value in parse_headers(config.http_headers):
            headers[name] = value
        outgoing = client.build_request(
            config.http_method, url, headers=headers, content=body or None
        )
        # Sign what httpx will put on the wire, after its URL normalisation.
        signed = body if in_body else outgoing.url.query
        outgoing.headers[config.header_sign] = sign_hmac_sha256(signed, config.secret)
        return outgoing

    @property
    def masked_names(self) -> frozenset[str]:
        """Lower-case names of the headers whose values the log hides."""
        names = {name.lower() for name, _ in parse_headers(self.config.http_headers)}
        masked = {name for name in names if is_credential_header(name)}
        return frozenset(
            masked | _CREDENTIAL_HEADERS | {self.config.header_sign.lower()}
        )

    async def _send_within_timeout(
        self, client: httpx.AsyncClient, outgoing: httpx.Request, run_log: RunLog
    ) -> tuple[int, str]:
        timeout = self.timeout
        if timeout is None:
            return await _send(client, outgoing, run_log, self.masked_names)
        # One deadline for the whole exchange: httpx's own timeouts apply per
        # read, so a server trickling bytes would never trip them.
        with trio.move_on_after(timeout / SECOND):
            return await _send(client, outgoing, run_log, self.masked_names)
        raise JobError(
            f"no complete answer from {_host_port(outgoing.url)} within "
            f"{format_duration(timeout)} (http_timeout)"
        )

    def to_json(self) -> dict[str, object]:
        config = self.config
        data = super().to_json()
        masked = self.masked_names
        data.update(
            http_method=config.http_method,
            http_url=config.http_url,
            http_request_type=config.http_request_type,
            http_headers=[
                f"{name}: {MASK if name.lower() in masked else value}"
                for name, value in parse_headers(config.http_headers)
            ],
            # The original shows the effective timeout, 0 for none.
            http_timeout=self.timeout or 0,
            http_insecure=config.http_insecure,
        )
        return data


def parse_headers(lines: Iterable[str]) -> list[tuple[str, str]]:
    """Split `Name: value` lines, as the config already checked them."""
    pairs = []
    for line in lines:
        name, _, value = line.partition(":")
        pairs.append((name.strip(), value.strip()))
    return pairs


def is_credential_header(name: str) -> bool:
    lowered = name.lower()
    return lowered in _CREDENTIAL_HEADERS or any(
        word in lowered for word in _CREDENTIAL_WORDS
    )


def _epoch_body(request_type: str, epoch: int) -> bytes:
    if request_type == "json":
        return json.dumps({EPOCH_PARAM: epoch}, separators=(",", ":")).encode()
    return f"{EPOCH_PARAM}={epoch}".encode()


def _with_query_param(url: str, param: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{param}" if parts.query else param
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _host_port(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}"


# The exchange and its log.


async def _send(
    client: httpx.AsyncClient,
    outgoing: httpx.Request,
    run_log: RunLog,
    masked: frozenset[str],
) -> tuple[int, str]:
    """Send, log the answer; return its status code and reason phrase."""
    try:
        response = await client.send(outgoing, stream=True)
        async with _closing(response):
            for earlier in response.history:
                run_log.line(
                    f"--- redirected: {earlier.status_code} {earlier.reason_phrase} "
                    f"to {earlier.headers.get('location', '?')}"
                )
            _log_response_head(run_log, response, masked)
            await _log_response_body(run_log, response)
    except httpx.HTTPError as error:
        raise JobError(describe_http_error(error, outgoing.url)) from error
    return response.status_code, _reason(response)


@asynccontextmanager
async def _closing(
    resource: httpx.AsyncClient | httpx.Response,
) -> AsyncIterator[None]:
    """Close `resource` at the end, even when the run is being canceled."""
    try:
        yield
    finally:
        # Unshielded, a cancel would leave the socket open until the garbage
        # collector finds it; the grace bounds a peer that stalls the close.
        with trio.move_on_after(CLOSE_GRACE, shield=True):
            await resource.aclose()


def _log_request(
    run_log: RunLog, outgoing: httpx.Request, masked: frozenset[str]
) -> None:
    run_log.line("--- HTTP request:")
    target = outgoing.url.raw_path.decode("ascii", "replace")
    run_log.line(f"{outgoing.method} {target} HTTP/1.1")
    _log_headers(run_log, outgoing.headers.raw, masked)
    run_log.line("")
    if outgoing.content:
        run_log.write(outgoing.content)
        _end_line(run_log, outgoing.content)


def _log_response_head(
    run_log: RunLog, response: httpx.Response, masked: frozenset[str]
) -> None:
    run_log.line("")
    run_log.line("--- HTTP response:")
    run_log.line(f"{response.http_version} {response.status_code} {_reason(response)}")
    _log_headers(run_log, response.headers.raw, masked)
    run_log.line("")


def _log_headers(
    run_log: RunLog, raw: list[tuple[bytes, bytes]], masked: frozenset[str]
) -> None:
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1")
        value = value_bytes.decode("latin-1")
        if name.lower() in masked or is_credential_header(name):
            value = MASK
        run_log.line(f"{name}: {value}")


async def _log_response_body(run_log: RunLog, response: httpx.Response) -> None:
    kept = 0
    left_out = 0
    last = b""
    async for chunk in response.aiter_bytes():
        room = RESPONSE_LOG_LIMIT - kept
        if room > 0 and chunk:
            last = chunk[:room]
            run_log.write(last)
            kept += len(last)
        left_out += max(len(chunk) - max(room, 0), 0)
        if kept + left_out >= RESPONSE_READ_LIMIT:
            run_log.line(
                f"[... more than {left_out} bytes of the body left out; "
                f"the log keeps the first {kept} and stopped reading ...]"
            )
            return
    if left_out:
        run_log.line(
            f"[... {left_out} bytes of the body left out; "
            f"the log keeps the first {kept} ...]"
        )
    else:
        _end_line(run_log, last)


def _reason(response: httpx.Response) -> str:
    # HTTP/2 and some HTTP/1.1 servers (hypercorn) send no reason phrase.
    return response.reason_phrase or httpx.codes.get_reason_phrase(response.status_code)


def _end_line(run_log: RunLog, written: bytes) -> None:
    """End the line of output that did not end with a newline."""
    if written and not written.endswith(b"\n"):
        run_log.write(b"\n")


def describe_http_error(error: httpx.HTTPError, url: httpx.URL) -> str:
    """One line saying why an exchange failed, without a traceback."""
    where = _host_port(url)
    tls = _find_cause(error, ssl.SSLError)
    if isinstance(tls, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate of {where} refused: {tls.verify_message}; "
            "set http_insecure = true to accept any certificate"
        )
    if tls is not None:
        return f"TLS with {where} failed: {tls.reason or tls}"
    if isinstance(error, httpx.ConnectError):
        cause = _find_cause(error, OSError, with_errno=True)
        # trio words its own strerror ("Error connecting to ..."); the errno's
        # standard text is the short part.
        reason = os.strerror(cause.errno) if cause and cause.errno else str(error)
        return f"cannot connect to {where}: {reason}"
    if isinstance(error, httpx.RemoteProtocolError):
        return f"{where} broke the HTTP exchange: {_one_line(error)}"
    return f"request to {where} failed: {type(error).__name__}: {_one_line(error)}"


def _find_cause(
    error: BaseException, kind: type[_E], *, with_errno: bool = False
) -> _E | None:
    """The first `kind` among an exception's causes, arguments and groups."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind) and (
            not with_errno or getattr(current, "errno", None)
        ):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
