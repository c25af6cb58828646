"""E-mail about finished runs, sent without ever holding up a job.

Server.serve
└── Notifier.run              reads the finished-runs channel
    ├── Notifier._check       per [notif], at start and when a reload changes it
    └── Notifier._send_loop   per [notif]: its outbox in order, with retries

A job only puts a FinishedRun on the finished-runs channel (send_nowait).
The log is read and the message built as soon as the run arrives here, so
the job's log retention cannot delete the log under a slow send; the message
then waits in the bounded outbox of its notification.  One outbox per
notification keeps a mail server that is down from holding up the others.
Every message dropped or given up is logged with the job, the run's counter
and the notification's name; no password is ever logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import trio

from karajo import smtp
from karajo.config import Environment, NotifConfig, SmtpServer
from karajo.job import Clock, FinishedRun, wall_clock
from karajo.mail import build_message, envelope_address, read_log_excerpt

logger = logging.getLogger(__name__)

# Messages waiting per notification.  Each holds up to max_log_size of log
# (1 MiB by default), which bounds the memory a dead mail server can cost.
OUTBOX_SIZE = 32


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, a failed send is tried again.

    The defaults wait 5s, 10s, 20s ... up to 5 minutes between attempts:
    about ten minutes in all, enough for a mail server to restart.
    """

    attempts: int = 8
    first_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 300.0
    send_timeout: float = smtp.DEFAULT_TIMEOUT

    def delay_after(self, attempt: int) -> float:
        """Seconds to wait after the failed attempt number `attempt` (from 1)."""
        return min(self.first_delay * self.factor ** (attempt - 1), self.max_delay)


@dataclass(frozen=True)
class _Mail:
    """A message built for one run and one notification, ready to send."""

    run: FinishedRun
    # As configured when the run ended; a reload does not change it.
    notif: NotifConfig
    data: bytes

    @property
    def who(self) -> tuple[str, str, int, str]:
        """The identity every log line about this message starts with."""
        return (self.run.kind, self.run.job_id, self.run.counter, self.notif.name)


_Outbox = tuple[trio.MemorySendChannel[_Mail], trio.MemoryReceiveChannel[_Mail]]


