"""E-mail notifications end to end: the real server, a real SMTP server.

Every test here also checks, on the way out, that no log line of karajo
holds the SMTP password, right or wrong, plain or base64.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import pytest
import trio

from karajo.config import parse_smtp_server
from karajo.errors import ConfigErrors
from karajo.job import FinishedRun
from karajo.notifier import Notifier, RetryPolicy
from tests.conftest import ConfigTree, free_port, trigger
from tests.mail_server import (
    PASSWORD,
    USER,
    Certificate,
    MailServer,
)

PASSWORD_VARIABLE = "KARAJO_TEST_SMTP_PASSWORD"
WRONG_PASSWORD = "wrong-Kx3-password"
TO = ["alice@example.test", "bob@example.test"]
NOT_AN_ADDRESS = (
    "is not one ASCII address like user@example.org or Name <user@example.org>"
)
FAST_RETRY = RetryPolicy(attempts=30, first_delay=0.1, factor=1.5, max_delay=0.5)

JOBS = """\
    [job "good"]
    path = /good
    notif_on_success = ops
    notif_on_failed = ops
    command = echo all is well, héllo ✓

    [job "bad"]
    path = /bad
    notif_on_success = ops
    notif_on_failed = ops
    command = echo about to fail
    command = false
    command = echo never reached

    [job "slow"]
    path = /slow
    notif_on_success = ops
    command = sleep 0.5
    command = echo slept
    """


def notif_section(url: str, *, insecure: bool = True, extra: str = "") -> str:
    return f"""\
    [notif "ops"]
    kind = email
    smtp_server = {url}
    smtp_user = {USER}
    smtp_password = ${PASSWORD_VARIABLE}
    smtp_insecure = {"true" if insecure else "false"}
    from = Karajo <karajo@example.test>
    to = {TO[0]}
    to = Bob <{TO[1]}>
    {extra}
    """


@pytest.fixture(autouse=True)
def karajo_logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.LogCaptureFixture]:
    monkeypatch.setenv(PASSWORD_VARIABLE, PASSWORD)
    caplog.set_level(logging.DEBUG, logger="karajo")
    yield caplog
    secrets = [PASSWORD, WRONG_PASSWORD]
    secrets += [
        base64.b64encode(f"\0{USER}\0{word}".encode()).decode() for word in secrets
    ]
    secrets += [base64.b64encode(word.encode()).decode() for word in secrets[:2]]
    for record in caplog.records:
        if record.name.startswith("karajo"):
            line = record.getMessage()
            assert not any(secret in line for secret in secrets), line


def lines_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.name == "karajo.notifier" and text in record.getMessage()
    ]


async def wait_for_line(
    caplog: pytest.LogCaptureFixture, text: str, timeout: float = 10
) -> str:
    with trio.fail_after(timeout):
        while not (found := lines_about(caplog, text)):
            await trio.sleep(0.01)
    return found[0]


# The acceptance: a success and a failure, each mailed to every `to`.


async def test_success_and_failure_mail_every_recipient(
    tree: ConfigTree, start_server, mail_server: MailServer, karajo_logs
) -> None:
    tree.write_main(notif_section(mail_server.url) + JOBS)
    running = await start_server()

    await trigger(running, "/good")
    await running.wait_for_log("good", ".success")
    await trigger(running, "/bad")
    messages = await mail_server.wait_for_messages(2)

    assert [envelope[1] for envelope in mail_server.envelopes] == [TO, TO]
    bad, good = sorted(messages, key=lambda message: message["Subject"])
    assert bad["Subject"] == "job: bad: #1: failed"
    assert good["Subject"] == "job: good: #1: success"
    assert good["To"] == f"{TO[0]}, Bob <{TO[1]}>"
    good_text = good.get_content()
    assert "job: good: all is well, héllo ✓" in good_text
    assert "job: good: === DONE" in good_text
    bad_text = bad.get_content()
    assert "job: bad: about to fail" in bad_text
    assert "job: bad: !!! job: bad: exit status 1" in bad_text
    assert "never reached" not in bad_text
    await wait_for_line(karajo_logs, "job bad run 1: notification ops: sent to")


async def test_self_signed_certificate_needs_smtp_insecure(
    tree: ConfigTree, start_server, mail_server: MailServer, karajo_logs
) -> None:
    tree.write_main(notif_section(mail_server.url, insecure=False) + JOBS)
    running = await start_server()

    await trigger(running, "/good")
    line = await wait_for_line(karajo_logs, "job good run 1: notification ops")

    assert line == (
        "ERROR job good run 1: notification ops: not sent: the server's "
        "certificate is not trusted: self-signed certificate; set smtp_insecure = "
        "true to accept a self-signed certificate"
    )
    assert mail_server.envelopes == []


async def test_http_job_mail_names_its_kind(
    tree: ConfigTree, start_server, mail_server: MailServer
) -> None:
    http_job = """\
        [job.http "ping"]
        interval = 1m
        http_url = /karajo/api/environment
        notif_on_success = ops
        """
    tree.write_main(notif_section(mail_server.url) + http_job)
    await start_server()

    [message] = await mail_server.wait_for_messages(1)

    assert message["Subject"] == "job_http: ping: #1: success"
    assert "job_http: ping: " in message.get_content()


async def test_reload_brings_new_notification(
    tree: ConfigTree, start_server, mail_server: MailServer
) -> None:
    tree.write_main(notif_section(mail_server.url) + JOBS)
    running = await start_server()
    team = notif_section(mail_server.url).replace('"ops"', '"team"')
    team = team.replace(f"to = {TO[0]}", "to = carol@example.test")
    team = team.replace(f"to = Bob <{TO[1]}>", "")
    jobs = JOBS.replace("notif_on_failed = ops", "notif_on_failed = team")
    tree.write_main(notif_section(mail_server.url) + team + jobs)

    assert running.server.reload()
    await trigger(running, "/bad")
    [message] = await mail_server.wait_for_messages(1)

    assert mail_server.envelopes[0][1] == ["carol@example.test"]
    assert message["Subject"] == "job: bad: #1: failed"


# A mail server that is down.


async def test_server_stopped_during_run_gets_message_when_back(
    tree: ConfigTree, start_server, certificate: Certificate, karajo_logs
) -> None:
    mail_server = MailServer(certificate, "starttls")
    mail_server.start()
    tree.write_main(notif_section(mail_server.url) + JOBS)
    running = await start_server()
    running.server.notifier.retry = FAST_RETRY
    await wait_for_line(karajo_logs, "notification ops: the mail server")

    started = trio.current_time()
    await trigger(running, "/slow")
    await running.wait_for_log("slow", ".running")
    mail_server.stop()
    await running.wait_for_log("slow", ".success")
    took = trio.current_time() - started
    await wait_for_line(karajo_logs, "job slow run 1: notification ops: attempt 2 of")
    mail_server.start()
    [message] = await mail_server.wait_for_messages(1)

    assert took < 3
    assert message["Subject"] == "job: slow: #1: success"
    first_failure = lines_about(karajo_logs, "attempt 1 of 30")[0]
    assert first_failure == (
        "WARNING job slow run 1: notification ops: attempt 1 of 30 failed: cannot "
        f"connect to {parse_smtp_server(mail_server.url)}: Connection refused; "
        "trying again in 0.1s"
    )
    await wait_for_line(
        karajo_logs, f"job slow run 1: notification ops: sent to {TO[0]}"
    )


async def test_server_down_at_start_karajo_serves_and_says_so(
    tree: ConfigTree, start_server, karajo_logs
) -> None:
    url = f"smtps://127.0.0.1:{free_port()}"
    tree.write_main(notif_section(url) + JOBS)

    running = await start_server()
    response = await running.client.get("/karajo/api/environment")
    line = await wait_for_line(karajo_logs, "notification ops:")

    assert response.status_code == 200
    assert line == (
        "WARNING notification ops: checking the mail server failed: cannot "
        f"connect to {url}: Connection refused; karajo runs on and retries each "
        "message"
    )
    assert len(lines_about(karajo_logs, "notification ops")) == 1


async def test_retries_give_up_after_the_last_attempt(
    tree: ConfigTree, start_server, karajo_logs
) -> None:
    url = f"smtp+starttls://127.0.0.1:{free_port()}"
    tree.write_main(notif_section(url) + JOBS)
    running = await start_server()
    running.server.notifier.retry = RetryPolicy(attempts=3, first_delay=0.01)

    await trigger(running, "/bad")
    line = await wait_for_line(karajo_logs, "job bad run 1: notification ops: not sent")

    assert line == (
        "ERROR job bad run 1: notification ops: not sent after 3 attempt(s): "
        f"cannot connect to {url}: Connection refused"
    )
    assert len(lines_about(karajo_logs, "job bad run 1: notification ops")) == 3


# Refusals: one clear line each, and no retry.


async def test_wrong_password_logs_one_line(
    tree: ConfigTree,
    start_server,
    mail_server: MailServer,
    karajo_logs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, WRONG_PASSWORD)
    tree.write_main(notif_section(mail_server.url) + JOBS)
    running = await start_server()
    running.server.notifier.retry = FAST_RETRY

    await trigger(running, "/bad")
    line = await wait_for_line(karajo_logs, "job bad run 1: notification ops")

    assert line == (
        "ERROR job bad run 1: notification ops: not sent: login as 'karajo' "
        "refused: 535 5.7.8 Authentication credentials invalid"
    )
    assert len(lines_about(karajo_logs, "job bad run 1")) == 1
    assert mail_server.envelopes == []


async def test_refused_recipient_logs_one_line(
    tree: ConfigTree, start_server, mail_server: MailServer, karajo_logs
) -> None:
    mail_server.refused.add(TO[1])
    tree.write_main(notif_section(mail_server.url) + JOBS)
    running = await start_server()

    await trigger(running, "/good")
    line = await wait_for_line(karajo_logs, "job good run 1: notification ops")

    assert line == (
        f"WARNING job good run 1: notification ops: sent to {TO[0]} only; refused "
        f"{TO[1]}: 550 5.1.1 <{TO[1]}>: no such mailbox"
    )
    assert len(lines_about(karajo_logs, "job good run 1")) == 1
    assert [envelope[1] for envelope in mail_server.envelopes] == [[TO[0]]]


# The bounded outbox.


async def test_full_outbox_drops_and_logs_each_message(
    tree: ConfigTree, karajo_logs
) -> None:
    tree.write_main(notif_section("smtps://127.0.0.1:1") + JOBS)
    log = tree.base / "good.1.success"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("ok\n")
    notifier = Notifier(tree.load(), outbox_size=1)

    for counter in (1, 2, 3):
        await notifier.submit(
            FinishedRun("job", "good", "good", counter, "success", log, ("ops",))
        )

    assert lines_about(karajo_logs, "dropped") == [
        f"ERROR job good run {counter}: notification ops: dropped: 1 messages "
        "already wait for smtps://127.0.0.1:1"
        for counter in (2, 3)
    ]


async def test_long_log_is_cut_in_the_mail(
    tree: ConfigTree, start_server, mail_server: MailServer
) -> None:
    jobs = """\
        [job "noisy"]
        path = /noisy
        notif_on_success = ops
        command = "seq 1 100000"
        """
    tree.write_main(notif_section(mail_server.url, extra="max_log_size = 4K") + jobs)
    running = await start_server()

    await trigger(running, "/noisy")
    [message] = await mail_server.wait_for_messages(1)

    text = message.get_content()
    log = tree.log_dir("noisy") / "noisy.1.success"
    assert f"bytes left out; the whole log is {log} on the server ...]" in text
    assert "job: noisy: 1\r\n" in text and "job: noisy: 100000\r\n" in text
    assert len(text) < 5000


# Configuration errors, each at its FILE:LINE.


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        (["kind = sms"], 2, "kind 'sms' is unknown; the only one is email"),
        ([], 1, "kind is missing; set `kind = email`"),
        (
            ["kind = email", "smtp_server = http://mail.example.test"],
            3,
            (
                "smtp_server 'http://mail.example.test' must start with smtps:// or "
                "smtp+starttls://"
            ),
        ),
        (
            ["kind = email", "smtp_server = smtps://"],
            3,
            (
                "smtp_server 'smtps://' is not a server URL like smtps://mail.example.org "
                "or smtp+starttls://mail.example.org:587"
            ),
        ),
        (
            ["kind = email", "smtp_server = smtps://mail.example.test:99999"],
            3,
            (
                "smtp_server 'smtps://mail.example.test:99999' is not a server URL like "
                "smtps://mail.example.org or smtp+starttls://mail.example.org:587"
            ),
        ),
        (
            ["kind = email", "smtp_server = smtps://u:hunter2@mail.example.test"],
            3,
            (
                "smtp_server 'smtps://...@mail.example.test' holds a login; use "
                "smtp_user and smtp_password"
            ),
        ),
        (["kind = email", "from ="], 3, "from is empty; set the sender's address"),
        (
            ["kind = email", "from = karajo"],
            3,
            f"from 'karajo' {NOT_AN_ADDRESS}",
        ),
        (["kind = email"], 1, "has no `to`; add a line per recipient"),
        (
            ["kind = email", "to = a@x, b@y"],
            3,
            f"to 'a@x, b@y' {NOT_AN_ADDRESS}",
        ),
        (["kind = email", "to = jörg@x"], 3, f"to 'jörg@x' {NOT_AN_ADDRESS}"),
        (
            ["kind = email", "smtp_password = $KARAJO_TEST_UNSET_VARIABLE"],
            3,
            (
                "smtp_password: the environment variable KARAJO_TEST_UNSET_VARIABLE is "
                "not set"
            ),
        ),
        (
            ["kind = email", "smtp_user = karajo"],
            3,
            "smtp_user and smtp_password go together; set both or none",
        ),
    ],
)
def test_notif_config_error_points_at_its_line(
    tree: ConfigTree, lines: list[str], line: int, problem: str
) -> None:
    valid = {
        "smtp_server": "smtps://mail.example.test",
        "from": "karajo@example.test",
        "to": "ops@example.test",
    }
    keys = {entry.partition(" =")[0] for entry in lines}
    extra = [f"{key} = {value}" for key, value in valid.items() if key not in keys]
    if "has no `to`" in problem:
        extra = [entry for entry in extra if not entry.startswith("to =")]
    path = tree.write("job.d/notif.conf", "\n".join(['[notif "ops"]', *lines, *extra]))
    tree.write_main()

    with pytest.raises(ConfigErrors) as caught:
        tree.load()

    assert [str(error) for error in caught.value.errors] == [
        f'{path}:{line}: [notif "ops"] {problem}'
    ]


def test_job_naming_missing_notification_is_an_error(tree: ConfigTree) -> None:
    path = tree.write_main('[job "good"]\ncommand = true\nnotif_on_failed = nobody\n')

    with pytest.raises(ConfigErrors) as caught:
        tree.load()

    [error] = caught.value.errors
    assert str(error).startswith(f"{path}:")
    assert str(error).endswith(
        '[job "good"] notification "nobody" has no [notif "nobody"] section'
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("smtps://mail.example.test", "smtps://mail.example.test:465"),
        ("smtp+starttls://mail.example.test", "smtp+starttls://mail.example.test:587"),
        ("smtp+starttls://[::1]:2525/", "smtp+starttls://[::1]:2525"),
    ],
)
def test_smtp_server_default_ports(url: str, shown: str) -> None:
    assert str(parse_smtp_server(url)) == shown


def test_notif_reads_login_from_environment(tree: ConfigTree) -> None:
    tree.write_main(notif_section("smtps://127.0.0.1:1"))

    notif = tree.load().notifs["ops"]

    assert (notif.user, notif.password) == (USER, PASSWORD)
    assert notif.to == [TO[0], f"Bob <{TO[1]}>"]
    assert PASSWORD not in repr(notif)
