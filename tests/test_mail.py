"""Building the e-mail about a run: subject, headers, body, the long-log cut."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from karajo.config import NotifConfig
from karajo.job import FinishedRun
from karajo.mail import (
    build_message,
    envelope_address,
    read_log_excerpt,
    subject_of,
)

NOW = datetime(2024, 5, 17, 8, 30, 0, tzinfo=UTC)


def finished(kind: str = "job", status: str = "success") -> FinishedRun:
    return FinishedRun(kind, "backup", "Backup", 42, status, Path("/x"), ("ops",))


def ops() -> NotifConfig:
    return NotifConfig(
        name="ops",
        kind="email",
        mail_from="Karajo <karajo@example.test>",
        to=["alice@example.test", "Bob <bob@example.test>"],
    )


@pytest.mark.parametrize(
    ("kind", "status", "subject"),
    [
        ("job", "success", "job: backup: #42: success"),
        ("job", "failed", "job: backup: #42: failed"),
        ("job_http", "failed", "job_http: backup: #42: failed"),
    ],
)
def test_subject_names_kind_job_counter_status(
    kind: str, status: str, subject: str
) -> None:
    assert subject_of(finished(kind, status)) == subject


def test_message_has_headers_and_utf8_body() -> None:
    body = "=== BEGIN\nhéllo wörld ✓\n.a line starting with a dot\n" + "x" * 2000
    message = build_message(ops(), finished(), body + "\n", NOW)

    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)

    assert parsed["Subject"] == "job: backup: #42: success"
    assert parsed["From"] == "Karajo <karajo@example.test>"
    assert parsed["To"] == "alice@example.test, Bob <bob@example.test>"
    assert parsed["Date"] == "Fri, 17 May 2024 08:30:00 +0000"
    assert parsed["Message-ID"].endswith("@example.test>")
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"
    assert parsed.get_content().replace("\r\n", "\n") == body + "\n"


def test_message_is_7bit_with_crlf_lines() -> None:
    message = build_message(ops(), finished(), "héllo\n" + "y" * 5000, NOW)

    data = message.as_bytes()

    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 998


def test_envelope_address_drops_display_name() -> None:
    assert envelope_address("Bob <bob@example.test>") == "bob@example.test"
    assert envelope_address("alice@example.test") == "alice@example.test"


def test_log_excerpt_keeps_short_log_whole(tmp_path: Path) -> None:
    log = tmp_path / "backup.42.success"
    log.write_text("one\ntwo ✓\n")

    assert read_log_excerpt(log, 1024) == "one\ntwo ✓\n"


def test_log_excerpt_cuts_long_log_in_the_middle(tmp_path: Path) -> None:
    log = tmp_path / "backup.42.failed"
    lines = [f"line {number:05d}\n" for number in range(10_000)]
    log.write_text("".join(lines))
    size = log.stat().st_size

    text = read_log_excerpt(log, 4096)

    head, note, tail = text.partition("[... ")
    note, _, tail = tail.partition(" ...]\n")
    assert head.startswith("line 00000\n") and head.endswith("\n")
    assert tail.endswith("line 09999\n") and tail.startswith("line ")
    left_out = size - len(head) - len(tail)
    assert note == f"{left_out} bytes left out; the whole log is {log} on the server"
    assert 4096 - 2 * len(lines[0]) <= len(head) + len(tail) <= 4096
    assert abs(len(head) - len(tail)) <= len(lines[0])
