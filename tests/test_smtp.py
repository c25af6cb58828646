"""The SMTP client against a real aiosmtpd server on loopback."""

from __future__ import annotations

import ssl
from functools import partial

import pytest
import trio

from karajo import smtp
from karajo.config import SmtpServer, parse_smtp_server
from tests.mail_server import (
    PASSWORD,
    USER,
    Certificate,
    MailServer,
)

LOGIN = smtp.Login(USER, PASSWORD)
MESSAGE = (
    b"Subject: test\r\nFrom: k@example.test\r\n\r\n"
    b".a dot first\r\n..two dots\r\nlast line\r\n"
)
TO = ["alice@example.test", "bob@example.test"]


def server_of(mail_server: MailServer) -> SmtpServer:
    return parse_smtp_server(mail_server.url)


async def send(
    mail_server: MailServer,
    *,
    login: smtp.Login = LOGIN,
    insecure: bool = True,
    ssl_context: ssl.SSLContext | None = None,
) -> smtp.SendResult:
    return await smtp.send_message(
        server_of(mail_server),
        "karajo@example.test",
        TO,
        MESSAGE,
        login=login,
        insecure=insecure,
        ssl_context=ssl_context,
        timeout=10,
    )


async def test_send_delivers_one_message_to_every_recipient(
    mail_server: MailServer,
) -> None:
    result = await send(mail_server)

    assert result == smtp.SendResult(accepted=TO, refused={})
    [(sender, recipients, content)] = mail_server.envelopes
    assert (sender, recipients) == ("karajo@example.test", TO)
    # aiosmtpd undoes the dot-stuffing: the text arrives as it was.
    assert content == MESSAGE
    assert mail_server.logins == ["PLAIN"]


async def test_send_uses_auth_login_when_plain_is_not_offered(
    certificate: Certificate,
) -> None:
    mail_server = MailServer(certificate, "starttls", mechanisms=("LOGIN",))
    mail_server.start()
    try:
        await send(mail_server)
    finally:
        mail_server.stop()

    assert mail_server.logins == ["LOGIN"]
    assert len(mail_server.envelopes) == 1


async def test_send_verifies_certificate_of_trusted_issuer(
    mail_server: MailServer, certificate: Certificate
) -> None:
    context = ssl.create_default_context(cafile=str(certificate.cert_path))

    await send(mail_server, insecure=False, ssl_context=context)

    assert len(mail_server.envelopes) == 1


async def test_send_refuses_self_signed_certificate_unless_insecure(
    mail_server: MailServer,
) -> None:
    with pytest.raises(smtp.SmtpError) as caught:
        await send(mail_server, insecure=False)

    assert caught.value.is_permanent
    assert str(caught.value) == (
        "the server's certificate is not trusted: self-signed certificate; "
        "set smtp_insecure = true to accept a self-signed certificate"
    )
    assert mail_server.envelopes == []


async def test_send_with_wrong_password_fails_for_good(
    mail_server: MailServer,
) -> None:
    with pytest.raises(smtp.SmtpError) as caught:
        await send(mail_server, login=smtp.Login(USER, "wrong"))

    assert caught.value.is_permanent
    assert str(caught.value) == (
        "login as 'karajo' refused: 535 5.7.8 Authentication credentials invalid"
    )


async def test_send_skips_refused_recipient(mail_server: MailServer) -> None:
    mail_server.refused.add("bob@example.test")

    result = await send(mail_server)

    assert result.accepted == ["alice@example.test"]
    assert result.refused == {
        "bob@example.test": "550 5.1.1 <bob@example.test>: no such mailbox"
    }
    assert mail_server.envelopes[0][1] == ["alice@example.test"]


async def test_send_with_every_recipient_refused_fails_for_good(
    mail_server: MailServer,
) -> None:
    mail_server.refused.update(TO)

    with pytest.raises(smtp.SmtpError, match="every recipient was refused") as caught:
        await send(mail_server)

    assert caught.value.is_permanent
    assert mail_server.envelopes == []


async def test_send_to_stopped_server_fails_for_now(mail_server: MailServer) -> None:
    mail_server.stop()

    with pytest.raises(smtp.SmtpError) as caught:
        await send(mail_server)

    assert not caught.value.is_permanent
    assert str(caught.value) == (
        f"cannot connect to {server_of(mail_server)}: Connection refused"
    )


async def test_starttls_not_offered_fails_before_login(
    certificate: Certificate,
) -> None:
    mail_server = MailServer(certificate, "starttls", offer_starttls=False)
    mail_server.start()
    try:
        with pytest.raises(smtp.SmtpError, match="does not offer STARTTLS") as caught:
            await send(mail_server)
    finally:
        mail_server.stop()

    assert caught.value.is_permanent
    assert mail_server.logins == []


async def test_silent_server_times_out(autojump_clock: trio.abc.Clock) -> None:
    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(
            partial(trio.serve_tcp, silent, 0, host="127.0.0.1")
        )
        port = listener.socket.getsockname()[1]
        server = SmtpServer("127.0.0.1", port, is_implicit_tls=False)

        with pytest.raises(smtp.SmtpError) as caught:
            await smtp.check_server(server, timeout=30)
        nursery.cancel_scope.cancel()

    assert str(caught.value) == "no answer from the server within 30s"
    assert not caught.value.is_permanent
