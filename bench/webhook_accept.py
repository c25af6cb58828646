#!/usr/bin/env python3
"""Webhook accept: signed POSTs to 100 webhook jobs, karajo beside adnanh/webhook.

wrk (Debian package `wrk`) sends the load from its own process: each
request goes to the next of the 100 hooks with a body signed for it
(hex HMAC-SHA256 in X-Karajo-Sign).  karajo runs `/bin/true` per accepted
run and answers 200, or 429 when the job already has a run queued: both
are correct.  adnanh/webhook (Debian package `webhook`) has 100 hooks with
the `payload-hmac-sha256` rule on the same header, each running
`/bin/true`, and answers 200.  Every answer is checked in wrk's Lua.
Rounds alternate between the two servers, which run side by side.

    .venv/bin/python bench/webhook_accept.py [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (
    SECRET,
    Figure,
    Row,
    cpu_seconds,
    karajo_server,
    log,
    print_table,
    sign,
    wait_quiet,
    webhook_server,
)

HOOKS = 100
# What each measured server is, as the table says it.
VARIANTS = {
    "karajo": "",
    "lean": ", lean ASGI path (experiment)",
    "karajo_busy": ", jobs busy: accept path only",
    "lean_busy": ", jobs busy, lean ASGI path",
    "webhook": "",
}
# The experiment of a raw ASGI path for webhooks in front of quart.
LEAN_PROGRAM = (str(Path(__file__).resolve().parent / "lean_webhook.py"),)
CONNECTIONS = 32
HEADER = "X-Karajo-Sign"

LUA = """
local requests = {}
local index = 0
local threads = {}
ok, bad = 0, 0
local statuses = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for _, item in ipairs(HOOK_LIST) do
    table.insert(requests, wrk.format("POST", item[1], {
      ["Content-Type"] = "application/json",
      ["X-Karajo-Sign"] = item[3],
    }, item[2]))
  end
  index = math.random(#requests) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  if ACCEPTED[status] then
    ok = ok + 1
  else
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests_done)
  local total_ok, total_bad = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
  end
  io.write(string.format(
    "RESULT ok=%d bad=%d requests=%d seconds=%.6f p50=%.1f p99=%.1f "
    .. "connect=%d read=%d write=%d timeout=%d\\n",
    total_ok, total_bad, summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
"""


@dataclass
class Load:
    """One wrk run against one server."""

    rps: float
    p50_ms: float
    p99_ms: float
    bad: int
    socket_errors: int
    server_cpu: float  # share of one core
    generator_cpu: float  # share of one core
    # After the load: how long the server went on working (queued commands).
    drain_seconds: float = 0.0

    @property
    def all_correct(self) -> bool:
        return self.bad == 0 and self.socket_errors == 0


def wrk_script(
    directory: Path, hooks: list[tuple[str, bytes]], accepted: list[int]
) -> Path:
    items = ",\n".join(
        f"  {{{json.dumps(path)}, {json.dumps(body.decode())}, {json.dumps(sign(body))}}}"
        for path, body in hooks
    )
    accepted_lua = ", ".join(f"[{code}] = true" for code in accepted)
    script = directory / "load.lua"
    script.write_text(
        f"HOOK_LIST = {{\n{items}\n}}\nACCEPTED = {{{accepted_lua}}}\n" + LUA
    )
    return script


def run_wrk(url: str, script: Path, seconds: float, server_pid: int) -> Load:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (Debian package)")
    cpu_before = cpu_seconds(server_pid)
    started = time.monotonic()
    process = subprocess.Popen(
        [
            wrk,
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    elapsed = time.monotonic() - started
    server_cpu = (cpu_seconds(server_pid) - cpu_before) / elapsed
    match = re.search(r"RESULT (.*)", output)
    if process.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed:\n{output}")
    values = {
        key: float(value) for key, value in re.findall(r"(\w+)=([\d.]+)", match[1])
    }
    return Load(
        rps=values["requests"] / values["seconds"],
        p50_ms=values["p50"] / 1000,
        p99_ms=values["p99"] / 1000,
        bad=int(values["bad"]),
        socket_errors=int(
            values["connect"] + values["read"] + values["write"] + values["timeout"]
        ),
        server_cpu=server_cpu,
        generator_cpu=(usage.ru_utime + usage.ru_stime) / elapsed,
    )


def karajo_jobs(command: str = "/bin/true") -> str:
    return "".join(
        f'[job "h{n}"]\npath = /h{n}\nsecret = {SECRET}\n'
        f"log_retention = 2\ncommand = {command}\n\n"
        for n in range(HOOKS)
    )


def webhook_hooks() -> list[dict[str, object]]:
    return [
        {
            "id": f"h{n}",
            "execute-command": "/bin/true",
            "command-working-directory": "/",
            "trigger-rule-mismatch-http-response-code": 403,
            "trigger-rule": {
                "match": {
                    "type": "payload-hmac-sha256",
                    "secret": SECRET,
                    "parameter": {"source": "header", "name": HEADER},
                }
            },
        }
        for n in range(HOOKS)
    ]


def bodies() -> list[bytes]:
    return [
        json.dumps({"ref": "refs/heads/main", "hook": n, "pad": "x" * 200}).encode()
        for n in range(HOOKS)
    ]


def measure(rounds: int, seconds: float) -> dict[str, list[Load]]:
    results: dict[str, list[Load]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as scratch:
        base = Path(scratch)
        payloads = bodies()
        (base / "k").mkdir()
        (base / "w").mkdir()
        karajo_script = wrk_script(
            base / "k",
            [(f"/karajo/api/job_exec/run/h{n}", payloads[n]) for n in range(HOOKS)],
            [200, 429],
        )
        webhook_script = wrk_script(
            base / "w",
            [(f"/hooks/h{n}", payloads[n]) for n in range(HOOKS)],
            [200],
        )
        settings = f"max_job_running = {HOOKS}\nshutdown_timeout = 1s\n"
        # Jobs that stay busy: after its first run starts, every request to a
        # job is answered 429, so only the accept path is measured.
        busy = karajo_jobs("sleep 3600")
        with (
            karajo_server(base / "karajo", karajo_jobs(), karajo=settings) as karajo,
            karajo_server(
                base / "lean", karajo_jobs(), karajo=settings, program=LEAN_PROGRAM
            ) as lean,
            karajo_server(base / "kbusy", busy, karajo=settings) as karajo_busy,
            karajo_server(
                base / "lbusy", busy, karajo=settings, program=LEAN_PROGRAM
            ) as lean_busy,
            webhook_server(base / "webhook", webhook_hooks()) as webhook,
        ):
            servers = (
                ("karajo", karajo, karajo_script),
                ("lean", lean, karajo_script),
                ("karajo_busy", karajo_busy, karajo_script),
                ("lean_busy", lean_busy, karajo_script),
                ("webhook", webhook, webhook_script),
            )
            # A short warm-up for each, not counted.
            for _, server, script in servers:
                run_wrk(server.url, script, 1, server.pid)
                wait_quiet(server.pid)
            for round_number in range(rounds):
                for name, server, script in servers:
                    load = run_wrk(server.url, script, seconds, server.pid)
                    # Let the runs still queued finish before the next load.
                    load.drain_seconds = wait_quiet(server.pid)
                    log(
                        f"webhook accept round {round_number + 1} {name}: "
                        f"{load.rps:.0f} req/s p50 {load.p50_ms:.2f} ms "
                        f"p99 {load.p99_ms:.2f} ms bad {load.bad} "
                        f"server cpu {load.server_cpu:.0%} wrk cpu "
                        f"{load.generator_cpu:.0%}; busy {load.drain_seconds:.1f}s after"
                    )
                    results[name].append(load)
    return results


def rows(results: dict[str, list[Load]]) -> list[Row]:
    karajo, webhook = results["karajo"], results["webhook"]
    rps_ratio = [k.rps / w.rps for k, w in zip(karajo, webhook)]
    p99_ratio = [k.p99_ms / w.p99_ms for k, w in zip(karajo, webhook)]
    correct = all(load.all_correct for loads in results.values() for load in loads)
    notes = [
        f"webhook accept: {HOOKS} hooks, wrk -t1 -c{CONNECTIONS}; answers checked: "
        + (
            "all correct"
            if correct
            else "SOME WRONG: "
            + ", ".join(
                f"{name} bad={load.bad} socket errors={load.socket_errors}"
                for name, loads in results.items()
                for load in loads
                if not load.all_correct
            )
        ),
        _cpu_note(results),
        (
            "webhook accept: after each load, seconds until the server was idle "
            "again (adnanh/webhook answers before it runs the command, then "
            "works through the commands it queued): "
            + ", ".join(
                f"{name} {Figure([x.drain_seconds for x in loads], ' s', 1).text()}"
                for name, loads in results.items()
            )
        ),
    ]
    return [
        Row(
            "webhook accept",
            "requests/s",
            Figure([k.rps for k in karajo], "", 0),
            Figure([w.rps for w in webhook], "", 0),
            Figure(rps_ratio, "x", 2),
            ">= 1.00x webhook",
            _median(rps_ratio) >= 1.0,
            notes,
        ),
        Row(
            "webhook accept",
            "p50 latency",
            Figure([k.p50_ms for k in karajo], " ms", 2),
            Figure([w.p50_ms for w in webhook], " ms", 2),
            Figure([k.p50_ms / w.p50_ms for k, w in zip(karajo, webhook)], "x", 2),
        ),
        Row(
            "webhook accept",
            "p99 latency",
            Figure([k.p99_ms for k in karajo], " ms", 2),
            Figure([w.p99_ms for w in webhook], " ms", 2),
            Figure(p99_ratio, "x", 2),
            "< 1.00x webhook",
            _median(p99_ratio) < 1.0,
        ),
        *_variant_rows(results),
        Row(
            "webhook accept",
            "answers correct",
            Figure([1.0 if correct else 0.0], "", 0),
            target="all 200/429",
            met=correct,
        ),
    ]


def _variant_rows(results: dict[str, list[Load]]) -> list[Row]:
    """Requests/s and p99 of the other karajo servers, beside adnanh/webhook."""
    webhook = results["webhook"]
    rows = []
    for name in ("lean", "karajo_busy", "lean_busy"):
        loads = results[name]
        for measure, value in (("requests/s", "rps"), ("p99 latency", "p99_ms")):
            mine = [getattr(load, value) for load in loads]
            theirs = [getattr(load, value) for load in webhook]
            unit, digits = ("", 0) if value == "rps" else (" ms", 2)
            rows.append(
                Row(
                    "webhook accept",
                    measure + VARIANTS[name],
                    Figure(mine, unit, digits),
                    Figure(theirs, unit, digits),
                    Figure([m / t for m, t in zip(mine, theirs)], "x", 2),
                )
            )
    return rows


def _cpu_note(results: dict[str, list[Load]]) -> str:
    def cpu(loads: list[Load], generator: bool = False) -> str:
        shares = [(x.generator_cpu if generator else x.server_cpu) * 100 for x in loads]
        return Figure(shares, "%", 0).text()

    servers = ", ".join(f"{name} {cpu(loads)}" for name, loads in results.items())
    wrk = ", ".join(
        f"{cpu(loads, generator=True)} against {name}"
        for name, loads in results.items()
    )
    return (
        f"webhook accept CPU, share of one core: {servers} (webhook without its "
        f"/bin/true children); wrk {wrk}"
    )


def _median(values: list[float]) -> float:
    return Figure(values).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    print_table(rows(measure(args.rounds, args.seconds)))


if __name__ == "__main__":
    main()
