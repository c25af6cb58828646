#!/usr/bin/env python3
"""Scale: karajo with 10, 1,000 and 10,000 jobs loaded and idle.

For each size: the time from starting the process to its first HTTP
answer, the resident memory once serving, and the CPU it uses while idle
(utime + stime from /proc/PID/stat over a window).  Half of the jobs are
webhook-only (no timer: their task sleeps until a request), half have a
cron schedule that does not fall in the window (their task sleeps until
the deadline).  The 1,000-job server has five logs per job on disk, and
`GET /karajo/api/environment` is timed on it (gzip accepted, as browsers
do).

Memory per job is the difference in resident memory between 10,000 and
10 jobs, divided by 9,990.  A second, in-process measurement with
tracemalloc says which lines of code hold that memory.

    .venv/bin/python bench/scale.py [--sizes 10 1000 10000] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    SECRET,
    Figure,
    Row,
    cpu_seconds,
    karajo_server,
    log,
    percentile,
    print_table,
    rss_bytes,
    write_karajo_config,
)

LOGS_PER_JOB = 5
ENVIRONMENT_JOBS = 1000
ENVIRONMENT_REQUESTS = 30
# Once a year, at a time that the benchmark does not reach.
FAR_SCHEDULE = "0 0 1 1 *"
# Measured idle CPU below this share of one core counts as none: one clock
# tick (10 ms) in 30 s is 0.03 %.
IDLE_CPU_LIMIT = 0.001


def jobs(count: int) -> str:
    sections = []
    for n in range(count):
        if n % 2:
            trigger = f"schedule = {FAR_SCHEDULE}"
        else:
            trigger = f"path = /j{n}\nsecret = {SECRET}"
        sections.append(f'[job "j{n}"]\n{trigger}\ncommand = true\n')
    return "\n".join(sections)


def write_logs(base: Path, count: int) -> None:
    """Five finished runs per job, as a server that ran a while leaves them."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    for n in range(count):
        directory = base / "var" / "log" / "karajo" / "job" / f"j{n}"
        directory.mkdir(parents=True, exist_ok=True)
        for counter in range(1, LOGS_PER_JOB + 1):
            status = "failed" if counter == 3 else "success"
            (directory / f"j{n}.{counter}.{status}").write_text(
                f"{stamp} job: j{n}: === BEGIN\n{stamp} job: j{n}: true\n"
                f"{stamp} job: j{n}: === DONE\n"
            )


def measure_size(count: int, idle_seconds: float, base: Path) -> dict[str, object]:
    with_logs = count == ENVIRONMENT_JOBS
    if with_logs:
        write_logs(base / "karajo", count)
    with karajo_server(base / "karajo", jobs(count), timeout=300) as server:
        time.sleep(2)  # let start-up work settle
        rss = rss_bytes(server.pid)
        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        time.sleep(idle_seconds)
        idle_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - started)
        result: dict[str, object] = {
            "count": count,
            "seconds_to_serve": server.seconds_to_serve,
            "rss": rss,
            "idle_cpu": idle_cpu,
        }
        if with_logs:
            result["environment"] = time_environment(server.url)
    log(
        f"scale {count} jobs: serving after {server.seconds_to_serve:.2f}s, "
        f"RSS {rss / 2**20:.1f} MiB, idle CPU {idle_cpu:.3%}"
    )
    return result


def time_environment(url: str) -> list[float]:
    seconds = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for index in range(ENVIRONMENT_REQUESTS + 1):
            started = time.perf_counter()
            response = client.get("/karajo/api/environment")
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if index == 0:
                jobs_seen = len(response.json()["data"]["jobs"])
                logs_seen = sum(
                    len(job["logs"]) for job in response.json()["data"]["jobs"].values()
                )
                log(
                    f"environment: {jobs_seen} jobs, {logs_seen} logs, "
                    f"{len(response.content):,} bytes of JSON"
                )
                continue  # the first answer warms caches
            seconds.append(elapsed)
    return seconds


# Where the memory goes, in-process.

_TRACE = r"""
import sys, json, tracemalloc, trio
sys.path.insert(0, sys.argv[3])
from karajo.config import load_environment
from karajo.server import Server

async def main():
    tracemalloc.start(1)
    server = Server(load_environment(sys.argv[1]))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        await trio.sleep(1)
        snapshot = tracemalloc.take_snapshot()
        server.stop()
    stats = snapshot.statistics("lineno")
    json.dump(
        [[str(s.traceback[0]), s.size, s.count] for s in stats[:400]],
        open(sys.argv[2], "w"),
    )

trio.run(main)
"""


