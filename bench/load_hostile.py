#!/usr/bin/env python3
"""Hostile load: 10,000 requests mixing forged signatures, oversized and
malformed bodies, unknown methods and 1,000 valid webhooks sent at once.

Checks that every answer has the right status, that every valid webhook
answered 200 produced exactly one run log, and that the server's memory and
open files come back to their level before the storm; prints the figures.

    .venv/bin/python bench/load_hostile.py [--requests 10000] [--valid 1000]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import karajo_server, sign

JOBS = 100
MAX_BODY = 64 * 1024


def hook_jobs() -> str:
    return "".join(
        f'[job "hook {index}"]\npath = /hook{index}\nlog_retention = 100000\n'
        "command = true\n"
        for index in range(JOBS)
    )


def usage(pid: int) -> tuple[float, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd"))


# Each kind of request: how to send it and which statuses are right.


def valid_webhook(
    rng: random.Random,
) -> tuple[str, str, bytes, dict[str, str], set[int]]:
    body = b'{"valid": %d}' % rng.randrange(10**9)
    job = rng.randrange(JOBS)
    return (
        "POST",
        f"/karajo/api/job_exec/run/hook{job}",
        body,
        {"X-Karajo-Sign": sign(body)},
        {200, 429},
    )


def forged_webhook(
    rng: random.Random,
) -> tuple[str, str, bytes, dict[str, str], set[int]]:
    body = b'{"forged": %d}' % rng.randrange(10**9)
    real = sign(body)
    flipped = real[:-1] + ("1" if real[-1] == "0" else "0")
    signature = rng.choice([sign(body, "guess"), "", "zz", "0" * 64, flipped])
    return (
        "POST",
        f"/karajo/api/job_exec/run/hook{rng.randrange(JOBS)}",
        body,
        {"X-Karajo-Sign": signature},
        {403},
    )


def oversized_webhook(
    rng: random.Random,
) -> tuple[str, str, bytes, dict[str, str], set[int]]:
    body = os.urandom(MAX_BODY + rng.randrange(1, 4 * MAX_BODY))
    return (
        "POST",
        f"/karajo/api/job_exec/run/hook{rng.randrange(JOBS)}",
        body,
        {"X-Karajo-Sign": sign(body)},
        {413},
    )


def malformed(rng: random.Random) -> tuple[str, str, bytes, dict[str, str], set[int]]:
    choice = rng.randrange(5)
    if choice == 0:
        body = rng.randbytes(rng.randrange(1, 200))
        return (
            "POST",
            "/karajo/api/job_exec/pause",
            body,
            {"X-Karajo-Sign": sign(body)},
            {400, 401, 404},
        )
    if choice == 1:
        return ("GET", "/karajo/api/job_exec/log?id=%zz&counter=x", b"", {}, {400, 404})
    if choice == 2:
        return ("PATCH", "/karajo/api/job_exec/run/hook0", b"{}", {}, {405})
    if choice == 3:
        return (
            "POST",
            "/karajo/api/job_exec/run/nope",
            b"{}",
            {"X-Karajo-Sign": sign(b"{}")},
            {404},
        )
    body = b"_karajo_epoch=1&id=hook_0"
    return (
        "POST",
        "/karajo/api/job_exec/resume",
        body,
        {"X-Karajo-Sign": sign(body)},
        {401},
    )


async def storm(
    url: str, plan: list, concurrency: int
) -> list[tuple[str, int, set[int], str]]:
    results: list[tuple[str, int, set[int], str]] = []
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        semaphore = trio.Semaphore(concurrency)

        async def send(
            kind: str,
            method: str,
            path: str,
            body: bytes,
            headers: dict[str, str],
            expected: set[int],
        ) -> None:
            async with semaphore:
                try:
                    response = await client.request(
                        method, path, content=body, headers=headers
                    )
                    status = response.status_code
                except httpx.HTTPError as error:
                    status = -1
                    path = f"{path} ({type(error).__name__})"
                results.append((kind, status, expected, path))

        async with trio.open_nursery() as nursery:
            for kind, request in plan:
                nursery.start_soon(send, kind, *request)
    return results


def wait_idle(log_root: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(log_root.glob("*/*.running")):
            time.sleep(1)
            if not any(log_root.glob("*/*.running")):
                return
        time.sleep(0.2)
    raise SystemExit("runs did not finish in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--valid", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)

    others = args.requests - args.valid
    plan = [("valid", valid_webhook(rng)) for _ in range(args.valid)]
    makers = [
        ("forged", forged_webhook),
        ("oversized", oversized_webhook),
        ("malformed", malformed),
    ]
    plan += [
        (kind, maker(rng))
        for kind, maker in (makers[i % len(makers)] for i in range(others))
    ]
    rng.shuffle(plan)

    with tempfile.TemporaryDirectory(prefix="karajo-load-") as scratch:
        base = Path(scratch)
        limits = f"max_job_running = 8\nmax_body_size = {MAX_BODY}\n"
        with karajo_server(base, hook_jobs(), karajo=limits) as server:
            url, process = server.url, server.process
            log_root = base / "var" / "log" / "karajo" / "job"
            # A first storm, not counted, so that "before" is the level of a
            # server that has seen this load already: what grows after it is
            # a leak, not the allocator's pools filling once.
            trio.run(storm, url, plan, args.concurrency)
            wait_idle(log_root)
            before = usage(process.pid)
            logs_before = collections.Counter(
                p.parent.name for p in log_root.glob("*/*.*.*")
            )
            started = time.monotonic()
            results = trio.run(storm, url, plan, args.concurrency)
            elapsed = time.monotonic() - started
            wait_idle(log_root)
            time.sleep(2)
            after = usage(process.pid)
            logs_after = collections.Counter(
                p.parent.name for p in log_root.glob("*/*.*.*")
            )
            alive = process.poll() is None

    report(results, elapsed, before, after, logs_before, logs_after, alive)


def report(results, elapsed, before, after, logs_before, logs_after, alive) -> None:
    wrong = [
        (kind, status, path)
        for kind, status, expected, path in results
        if status not in expected
    ]
    by_kind = collections.defaultdict(collections.Counter)
    for kind, status, _, _ in results:
        by_kind[kind][status] += 1
    accepted = collections.Counter(
        "hook_" + path.rsplit("hook", 1)[1]
        for kind, status, _, path in results
        if kind == "valid" and status == 200
    )
    new_logs = logs_after - logs_before
    log_mismatch = {
        job: (accepted[job], new_logs[job])
        for job in set(accepted) | set(new_logs)
        if accepted[job] != new_logs[job]
    }

    print(
        f"{'requests sent':<34} {len(results):>8}   in {elapsed:.1f} s "
        f"({len(results) / elapsed:.0f}/s)"
    )
    for kind in sorted(by_kind):
        statuses = ", ".join(
            f"{status}: {count}" for status, count in sorted(by_kind[kind].items())
        )
        print(f"  {kind:<32} {sum(by_kind[kind].values()):>8}   {statuses}")
    print(f"{'answers with a wrong status':<34} {len(wrong):>8}   {wrong[:3]}")
    print(f"{'valid webhooks answered 200':<34} {sum(accepted.values()):>8}")
    print(
        f"{'run logs written by them':<34} {sum(new_logs.values()):>8}   "
        f"mismatched jobs: {log_mismatch or 'none'}"
    )
    print(
        f"{'server RSS before / after':<34} {before[0]:>7.1f}  / {after[0]:.1f} MiB "
        f"(+{after[0] - before[0]:.1f})"
    )
    print(f"{'server open files before / after':<34} {before[1]:>8} / {after[1]}")
    print(f"{'server still running':<34} {str(alive):>8}")
    ok = not wrong and not log_mismatch and alive and after[1] <= before[1] + 2
    print(f"{'verdict':<34} {'PASS' if ok else 'FAIL':>8}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
