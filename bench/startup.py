#!/usr/bin/env python3
"""Start-up time: karajo.pyz against an installed wheel.

For each way of running karajo, the median over several runs of

- `karajo version`, from start to exit;
- the server: from start until it first answers GET /karajo/api/environment
  with 200, on a small configuration on a free loopback port.

Ways of running (rows):

- wheel: karajo's wheel installed with pip in a new virtual environment,
  bytecode compiled at install, as a distribution package would;
- pyz: `python3 karajo.pyz`, bytecode in the file matching this Python, once
  per interpreter given with --python;
- pyz, foreign bytecode: a zipapp built with --no-bytecode, which is what a
  Python of another version sees in any karajo.pyz: with a warm cache (every
  start but the first), a cold one (the first start), none at all (no
  writable cache folder), and what zipimport alone would do at every start.

    .venv/bin/python bench/startup.py [--runs 7] [--python /usr/bin/python3]

Needs pip and PyPI or pip's cache, as build_zipapp.py does.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_TIMEOUT = 60.0
POLL_INTERVAL = 0.002

CONFIG = """\
[karajo]
name = bench
listen_address = 127.0.0.1:{port}
dir_base = {base}
secret = bench-secret

[job "Hook"]
path = /hook
command = true
"""


_RUN_WITHOUT_CACHE = (
    "import runpy, sys; sys.path.insert(0, {archive!r}); "
    "runpy.run_module('karajo', run_name='__main__', alter_sys=True)"
)


@dataclass
class Way:
    """One way of starting karajo: a command prefix and its environment."""

    label: str
    command: list[str]
    env: dict[str, str]
    before_each: Callable[[], None] = lambda: None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def time_version(way: Way) -> float:
    way.before_each()
    started = time.perf_counter()
    subprocess.run(
        way.command + ["version"], env=way.env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def time_first_answer(way: Way, config_dir: Path) -> float:
    """Seconds from starting the server to its first 200 answer."""
    port = free_port()
    config = config_dir / "karajo.conf"
    config.write_text(CONFIG.format(port=port, base=config_dir / "base"))
    way.before_each()
    started = time.perf_counter()
    process = subprocess.Popen(
        way.command + ["-config", str(config)],
        env=way.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_answer(port, process)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=SERVER_TIMEOUT)


def _wait_for_answer(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"karajo exited with status {process.returncode}")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/karajo/api/environment")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(POLL_INTERVAL)
    raise RuntimeError("karajo did not answer in time")


def build_zipapp(output: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "build_zipapp.py"), "--output", str(output)]
        + list(extra),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def install_wheel(scratch: Path) -> Path:
    """A new venv with karajo's wheel and the pinned dependencies; its python."""
    wheels = scratch / "wheels"
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps"]
        + ["--wheel-dir", str(wheels), str(ROOT)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    venv = scratch / "wheel-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = next(wheels.glob("karajo-*.whl"))
    # The same dependency versions as the zipapp, read where they are pinned.
    sys.path.insert(0, str(ROOT))
    from build_zipapp import read_pins

    constraints = scratch / "constraints.txt"
    constraints.write_text("\n".join(read_pins(ROOT / "pyproject.toml").bundled))
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", *quiet]
        + ["--constraint", str(constraints), str(wheel)],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return venv / "bin" / "karajo"


def ways(scratch: Path, pythons: list[str]) -> list[Way]:
    pyz = scratch / "karajo.pyz"
    foreign = scratch / "karajo-sources-only.pyz"
    build_zipapp(pyz)
    build_zipapp(foreign, "--no-bytecode")
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    warm = env | {"XDG_CACHE_HOME": str(scratch / "warm-cache")}
    cold = env | {"XDG_CACHE_HOME": str(scratch / "cold-cache")}

    def empty_cold_cache() -> None:
        shutil.rmtree(scratch / "cold-cache", ignore_errors=True)

    result = [Way("wheel in a venv", [str(install_wheel(scratch))], env)]
    for python in pythons:
        version = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        result.append(Way(f"pyz, Python {version} ({python})", [python, str(pyz)], env))
    python = pythons[0]
    result += [
        Way("pyz, foreign bytecode, warm cache", [python, str(foreign)], warm),
        Way(
            "pyz, foreign bytecode, cold cache",
            [python, str(foreign)],
            cold,
            empty_cold_cache,
        ),
        # -B: a cache is read but never written, and there is none, so each
        # start compiles every module it imports.
        Way(
            "pyz, foreign bytecode, no cache",
            [python, "-B", str(foreign)],
            env | {"HOME": str(scratch / "no-home"), "XDG_CACHE_HOME": ""},
        ),
        # What a zipapp without karajo.zipimport_cache would do at each start.
        Way(
            "pyz, foreign bytecode, zipimport alone",
            [python, "-c", _RUN_WITHOUT_CACHE.format(archive=str(foreign))],
            env,
        ),
    ]
    return result


def _real_python(name: str) -> str:
    return subprocess.run(
        [name, "-c", "import sys; print(sys.executable)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--python",
        action="append",
        help="an interpreter to run the pyz with; repeatable (default python3)",
    )
    args = parser.parse_args()
    # The program itself, not a wrapper such as pyenv's shim, which would
    # add its own start-up to every row.
    pythons = args.python or [_real_python("python3")]
    with tempfile.TemporaryDirectory(prefix="karajo-bench-") as name:
        scratch = Path(name)
        all_ways = ways(scratch, pythons)
        # Fills the warm cache.
        warm = next(way for way in all_ways if way.label.endswith("warm cache"))
        time_version(warm)
        time_first_answer(warm, scratch)
        versions: dict[str, list[float]] = {way.label: [] for way in all_ways}
        answers: dict[str, list[float]] = {way.label: [] for way in all_ways}
        # Round-robin, so that load from elsewhere on the machine spreads
        # over every row instead of spoiling one.
        for _ in range(args.runs):
            for way in all_ways:
                versions[way.label].append(time_version(way))
                answers[way.label].append(time_first_answer(way, scratch))
    rows = [
        (label, statistics.median(versions[label]), statistics.median(answers[label]))
        for label in versions
    ]
    print(f"medians of {args.runs} runs, seconds")
    width = max(len(label) for label, _, _ in rows)
    print(f"{'how karajo runs':{width}}  {'version':>8}  {'first answer':>12}")
    for label, version, answer in rows:
        print(f"{label:{width}}  {version:8.3f}  {answer:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