def trace_memory(counts: tuple[int, int], scratch: Path) -> dict[str, object]:
    """Python heap per job between two sizes, and the lines holding most of it."""
    snapshots = []
    for count in counts:
        base = scratch / f"trace{count}"
        config = write_karajo_config(base, jobs(count))
        out = base / "trace.json"
        subprocess.run(
            [sys.executable, "-c", _TRACE, str(config), str(out), str(_ROOT)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=300,
        )
        snapshots.append(
            {where: size for where, size, _ in json.loads(out.read_text())}
        )
    small, large = snapshots
    extra = counts[1] - counts[0]
    growth = {
        where: (large.get(where, 0) - small.get(where, 0)) / extra
        for where in set(small) | set(large)
    }
    total = sum(large.values()) - sum(small.values())
    top = sorted(growth.items(), key=lambda item: -item[1])[:8]
    return {"per_job": total / extra, "top": top}


_ROOT = Path(__file__).resolve().parent.parent


def measure(sizes: list[int], idle_seconds: float, trace: bool) -> dict[str, object]:
    measured: list[object] = []
    results: dict[str, object] = {"sizes": measured}
    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as scratch:
        for count in sizes:
            base = Path(scratch) / f"n{count}"
            base.mkdir()
            measured.append(measure_size(count, idle_seconds, base))
        if trace:
            traced = trace_memory((10, 2010), Path(scratch))
            results["trace"] = traced
            log(f"tracemalloc: {traced['per_job']:.0f} bytes per job")
    return results


def rows(results: dict[str, object]) -> list[Row]:
    sizes = {item["count"]: item for item in results["sizes"]}  # type: ignore[attr-defined]
    table = []
    for count, item in sizes.items():
        label = f"scale, {count:,} jobs"
        table.append(
            Row(label, "time to serve", Figure([item["seconds_to_serve"]], " s", 2))
        )
        table.append(Row(label, "RSS", Figure([item["rss"] / 2**20], " MiB", 1)))
        table.append(
            Row(
                label,
                "idle CPU",
                Figure([item["idle_cpu"] * 100], " %", 3),
                target=f"< {IDLE_CPU_LIMIT:.1%} of a core" if count >= 10000 else "",
                met=item["idle_cpu"] < IDLE_CPU_LIMIT if count >= 10000 else None,
            )
        )
        if "environment" in item:
            seconds = item["environment"]
            notes = [
                (
                    f"environment: {count} jobs x {LOGS_PER_JOB} logs, "
                    f"{len(seconds)} requests; p99 "
                    f"{percentile(seconds, 0.99) * 1000:.1f} ms"
                )
            ]
            table.append(
                Row(
                    f"environment, {count:,} jobs",
                    "GET latency",
                    Figure([statistics.median(seconds) * 1000], " ms", 1).with_range(
                        min(seconds) * 1000, max(seconds) * 1000
                    ),
                    target="< 100 ms",
                    met=statistics.median(seconds) < 0.1,
                    notes=notes,
                )
            )
    small, large = min(sizes), max(sizes)
    if large > small:
        per_job = (sizes[large]["rss"] - sizes[small]["rss"]) / (large - small)
        notes = []
        trace = results.get("trace")
        if trace:
            lines = ", ".join(
                f"{where.replace(str(_ROOT) + '/', '')} {size:.0f} B"
                for where, size in trace["top"]  # type: ignore[index]
            )
            notes.append(
                f"memory per job, tracemalloc (Python heap, 10 vs 2,010 jobs): "
                f"{trace['per_job']:.0f} B per job; most: {lines}"  # type: ignore[index]
            )
        table.append(
            Row(
                f"scale, {small:,}->{large:,} jobs",
                "RSS per job",
                Figure([per_job / 1000], " KB", 1),
                target="< 10 KB",
                met=per_job < 10_000,
                notes=notes,
            )
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--no-trace", action="store_true")
    args = parser.parse_args()
    print_table(rows(measure(args.sizes, args.idle_seconds, not args.no_trace)))


if __name__ == "__main__":
    main()
