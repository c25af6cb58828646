#!/usr/bin/env python3
"""Schedule precision: N jobs on `minutely`, how late each command starts.

Every job's command is `date +%s.%N` appended to one file (small appends
are atomic), so each run records when its process started; lateness is
that time minus the minute it was scheduled for.  `max_job_running` is N,
so no run waits for a slot.  The servers for the sizes run one after the
other, each started just after the previous one's last minute, so the run
takes the minutes asked for plus at most one of waiting.

Beside it, the floor of this machine: a bare Python loop starting the same
N `date` processes at once (no karajo), timed the same way.  It shows how
much of the lateness is the cost of starting N processes on these cores.

    .venv/bin/python bench/schedule_precision.py [--jobs 100 1000] [--minutes 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    Figure,
    Row,
    karajo_server,
    log,
    percentile,
    print_table,
)

# A server must be serving this long before a minute to be sure to catch it.
MARGIN = 5.0
# How long after a minute its last runs may still arrive.
SETTLE = 20.0


def jobs(count: int, stamps: Path) -> str:
    return "".join(
        f'[job "s{n}"]\nschedule = minutely\nlog_retention = 2\n'
        f"command = date +%s.%N >> {stamps}\n\n"
        for n in range(count)
    )


def next_minute(moment: float) -> float:
    return (int(moment) // 60 + 1) * 60.0


def read_stamps(path: Path) -> list[float]:
    try:
        return [float(line) for line in path.read_text().split()]
    except FileNotFoundError:
        return []


def measure_size(count: int, minutes: int, base: Path) -> dict[str, object]:
    """Lateness of every run of `count` jobs over `minutes` minutes."""
    stamps = base / "stamps"
    with karajo_server(
        base / "karajo", jobs(count, stamps), karajo=f"max_job_running = {count}\n"
    ) as server:
        first = next_minute(time.time() + MARGIN)
        boundaries = [first + 60 * index for index in range(minutes)]
        log(
            f"schedule {count} jobs: serving after {server.seconds_to_serve:.1f}s; "
            f"measuring {minutes} minute(s) from "
            f"{time.strftime('%H:%M:%S', time.localtime(first))}"
        )
        expected = count * minutes
        deadline = boundaries[-1] + SETTLE
        while time.time() < deadline:
            in_window = [s for s in read_stamps(stamps) if s > first - 30]
            if len(in_window) >= expected and time.time() > boundaries[-1] + 1:
                break
            time.sleep(0.5)
        time.sleep(0.5)
    return {"boundaries": boundaries, "stamps": read_stamps(stamps), "count": count}


def lateness(result: dict[str, object]) -> tuple[list[float], int]:
    """Seconds late of each run, and how many runs never started."""
    boundaries: list[float] = result["boundaries"]  # type: ignore[assignment]
    late = []
    for stamp in result["stamps"]:  # type: ignore[attr-defined]
        nearest = min(boundaries, key=lambda boundary: abs(stamp - boundary))
        if abs(stamp - nearest) < 30:
            late.append(stamp - nearest)
    missing = result["count"] * len(boundaries) - len(late)  # type: ignore[operator]
    return late, max(missing, 0)


def spawn_floor(count: int, stamps: Path) -> list[float]:
    """Start `count` date processes at once from plain Python; their lateness."""
    started = time.time()
    processes = [
        subprocess.Popen(
            ["/bin/sh", "-c", f"date +%s.%N >> {stamps}"],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        process.wait()
    return [stamp - started for stamp in read_stamps(stamps)]


def measure(sizes: list[int], minutes: int) -> dict[int, dict[str, object]]:
    results: dict[int, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as scratch:
        for count in sizes:
            base = Path(scratch) / f"n{count}"
            base.mkdir()
            result = measure_size(count, minutes, base)
            late, missing = lateness(result)
            floors = [spawn_floor(count, base / f"floor{i}") for i in range(3)]
            result.update(late=late, missing=missing, floor=floors)
            log(
                f"schedule {count} jobs: {len(late)} runs, {missing} missing; "
                f"median {_ms(percentile(late, 0.5))}, max {_ms(max(late))}; "
                f"floor median {_ms(percentile(floors[0], 0.5))}"
            )
            results[count] = result
    return results


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def rows(results: dict[int, dict[str, object]]) -> list[Row]:
    table = []
    for count, result in results.items():
        late: list[float] = result["late"]  # type: ignore[assignment]
        missing: int = result["missing"]  # type: ignore[assignment]
        floors: list[list[float]] = result["floor"]  # type: ignore[assignment]
        minutes = len(result["boundaries"])  # type: ignore[arg-type]
        per_minute = _per_minute(result)
        medians = Figure([percentile(m, 0.5) * 1000 for m in per_minute], " ms", 0)
        worst = max(late) if late else float("inf")
        floor_medians = Figure([percentile(f, 0.5) * 1000 for f in floors], " ms", 0)
        floor_max = Figure([max(f) * 1000 for f in floors], " ms", 0)
        note = (
            f"schedule {count} jobs: {len(late)} runs over {minutes} minute(s), "
            f"{missing} missing; p90 {_ms(percentile(late, 0.9))}, "
            f"earliest {_ms(min(late))}; plain-Python spawn of {count} "
            f"processes at once (3 tries): median {floor_medians.text()}, "
            f"last {floor_max.text()}"
        )
        latest = Figure([max(m) * 1000 for m in per_minute], " ms", 0)
        median_ratio = Figure([medians.median / floor_medians.median], "x", 2)
        latest_ratio = Figure([latest.median / floor_max.median], "x", 2)
        label = f"schedule, {count} jobs"
        latest_row = Row(label, "latest start", latest, floor_max, latest_ratio)
        median_row = Row(label, "median start", medians, floor_medians, median_ratio)
        # The targets: with 100 jobs every run within 250 ms; with
        # 1,000 the median within 50 ms and none later than 2 s.
        if count <= 100:
            latest_row.target = "all < 250 ms"
            latest_row.met = missing == 0 and worst < 0.25
            latest_row.notes = [note]
            table += [latest_row, median_row]
        else:
            median_row.target = "< 50 ms"
            median_row.met = percentile(late, 0.5) < 0.05
            median_row.notes = [note]
            latest_row.target = "all < 2 s"
            latest_row.met = missing == 0 and worst < 2.0
            table += [median_row, latest_row]
    return table


def _per_minute(result: dict[str, object]) -> list[list[float]]:
    boundaries: list[float] = result["boundaries"]  # type: ignore[assignment]
    groups: list[list[float]] = [[] for _ in boundaries]
    for stamp in result["stamps"]:  # type: ignore[attr-defined]
        index = min(range(len(boundaries)), key=lambda i: abs(stamp - boundaries[i]))
        if abs(stamp - boundaries[index]) < 30:
            groups[index].append(stamp - boundaries[index])
    return [group or [float("inf")] for group in groups]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--minutes", type=int, default=2)
    args = parser.parse_args()
    print_table(rows(measure(args.jobs, args.minutes)))


if __name__ == "__main__":
    main()
