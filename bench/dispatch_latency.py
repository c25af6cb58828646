#!/usr/bin/env python3
"""Dispatch latency: from a webhook request leaving the client to the first
command's process running, karajo beside adnanh/webhook.

The command is `date +%s.%N` appending to a file of its hook: the process
records its own start.  The client notes the wall time just before it
sends, then waits for the stamp before the next request, so requests never
queue behind each other; hooks are used in turn.  Both servers run side by
side and requests alternate between them in blocks.

    .venv/bin/python bench/dispatch_latency.py [--requests 300]
"""

from __future__ import annotations

import argparse
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
    karajo_server,
    log,
    percentile,
    print_table,
    sign,
    webhook_server,
)

HOOKS = 20
BLOCK = 25
STAMP_TIMEOUT = 10.0


def karajo_jobs(stamps: Path) -> str:
    return "".join(
        f'[job "d{n}"]\npath = /d{n}\nsecret = {SECRET}\nlog_retention = 2\n'
        f"command = date +%s.%N >> {stamps}/karajo.{n}\n\n"
        for n in range(HOOKS)
    )


def webhook_hooks(stamps: Path, script: Path) -> list[dict[str, object]]:
    return [
        {
            "id": f"d{n}",
            "execute-command": str(script),
            "command-working-directory": "/",
            "pass-arguments-to-command": [
                {"source": "string", "name": f"{stamps}/webhook.{n}"}
            ],
            "trigger-rule-mismatch-http-response-code": 403,
            "trigger-rule": {
                "match": {
                    "type": "payload-hmac-sha256",
                    "secret": SECRET,
                    "parameter": {"source": "header", "name": "X-Karajo-Sign"},
                }
            },
        }
        for n in range(HOOKS)
    ]


def one_request(
    client: httpx.Client, url: str, stamp_file: Path, accepted: tuple[int, ...]
) -> float:
    """Seconds from sending to the command's own time stamp."""
    seen = _line_count(stamp_file)
    body = b'{"ref": "refs/heads/main"}'
    headers = {"X-Karajo-Sign": sign(body), "Content-Type": "application/json"}
    sent = time.time()
    response = client.post(url, content=body, headers=headers)
    if response.status_code not in accepted:
        raise SystemExit(f"{url}: unexpected answer {response.status_code}")
    deadline = time.monotonic() + STAMP_TIMEOUT
    while time.monotonic() < deadline:
        lines = _lines(stamp_file)
        if len(lines) > seen:
            return float(lines[seen]) - sent
        time.sleep(0.0005)
    raise SystemExit(f"{url}: the command did not run within {STAMP_TIMEOUT}s")


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def _line_count(path: Path) -> int:
    return len(_lines(path))


def measure(requests: int) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"karajo": [], "webhook": []}
    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as scratch:
        base = Path(scratch)
        stamps = base / "stamps"
        stamps.mkdir()
        script = base / "stamp.sh"
        script.write_text('#!/bin/sh\nexec date +%s.%N >> "$1"\n')
        script.chmod(0o755)
        with (
            karajo_server(
                base / "karajo", karajo_jobs(stamps), karajo="max_job_running = 100\n"
            ) as karajo,
            webhook_server(base / "webhook", webhook_hooks(stamps, script)) as webhook,
            httpx.Client(timeout=10) as client,
        ):
            targets = {
                "karajo": (karajo.url + "/karajo/api/job_exec/run/d{n}", "karajo"),
                "webhook": (webhook.url + "/hooks/d{n}", "webhook"),
            }
            # Warm-up, not counted: first connection, first spawn.
            for name, (url, prefix) in targets.items():
                one_request(client, url.format(n=0), stamps / f"{prefix}.0", (200,))
            count = 1
            while count <= requests:
                for name, (url, prefix) in targets.items():
                    for n in range(count, min(count + BLOCK, requests + 1)):
                        hook = n % HOOKS
                        latencies[name].append(
                            one_request(
                                client,
                                url.format(n=hook),
                                stamps / f"{prefix}.{hook}",
                                (200,),
                            )
                        )
                count += BLOCK
    for name, values in latencies.items():
        log(
            f"dispatch {name}: p50 {percentile(values, 0.5) * 1000:.2f} ms "
            f"p99 {percentile(values, 0.99) * 1000:.2f} ms over {len(values)}"
        )
    return latencies


def rows(latencies: dict[str, list[float]]) -> list[Row]:
    karajo, webhook = latencies["karajo"], latencies["webhook"]

    def ms(values: list[float], fraction: float) -> float:
        return percentile(values, fraction) * 1000

    k50, k99 = ms(karajo, 0.5), ms(karajo, 0.99)
    w50, w99 = ms(webhook, 0.5), ms(webhook, 0.99)
    note = (
        f"dispatch latency: {len(karajo)} requests to each server, one at a time, "
        f"over {HOOKS} hooks; spread shown is p10-p90 for p50 and max for p99"
    )
    return [
        Row(
            "dispatch latency",
            "p50",
            _spread(k50, ms(karajo, 0.1), ms(karajo, 0.9)),
            _spread(w50, ms(webhook, 0.1), ms(webhook, 0.9)),
            Figure([k50 / w50], "x", 2),
            "< 5 ms",
            k50 < 5,
            [note],
        ),
        Row(
            "dispatch latency",
            "p99",
            _spread(k99, k99, max(karajo) * 1000),
            _spread(w99, w99, max(webhook) * 1000),
            Figure([k99 / w99], "x", 2),
            "< 25 ms",
            k99 < 25,
        ),
    ]


def _spread(middle: float, low: float, high: float) -> Figure:
    return Figure([middle], " ms", 2).with_range(low, high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print_table(rows(measure(args.requests)))


if __name__ == "__main__":
    main()
