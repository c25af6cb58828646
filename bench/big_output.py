#!/usr/bin/env python3
"""Big output: a job writing 1 GiB to stdout, against the same command
redirected to a file.

Prints the server's peak resident memory (VmHWM) and the wall times, as
medians of several runs taken alternately, and their ratio.  Targets
(issue #2): peak memory under 100 MB, run time at most 1.5 times the plain
redirect.

    .venv/bin/python bench/big_output.py [--runs 3] [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import karajo_server, sign


def command_for(size: int) -> str:
    # Lines of 1,000 bytes: a realistic, line-oriented log.
    return f"yes \"$(printf '%0999d' 0)\" | head -c {size}"


def big_job(size: int) -> str:
    quoted = command_for(size).replace('"', '\\"')
    return f'[job "big"]\npath = /big\nlog_retention = 1\ncommand = "{quoted}"\n'


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    return kib / 1024


def run_through_karajo(url: str, log_dir: Path, counter: int) -> float:
    signature = sign(b"")
    started = time.monotonic()
    response = httpx.post(
        f"{url}/karajo/api/job_exec/run/big", headers={"X-Karajo-Sign": signature}
    )
    response.raise_for_status()
    final = log_dir / f"big.{counter}.success"
    while not final.exists():
        if (log_dir / f"big.{counter}.failed").exists():
            raise SystemExit("the benchmark job failed")
        time.sleep(0.01)
    return time.monotonic() - started


def run_plain(size: int, target: Path) -> float:
    started = time.monotonic()
    subprocess.run(["/bin/sh", "-c", f"{command_for(size)} > {target}"], check=True)
    elapsed = time.monotonic() - started
    target.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024

    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as scratch:
        base = Path(scratch)
        karajo_times, plain_times = [], []
        with karajo_server(base, big_job(size)) as server:
            idle_rss = peak_rss_mib(server.pid)
            log_dir = base / "var" / "log" / "karajo" / "job" / "big"
            for counter in range(1, args.runs + 1):
                plain_times.append(run_plain(size, base / "plain.out"))
                karajo_times.append(run_through_karajo(server.url, log_dir, counter))
            peak = peak_rss_mib(server.pid)

    karajo_median = statistics.median(karajo_times)
    plain_median = statistics.median(plain_times)
    ratio = karajo_median / plain_median
    rows = [
        ("output per run", f"{args.size_mib} MiB", ""),
        ("runs (alternating)", str(args.runs), ""),
        ("plain redirect, median", f"{plain_median:.2f} s", _spread(plain_times)),
        ("through karajo, median", f"{karajo_median:.2f} s", _spread(karajo_times)),
        (
            "ratio karajo / plain",
            f"{ratio:.2f}",
            "target <= 1.50: " + _verdict(ratio <= 1.5),
        ),
        ("server RSS at start", f"{idle_rss:.1f} MiB", ""),
        (
            "server peak RSS",
            f"{peak:.1f} MiB",
            "target < 100 MB: " + _verdict(peak * 1.048576 < 100),
        ),
    ]
    width = max(len(row[0]) for row in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>12}  {note}")


def _spread(values: list[float]) -> str:
    return f"min {min(values):.2f} s, max {max(values):.2f} s"


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


if __name__ == "__main__":
    main()
