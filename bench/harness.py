"""What the benchmarks share: servers in child processes, /proc readings,
statistics and the table.

Every server listens on 127.0.0.1 on a free port and is stopped by the
benchmark that started it, even when the benchmark fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

SECRET = "bench-secret"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
ROOT = Path(__file__).resolve().parent.parent


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log(message: str) -> None:
    """Progress on stderr, so that stdout holds only the results."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Servers.


def write_karajo_config(base: Path, jobs: str, *, karajo: str = "") -> Path:
    etc = base / "etc" / "karajo"
    etc.mkdir(parents=True, exist_ok=True)
    config = etc / "karajo.conf"
    config.write_text(
        f"[karajo]\nname = bench\nlisten_address = 127.0.0.1:{free_port()}\n"
        f"dir_base = {base}\nsecret = {SECRET}\n{karajo}\n{jobs}"
    )
    return config


@dataclass
class KarajoProcess:
    process: subprocess.Popen[bytes]
    url: str
    base: Path
    # From the start of the process to its first answer over HTTP.
    seconds_to_serve: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return (self.base / "karajo.stderr").read_text(errors="replace")


@contextmanager
def karajo_server(
    base: Path,
    jobs: str,
    *,
    karajo: str = "",
    timeout: float = 120,
    program: tuple[str, ...] = ("-m", "karajo"),
) -> Iterator[KarajoProcess]:
    """Run `python -m karajo` (or `program`) on a configuration; stop it after."""
    config = write_karajo_config(base, jobs, karajo=karajo)
    url = "http://" + re.search(r"listen_address = (\S+)", config.read_text())[1]
    stderr_path = base / "karajo.stderr"
    with open(stderr_path, "wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, *program, "-config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            cwd=ROOT,
        )
    try:
        seconds = _wait_answering(url, process, started, timeout, stderr_path)
        yield KarajoProcess(process, url, base, seconds)
    finally:
        _stop(process)


@dataclass
class WebhookProcess:
    process: subprocess.Popen[bytes]
    url: str
    seconds_to_serve: float

    @property
    def pid(self) -> int:
        return self.process.pid


def webhook_binary() -> str:
    found = shutil.which("webhook")
    if found is None:
        raise SystemExit(
            "adnanh/webhook is missing: apt-get install -y webhook (Debian package)"
        )
    return found


@contextmanager
def webhook_server(
    base: Path, hooks: list[dict[str, object]], timeout: float = 30
) -> Iterator[WebhookProcess]:
    """Run adnanh/webhook on a hooks file; stop it on the way out."""
    base.mkdir(parents=True, exist_ok=True)
    hooks_file = base / "hooks.json"
    hooks_file.write_text(json.dumps(hooks))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr_path = base / "webhook.stderr"
    with open(stderr_path, "wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [
                webhook_binary(),
                "-hooks",
                str(hooks_file),
                "-ip",
                "127.0.0.1",
                "-port",
                str(port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
        )
    try:
        seconds = _wait_answering(url, process, started, timeout, stderr_path)
        yield WebhookProcess(process, url, seconds)
    finally:
        _stop(process)


def _wait_answering(
    url: str,
    process: subprocess.Popen[bytes],
    started: float,
    timeout: float,
    stderr_path: Path,
) -> float:
    deadline = started + timeout
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                client.get(url + "/")
                return time.monotonic() - started
            except httpx.TransportError:
                time.sleep(0.01)
    process.kill()
    raise SystemExit(f"server did not start:\n{stderr_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# /proc readings.


def cpu_seconds(pid: int) -> float:
    """User plus system time of a process (not of its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wait_quiet(pid: int, limit: float = 0.05, timeout: float = 120) -> float:
    """Wait until a process uses under `limit` of a core; return the seconds.

    adnanh/webhook answers before it runs the command, so after a load it
    goes on starting the commands it queued; the next measurement waits.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - before < limit * 0.5:
            break
    return time.monotonic() - started


def rss_bytes(pid: int) -> int:
    fields = Path(f"/proc/{pid}/statm").read_text().split()
    return int(fields[1]) * PAGE_SIZE


# Statistics and the table.


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


@dataclass
class Figure:
    """Several measurements of one quantity, shown as median and spread.

    A single figure may carry its own spread (percentiles, say) in low/high.
    """

    values: list[float]
    unit: str = ""
    digits: int = 1
    low: float | None = None
    high: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def with_range(self, low: float, high: float) -> Figure:
        self.low, self.high = low, high
        return self

    def text(self) -> str:
        if not self.values:
            return "-"
        digits = self.digits
        shown = f"{self.median:,.{digits}f}{self.unit}"
        low, high = self.low, self.high
        if low is None and len(self.values) > 1:
            low, high = min(self.values), max(self.values)
        if low is not None and high is not None:
            shown += f" [{low:,.{digits}f}-{high:,.{digits}f}]"
        return shown


@dataclass
class Row:
    """One line of the table."""

    bench: str
    measure: str
    karajo: Figure
    other: Figure | None = None
    # karajo / other, or other / karajo: whichever reads as "times better".
    ratio: Figure | None = None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)


def verdict(row: Row) -> str:
    if row.met is None:
        return ""
    return "met" if row.met else "NOT met"


def print_table(rows: Iterable[Row], file: TextIO = sys.stdout) -> None:
    header = (
        "benchmark",
        "measure",
        "karajo median [min-max]",
        "side by side",
        "ratio",
        "target",
        "",
    )
    rows = list(rows)
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.bench,
                row.measure,
                row.karajo.text(),
                row.other.text() if row.other else "",
                row.ratio.text() if row.ratio else "",
                row.target,
                verdict(row),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip(),
            file=file,
        )
        if index == 0:
            print("  ".join("-" * width for width in widths), file=file)
    notes = [note for row in rows for note in row.notes]
    for note in notes:
        print(f"  * {note}", file=file)
