"""A client of karajo's HTTP API, for scripts and for the command line.

    with Client("http://127.0.0.1:31937", secret="...") as karajo:
        karajo.job_exec_run("deploy")
        print(karajo.job_exec_log("deploy", 1).text)

Calls that change a job are signed with the global secret the way the
server checks them: exec jobs over the form body, HTTP jobs over the raw
query string, webhooks over the body.  Reading calls need a session when
the server has users: call `login` first, the client keeps the cookie.
Every failure raises KarajoClientError with the server's code, name and
message; code 0 means the server was not reached or did not answer.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from karajo.errors import KarajoError
from karajo.webhook_auth import DEFAULT_HEADER_SIGN, sign_hmac_sha256

API = "/karajo/api"
DEFAULT_TIMEOUT = 30.0
_FORM = "application/x-www-form-urlencoded"


class KarajoClientError(KarajoError):
    """A call failed; `code` is the HTTP status, 0 when there was no answer."""

    def __init__(self, code: int, name: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.name = name
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.code} {self.name})"


@dataclass(frozen=True)
class JobLog:
    """One run's log, its content decoded from the API's base64."""

    job_id: str
    name: str
    status: str
    counter: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class Client:
    """Synchronous calls to one karajo server, over one connection pool."""

    def __init__(
        self,
        server_url: str,
        secret: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.secret = secret
        self._http = httpx.Client(
            base_url=self.server_url, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Session and environment.

    def login(self, name: str, password: str) -> None:
        """Sign in; later calls carry the session cookie."""
        self._call("POST", "/auth/login", data={"name": name, "password": password})

    def logout(self) -> None:
        self._call("POST", "/auth/logout")

    def environment(self) -> dict[str, Any]:
        """The server's settings with every job: `jobs` and `http_jobs` by name."""
        return self._call("GET", "/environment")

    # Exec jobs.

    def webhook(
        self,
        path: str,
        body: bytes | None = None,
        *,
        secret: str | None = None,
        header_sign: str = DEFAULT_HEADER_SIGN,
    ) -> dict[str, Any]:
        """Call an hmac-sha256 job's webhook; the body defaults to the epoch."""
        if body is None:
            body = json.dumps({"_karajo_epoch": _epoch()}).encode()
        signature = sign_hmac_sha256(body, self._secret(secret))
        return self._call(
            "POST",
            "/job_exec/run/" + path.lstrip("/"),
            content=body,
            headers={header_sign: signature, "Content-Type": "application/json"},
        )

    def job_exec_run(self, job_id: str) -> dict[str, Any]:
        return self._exec_control("run", job_id)

    def job_exec_pause(self, job_id: str) -> dict[str, Any]:
        return self._exec_control("pause", job_id)

    def job_exec_resume(self, job_id: str) -> dict[str, Any]:
        return self._exec_control("resume", job_id)

    def job_exec_cancel(self, job_id: str) -> dict[str, Any]:
        return self._exec_control("cancel", job_id)

    def job_exec_log(self, job_id: str, counter: int) -> JobLog:
        return self._log("/job_exec/log", job_id, counter)

    def _exec_control(self, action: str, job_id: str) -> dict[str, Any]:
        body = _signed_params(job_id).encode()
        return self._call(
            "POST",
            f"/job_exec/{action}",
            content=body,
            headers={DEFAULT_HEADER_SIGN: self._sign(body), "Content-Type": _FORM},
        )

    # HTTP jobs.

    def job_http(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", "/job_http", params={"id": job_id})

    def job_http_run(self, job_id: str) -> dict[str, Any]:
        return self._http_control("run", job_id)

    def job_http_pause(self, job_id: str) -> dict[str, Any]:
        return self._http_control("pause", job_id)

    def job_http_resume(self, job_id: str) -> dict[str, Any]:
        return self._http_control("resume", job_id)

    def job_http_cancel(self, job_id: str) -> dict[str, Any]:
        return self._http_control("cancel", job_id)

    def job_http_log(self, job_id: str, counter: int) -> JobLog:
        return self._log("/job_http/log", job_id, counter)

    def _http_control(self, action: str, job_id: str) -> dict[str, Any]:
        # The query goes into the URL as is, so the bytes signed are the
        # bytes the server reads.
        query = _signed_params(job_id)
        return self._call(
            "POST",
            f"/job_http/{action}?{query}",
            headers={DEFAULT_HEADER_SIGN: self._sign(query.encode())},
        )

    # Plumbing.

    def _log(self, path: str, job_id: str, counter: int) -> JobLog:
        data = self._call("GET", path, params={"id": job_id, "counter": counter})
        try:
            content = base64.b64decode(data.get("content") or "", validate=True)
            return JobLog(
                data["job_id"], data["name"], data["status"], data["counter"], content
            )
        except (KeyError, ValueError) as error:
            raise KarajoClientError(
                200, "ERR_BAD_ANSWER", f"the log in the answer is malformed: {error}"
            ) from None

    def _secret(self, secret: str | None = None) -> str:
        secret = secret or self.secret
        if not secret:
            raise ValueError("this call is signed: give the client a secret")
        return secret

    def _sign(self, payload: bytes) -> str:
        return sign_hmac_sha256(payload, self._secret())

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send one request; return the answer's `data` ({} for none) or raise."""
        try:
            response = self._http.request(method, API + path, **kwargs)
        except httpx.TransportError as error:
            raise KarajoClientError(
                0,
                "ERR_CONNECTION",
                f"no answer from {self.server_url}: {_reason(error)}",
            ) from None
        return _data_of(response)


def _data_of(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "code" not in answer:
        first_line = response.text.strip().splitlines()[:1] or [response.reason_phrase]
        raise KarajoClientError(
            response.status_code,
            "ERR_NOT_KARAJO",
            f"{response.request.url} did not answer in karajo's JSON: "
            f"{first_line[0][:200]}",
        )
    code = int(answer.get("code") or response.status_code)
    if response.status_code >= 400 or code >= 400:
        raise KarajoClientError(
            code, str(answer.get("name", "")), str(answer.get("message", ""))
        )
    data = answer.get("data")
    return data if isinstance(data, dict) else {}


def loopback_url(base_url: str) -> str:
    """A URL that reaches a server bound to `base_url`, from the same host."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host in ("", "0.0.0.0"):
        netloc = f"127.0.0.1:{parts.port}"
    elif host == "::":
        netloc = f"[::1]:{parts.port}"
    else:
        return base_url.rstrip("/")
    return urlunsplit((parts.scheme, netloc, "", "", ""))


def _signed_params(job_id: str) -> str:
    return urlencode([("_karajo_epoch", _epoch()), ("id", job_id)])


def _epoch() -> int:
    return int(time.time())


def _reason(error: httpx.TransportError) -> str:
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = str(cause) or type(cause).__name__
    return " ".join(text.split())
