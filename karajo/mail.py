"""The e-mail about a finished run: subject, headers and the run's log.

Pure message building with the standard `email` package; sending is
`karajo.smtp`'s work and deciding when is `karajo.notifier`'s.
"""

from __future__ import annotations

import os
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from karajo.config import NotifConfig
    from karajo.job import FinishedRun


def subject_of(run: FinishedRun) -> str:
    """The original's subject: `<kind>: <job id>: #<counter>: <status>`."""
    return f"{run.kind}: {run.job_id}: #{run.counter}: {run.status}"


def build_message(
    notif: NotifConfig, run: FinishedRun, body: str, now: datetime
) -> EmailMessage:
    """A plain UTF-8 text message from the notification's sender to all its `to`."""
    message = EmailMessage(policy=SMTP)
    message["Subject"] = subject_of(run)
    message["From"] = notif.mail_from
    message["To"] = ", ".join(notif.to)
    message["Date"] = format_datetime(now)
    # The sender's domain, not socket.getfqdn(): that may wait on DNS.
    message["Message-ID"] = make_msgid("karajo", domain=_domain_of(notif.mail_from))
    # Quoted-printable keeps the text readable and every line 7-bit and
    # short, so no server needs 8BITMIME and long output lines survive.
    message.set_content(body, charset="utf-8", cte="quoted-printable")
    return message


def envelope_address(value: str) -> str:
    """The bare address of `Name <user@host>`, for MAIL FROM and RCPT TO."""
    return getaddresses([value])[0][1]


def _domain_of(value: str) -> str:
    return envelope_address(value).rpartition("@")[2] or "localhost"


def read_log_excerpt(path: Path, max_size: int) -> str:
    """A run's log for the body; longer than `max_size`, cut in the middle.

    The cut falls on line ends and leaves a line saying how many bytes are
    left out and where the whole log is on the server.  Only the kept bytes
    are read, so a huge log costs no memory.
    """
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if size <= max_size:
            return file.read().decode("utf-8", "replace")
        head = _whole_lines_head(file.read(max_size // 2))
        file.seek(size - (max_size - max_size // 2))
        tail = _whole_lines_tail(file.read())
    note = (
        f"[... {size - len(head) - len(tail)} bytes left out; "
        f"the whole log is {path} on the server ...]\n"
    )
    return head.decode("utf-8", "replace") + note + tail.decode("utf-8", "replace")


def _whole_lines_head(data: bytes) -> bytes:
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else data


def _whole_lines_tail(data: bytes) -> bytes:
    start = data.find(b"\n")
    return data[start + 1 :] if 0 <= start < len(data) - 1 else data
