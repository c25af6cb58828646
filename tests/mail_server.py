"""A real SMTP server on loopback for the mail tests: aiosmtpd in a thread.

It speaks TLS from the first byte (`smtps`) or after STARTTLS (`starttls`),
with a self-signed certificate made here, and requires a login.  What it
receives is kept in `messages`.
"""

from __future__ import annotations

import datetime
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

USER = "karajo"
# Distinctive, so that a leak into a log line cannot go unnoticed.
PASSWORD = "pw-Zq8-unlikely-text"


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, with its key."""

    cert_path: Path
    key_path: Path


def make_certificate(directory: Path) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "karajo test")])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        # Its own CA too, so a test can trust it and see verification pass.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "smtp-cert.pem"
    key_path = directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


@dataclass
class _Recorder:
    """The aiosmtpd handler: keeps messages, refuses chosen recipients."""

    refused: set[str] = field(default_factory=set)
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        if address in self.refused:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: Any, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.envelopes.append(
            (envelope.mail_from or "", list(envelope.rcpt_tos), content)
        )
        return "250 OK queued"

    def authenticate(
        self,
        server: Any,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        self.logins.append(mechanism)
        is_ok = auth_data.login == USER.encode() and (
            auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=is_ok, handled=False)


class _ImplicitTlsSmtp(SMTP):
    """aiosmtpd counts only STARTTLS as TLS; this connection is TLS from the start."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Read only as "is TLS on" by EHLO and AUTH, while no STARTTLS happens.
        self._tls_protocol = transport


class _Controller(Controller):
    def __init__(self, *args: Any, is_implicit_tls: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_implicit_tls = is_implicit_tls

    def factory(self) -> SMTP:
        if self.is_implicit_tls:
            return _ImplicitTlsSmtp(self.handler, **self.SMTP_kwargs)
        return SMTP(self.handler, **self.SMTP_kwargs)


class MailServer:
    """aiosmtpd on 127.0.0.1; `stop` and `start` again keep the same port."""

    def __init__(
        self,
        certificate: Certificate,
        mode: str,
        *,
        mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN"),
        offer_starttls: bool = True,
    ) -> None:
        self.certificate = certificate
        self.mode = mode
        self.port = free_port()
        self.recorder = _Recorder()
        self._excluded = [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]
        self._offer_starttls = offer_starttls
        self._controller: _Controller | None = None

    @property
    def url(self) -> str:
        scheme = "smtps" if self.mode == "smtps" else "smtp+starttls"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def refused(self) -> set[str]:
        return self.recorder.refused

    @property
    def logins(self) -> list[str]:
        return self.recorder.logins

    @property
    def envelopes(self) -> list[tuple[str, list[str], bytes]]:
        return self.recorder.envelopes

    @property
    def messages(self) -> list[EmailMessage]:
        parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
        return [parser.parsebytes(content) for _, _, content in self.envelopes]

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate.cert_path, self.certificate.key_path)
        options: dict[str, Any] = {
            "authenticator": self.recorder.authenticate,
            "auth_required": True,
            "auth_exclude_mechanism": self._excluded,
        }
        if self.mode == "smtps":
            options.update(ssl_context=context)
        elif self._offer_starttls:
            options.update(tls_context=context, require_starttls=True)
        self._controller = _Controller(
            self.recorder,
            hostname="127.0.0.1",
            port=self.port,
            is_implicit_tls=self.mode == "smtps",
            **options,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait_for_messages(
        self, count: int, timeout: float = 10
    ) -> list[EmailMessage]:
        with trio.fail_after(timeout):
            while len(self.envelopes) < count:
                await trio.sleep(0.01)
        return self.messages


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path)


@pytest.fixture(params=["smtps", "starttls"])
def mail_server(
    request: pytest.FixtureRequest, certificate: Certificate
) -> Iterator[MailServer]:
    """A running mail server, once with implicit TLS and once with STARTTLS."""
    server = MailServer(certificate, request.param)
    server.start()
    yield server
    server.stop()
