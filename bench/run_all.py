#!/usr/bin/env python3
"""Every benchmark of karajo, one table: median and spread, ratios measured
side by side in the same run, each target marked met or NOT met.

Needs wrk and adnanh/webhook from Debian (`apt-get install -y wrk webhook`).
Progress goes to stderr, the table to stdout.  About 10 minutes; `--quick`
takes about 5 with fewer and shorter rounds (a smoke run, not a result).

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dispatch_latency, scale, schedule_precision, webhook_accept
from bench.harness import ROOT, Figure, Row, log, print_table

NAMES = ("webhook", "dispatch", "big_output", "scale", "schedule")


def run_webhook(quick: bool) -> list[Row]:
    rounds, seconds = (1, 5) if quick else (3, 10)
    return webhook_accept.rows(webhook_accept.measure(rounds, seconds))


def run_dispatch(quick: bool) -> list[Row]:
    return dispatch_latency.rows(dispatch_latency.measure(100 if quick else 300))


def run_scale(quick: bool) -> list[Row]:
    idle = 10 if quick else 30
    return scale.rows(scale.measure([10, 1000, 10000], idle, trace=True))


def run_schedule(quick: bool) -> list[Row]:
    minutes = 1 if quick else 2
    return schedule_precision.rows(schedule_precision.measure([100, 1000], minutes))


def run_big_output(quick: bool) -> list[Row]:
    """bench/big_output.py as it is, its table read back."""
    runs, size = (1, 256) if quick else (3, 1024)
    output = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "big_output.py"),
            "--runs",
            str(runs),
            "--size-mib",
            str(size),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout

    def number(label: str) -> float:
        match = re.search(rf"^{re.escape(label)}\s+([\d.]+)", output, re.MULTILINE)
        if match is None:
            raise SystemExit(f"big_output.py printed no {label!r}:\n{output}")
        return float(match[1])

    def spread(label: str) -> tuple[float, float]:
        line = next(line for line in output.splitlines() if line.startswith(label))
        low, high = re.search(r"min ([\d.]+) s, max ([\d.]+) s", line).groups()
        return float(low), float(high)

    ratio = number("ratio karajo / plain")
    peak = number("server peak RSS")
    label = f"big output, {size} MiB"
    karajo = Figure([number("through karajo, median")], " s", 2)
    plain = Figure([number("plain redirect, median")], " s", 2)
    if runs > 1:
        karajo.with_range(*spread("through karajo, median"))
        plain.with_range(*spread("plain redirect, median"))
    return [
        Row(
            label,
            "run time vs plain redirect",
            karajo,
            plain,
            target="<= 1.50x plain",
            ratio=Figure([ratio], "x", 2),
            met=ratio <= 1.5,
            notes=[
                (
                    f"big output: {runs} run(s); side by side: the same command "
                    "as `cmd > file`, without karajo"
                )
            ],
        ),
        Row(
            label,
            "server peak RSS",
            Figure([peak], " MiB", 1),
            target="< 100 MB",
            met=peak * 1.048576 < 100,
        ),
    ]


RUNNERS = {
    "webhook": run_webhook,
    "dispatch": run_dispatch,
    "big_output": run_big_output,
    "scale": run_scale,
    "schedule": run_schedule,
}


def machine() -> str:
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPU(s), load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}, Python {sys.version.split()[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args()
    started = time.monotonic()
    before = machine()
    rows: list[Row] = []
    for name in NAMES:
        if name in args.only:
            log(f"{name}: starting")
            rows += RUNNERS[name](args.quick)
    minutes = (time.monotonic() - started) / 60
    command = " ".join(["python", *sys.argv])
    print(f"karajo benchmarks: {command}")
    print(f"machine before: {before}; after: {machine()}; took {minutes:.1f} min")
    print()
    print_table(rows)
    print(
        "  side by side: adnanh/webhook for webhook accept and dispatch; "
        "`cmd > file` for big output; the plain-Python spawn floor for schedule"
    )
    missed = [row for row in rows if row.met is False]
    print()
    print(
        f"targets met: {sum(row.met is True for row in rows)}, NOT met: {len(missed)}"
    )


if __name__ == "__main__":
    main()
