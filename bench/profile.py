#!/usr/bin/env python3
"""Where karajo's time goes under the loads whose targets are not met.

py-spy samples the server's main thread (idle included) while it works:

- `webhook`: wrk's signed POSTs to 100 jobs running `/bin/true`, as in
  bench/webhook_accept.py, so most requests start a run;
- `webhook-busy`: the same to 100 jobs that are already running, so every
  request is answered 429 and only the accept path is left;
- `schedule`: 1,000 jobs on `minutely`, the 2 seconds after the minute.

For each it prints the share of samples by part of the stack (the frame
nearest the leaf that belongs to a known part) and the karajo functions
that hold the most samples; the raw stacks stay in --out for flame graphs.
py-spy needs to be allowed to trace the server (root, or ptrace_scope 0);
the webhook loads need wrk (Debian package `wrk`).

    .venv/bin/python bench/profile.py [--only webhook webhook-busy schedule]
"""

from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import karajo_server, log
from bench.schedule_precision import jobs as schedule_jobs
from bench.webhook_accept import HOOKS, bodies, karajo_jobs, run_wrk, wrk_script

RATE = 500  # samples per second
# Parts of the stack, matched on a frame's file; the first matching frame
# from the leaf up names the part a sample belongs to.  trio's own frames
# count for the code that called into trio (hypercorn's timeouts are
# hypercorn's cost), and for trio only when nothing else is on the stack.
IDLE = "waiting for events (idle)"
PARTS = (
    ("starting processes (fork, exec)", ("subprocess.py", "karajo/child_process.py")),
    ("logging to stderr", ("logging/__init__.py",)),
    (
        "run files: logs, webhook data, process group",
        ("karajo/log_store.py", "karajo/files.py", "karajo/process_group.py"),
    ),
    ("schedules (croniter)", ("karajo/schedule.py", "croniter/")),
    ("karajo routes and answers", ("karajo/api.py", "karajo/web.py")),
    ("quart and werkzeug", ("quart/", "quart_trio/", "werkzeug/")),
    ("hypercorn, h11 and sockets", ("hypercorn/", "h11/", "trio/_socket.py")),
    ("karajo jobs and runs", ("karajo/",)),
)


def _file_of(frame: str) -> str:
    return frame[frame.rfind("(") + 1 : frame.rfind(":")]


def _is_entry(file: str) -> bool:
    """karajo's start-up frames, under every sample: they say nothing."""
    return file.endswith(("karajo/cli.py", "karajo/__main__.py"))


def _part_of(stack: list[str]) -> str:
    if "trio/_core/_io_epoll.py" in _file_of(stack[-1]):
        return IDLE
    for frame in reversed(stack):
        file = _file_of(frame)
        if _is_entry(file):
            continue
        for part, patterns in PARTS:
            if any(pattern in file for pattern in patterns):
                return part
    return "trio's scheduler"


def summarize(raw: Path, title: str) -> None:
    """Print the share of main-thread samples by part and by karajo function."""
    parts: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        text, _, count_text = line.rpartition(" ")
        stack = text.split(";")
        if any("threading.py" in _file_of(frame) for frame in stack[:2]):
            continue  # a worker thread (fsync), not the event loop
        count = int(count_text)
        total += count
        parts[_part_of(stack)] += count
        seen = set()
        for frame in stack:
            file = _file_of(frame)
            if "karajo/" in file and not _is_entry(file):
                name = frame[: frame.rfind(" (")]
                if name not in seen:
                    seen.add(name)
                    functions[name] += count
    print(f"\n{title}: {total} samples of the main thread at {RATE}/s")
    for part, count in parts.most_common():
        print(f"  {100 * count / total:5.1f} %  {part}")
    print("  karajo functions, share of samples spent in them and below:")
    for name, count in functions.most_common(12):
        print(f"  {100 * count / total:5.1f} %  {name}")


def record(pid: int, seconds: float, raw: Path) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(math.ceil(seconds)),
         "--rate", str(RATE), "--idle", "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(spy: subprocess.Popen[bytes]) -> None:
    _, errors = spy.communicate()
    if spy.returncode != 0:
        raise SystemExit(f"py-spy failed: {errors.decode(errors='replace').strip()}")


def profile_webhook(base: Path, out: Path, busy: bool) -> None:
    name = "webhook-busy" if busy else "webhook"
    payloads = bodies()
    (base / name).mkdir()
    script = wrk_script(
        base / name,
        [(f"/karajo/api/job_exec/run/h{n}", payloads[n]) for n in range(HOOKS)],
        [200, 429],
    )
    settings = f"max_job_running = {HOOKS}\nshutdown_timeout = 1s\n"
    command = "sleep 3600" if busy else "/bin/true"
    with karajo_server(
        base / name / "karajo", karajo_jobs(command), karajo=settings
    ) as server:
        run_wrk(server.url, script, 1, server.pid)  # warm-up, not sampled
        # The load outlasts the sampling, so no unloaded time is sampled.
        spy = record(server.pid, 5, out / f"{name}.raw")
        load = run_wrk(server.url, script, 6, server.pid)
        finish(spy)
    summarize(
        out / f"{name}.raw",
        f"{name}: {load.rps:.0f} req/s, p99 {load.p99_ms:.1f} ms, server CPU "
        f"{load.server_cpu:.0%} of a core",
    )


def profile_schedule(base: Path, out: Path) -> None:
    count = 1000
    settings = f"max_job_running = {count}\n"
    with karajo_server(
        base / "schedule", schedule_jobs(count, base / "stamps"), karajo=settings
    ) as server:
        minute = (time.time() // 60 + 1) * 60
        if minute - time.time() < 3:
            minute += 60
        log(f"profile schedule: waiting {minute - time.time():.0f}s for the minute")
        time.sleep(max(minute - time.time() - 0.05, 0))
        spy = record(server.pid, 2, out / "schedule.raw")
        finish(spy)
    summarize(out / "schedule.raw", f"schedule: {count} jobs due at one minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=("webhook", "webhook-busy", "schedule"),
        default=["webhook", "webhook-busy", "schedule"],
    )
    parser.add_argument("--out", type=Path, help="where to keep the raw stacks")
    args = parser.parse_args()
    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="karajo-profile-stacks-"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="karajo-profile-") as scratch:
        base = Path(scratch)
        for name in args.only:
            log(f"profile {name}")
            if name == "schedule":
                profile_schedule(base, args.out)
            else:
                profile_webhook(base, args.out, busy=name == "webhook-busy")
    stacks = ", ".join(str(args.out / f"{name}.raw") for name in args.only)
    print(f"\nraw stacks (py-spy --format raw, for flame graphs): {stacks}")


if __name__ == "__main__":
    main()