class Notifier:
    """Sends the e-mail of `notif_on_success` and `notif_on_failed`.

    `retry` may be replaced at any time; the next attempt uses the new one.
    """

    def __init__(
        self,
        env: Environment,
        *,
        retry: RetryPolicy = RetryPolicy(),
        outbox_size: int = OUTBOX_SIZE,
        clock: Clock = wall_clock,
    ) -> None:
        self.env = env
        self.retry = retry
        self.clock = clock
        self.outbox_size = outbox_size
        # (notification, "sent" | "failed" | "dropped") -> messages, for metrics.
        self.counts: dict[tuple[str, str], int] = {}
        self._outboxes: dict[str, _Outbox] = {}
        self._nursery: trio.Nursery | None = None
        for notif in env.notifs.values():
            self._open_outbox(notif)

    async def run(self, finished: trio.MemoryReceiveChannel[FinishedRun]) -> None:
        """Check every mail server, then turn finished runs into e-mail."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for notif in self.env.notifs.values():
                nursery.start_soon(self._check, notif)
            for _, receive in self._outboxes.values():
                nursery.start_soon(self._send_loop, receive)
            async for run in finished:
                await self.submit(run)
            # No more runs: let each outbox empty, then end.
            for send, _ in self._outboxes.values():
                send.close()

    def reload(self, env: Environment) -> None:
        """Use a new configuration for the runs that end from now on."""
        old = self.env.notifs
        self.env = env
        for notif in env.notifs.values():
            if notif.name not in self._outboxes:
                receive = self._open_outbox(notif)
                if self._nursery is not None:
                    self._nursery.start_soon(self._send_loop, receive)
            elif _connection_of(notif) == _connection_of(old.get(notif.name)):
                continue
            if self._nursery is not None:
                self._nursery.start_soon(self._check, notif)

    def _open_outbox(self, notif: NotifConfig) -> trio.MemoryReceiveChannel[_Mail]:
        send, receive = trio.open_memory_channel[_Mail](self.outbox_size)
        self._outboxes[notif.name] = (send, receive)
        return receive

    async def submit(self, run: FinishedRun) -> None:
        """Queue a message per notification of the run; never waits to send."""
        for name in run.notify:
            notif = self.env.notifs.get(name)
            if notif is None:
                logger.error(
                    "%s %s run %d: notification %s does not exist; nothing sent",
                    run.kind,
                    run.job_id,
                    run.counter,
                    name,
                )
                continue
            # Encoding a long log takes tens of milliseconds of CPU: done in
            # a thread, it leaves the web interface and the jobs responsive.
            data = await trio.to_thread.run_sync(_build, notif, run, self.clock())
            mail = _Mail(run, notif, data)
            try:
                self._outboxes[name][0].send_nowait(mail)
            except trio.WouldBlock:
                self._count(mail, "dropped")
                logger.error(
                    "%s %s run %d: notification %s: dropped: %d messages already "
                    "wait for %s",
                    *mail.who,
                    self.outbox_size,
                    notif.server,
                )

    async def _check(self, notif: NotifConfig) -> None:
        """Say once whether the mail server can be used; never fail.

        The original refused to start when it could not; this only logs, so
        a boot that reaches karajo before the network does still runs jobs.
        """
        try:
            await smtp.check_server(
                _server_of(notif),
                login=smtp.Login(notif.user, notif.password),
                insecure=notif.smtp_insecure,
                timeout=self.retry.send_timeout,
            )
        except smtp.SmtpError as error:
            then = (
                "messages will fail until this is fixed"
                if error.is_permanent
                else "karajo runs on and retries each message"
            )
            logger.warning(
                "notification %s: checking the mail server failed: %s; %s",
                notif.name,
                error,
                then,
            )
            return
        logger.info(
            "notification %s: the mail server %s accepts the connection%s",
            notif.name,
            notif.server,
            " and the login" if notif.user else "",
        )

    async def _send_loop(self, outbox: trio.MemoryReceiveChannel[_Mail]) -> None:
        current: _Mail | None = None
        try:
            async for current in outbox:
                await self._deliver(current)
                current = None
        finally:
            lost = [current] if current is not None else []
            for mail in lost + _drain(outbox):
                logger.error(
                    "%s %s run %d: notification %s: not sent: karajo stopped first",
                    *mail.who,
                )

    async def _deliver(self, mail: _Mail) -> None:
        """Send with retries; log each retry and, in one line, the outcome."""
        attempt = 0
        while True:
            attempt += 1
            retry = self.retry
            try:
                result = await self._send_once(mail, retry)
            except smtp.SmtpError as error:
                if error.is_permanent or attempt >= retry.attempts:
                    _log_given_up(mail, error, attempt)
                    self._count(mail, "failed")
                    return
                delay = retry.delay_after(attempt)
                logger.warning(
                    "%s %s run %d: notification %s: attempt %d of %d failed: %s; "
                    "trying again in %gs",
                    *mail.who,
                    attempt,
                    retry.attempts,
                    error,
                    delay,
                )
                await trio.sleep(delay)
                continue
            _log_sent(mail, result)
            self._count(mail, "sent")
            return

    def _count(self, mail: _Mail, result: str) -> None:
        key = (mail.notif.name, result)
        self.counts[key] = self.counts.get(key, 0) + 1

    async def _send_once(self, mail: _Mail, retry: RetryPolicy) -> smtp.SendResult:
        notif = mail.notif
        return await smtp.send_message(
            _server_of(notif),
            envelope_address(notif.mail_from),
            [envelope_address(address) for address in notif.to],
            mail.data,
            login=smtp.Login(notif.user, notif.password),
            insecure=notif.smtp_insecure,
            timeout=retry.send_timeout,
        )


def _build(notif: NotifConfig, run: FinishedRun, now: datetime) -> bytes:
    try:
        body = read_log_excerpt(run.log_path, notif.max_log_size)
    except OSError as error:
        body = f"[the log {run.log_path} could not be read: {error.strerror}]\n"
    return build_message(notif, run, body, now).as_bytes()


def _server_of(notif: NotifConfig) -> SmtpServer:
    if notif.server is None:
        raise RuntimeError(f"notification {notif.name}: validate() was not called")
    return notif.server


def _connection_of(notif: NotifConfig | None) -> tuple[object, ...]:
    if notif is None:
        return ()
    return (notif.server, notif.user, notif.password, notif.smtp_insecure)


def _drain(outbox: trio.MemoryReceiveChannel[_Mail]) -> list[_Mail]:
    drained = []
    while True:
        try:
            drained.append(outbox.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return drained


def _log_sent(mail: _Mail, result: smtp.SendResult) -> None:
    if not result.refused:
        logger.info(
            "%s %s run %d: notification %s: sent to %s",
            *mail.who,
            ", ".join(result.accepted),
        )
        return
    refused = "; ".join(f"{rcpt}: {why}" for rcpt, why in result.refused.items())
    logger.warning(
        "%s %s run %d: notification %s: sent to %s only; refused %s",
        *mail.who,
        ", ".join(result.accepted),
        refused,
    )


def _log_given_up(mail: _Mail, error: smtp.SmtpError, attempt: int) -> None:
    tries = "" if error.is_permanent else f" after {attempt} attempt(s)"
    logger.error(
        "%s %s run %d: notification %s: not sent%s: %s",
        *mail.who,
        tries,
        error,
    )
