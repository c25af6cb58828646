"""The command line, run as a real child process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx

from karajo import __version__
from karajo.process_group import members
from tests.conftest import sign, spawn_server, wait_until


def karajo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "karajo", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_version_prints_version():
    result = karajo("version")

    assert (result.returncode, result.stdout) == (0, f"karajo version {__version__}\n")


def test_a_reader_that_goes_away_gets_no_traceback(tree):
    # As with `karajo check | head -1`: the pipe is closed before the output.
    tree.write_main('[job "j"]\ncommand = true\n')
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "karajo", "check", "-config", str(tree.main_file)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == ""


def test_check_prints_jobs_commands_and_next_runs(tree):
    tree.write_main(
        '[job "Nightly"]\nschedule = daily@02:30\ncommand = echo a; echo b\n'
        '[job "hook"]\npath = /h\nauth_kind = github\ncommand = true\n'
    )

    result = karajo("check", "-config", str(tree.main_file))

    assert result.returncode == 0, result.stderr
    assert '[job "Nightly"] id nightly' in result.stdout
    assert result.stdout.count(":30:00 UTC") == 3
    assert "command  0: echo a" in result.stdout
    assert (
        "POST /karajo/api/job_exec/run/h (github, signature in X-Hub-Signature-256)"
        in result.stdout
    )
    assert ":9: command runs as 'echo a'" in result.stderr


def test_check_broken_line_prints_file_line_and_exits_2(tree):
    tree.write_main('[job "x"]\ncommand = true\n"broken\n')

    result = karajo("--config", str(tree.main_file), "check")

    assert result.returncode == 2
    assert result.stderr.startswith(f"{tree.main_file}:9: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_server_with_bad_config_exits_2_without_traceback(tree):
    tree.write_main('[job "x"]\ninterval = often\ncommand = true\n')

    result = karajo("-config", str(tree.main_file))

    assert result.returncode == 2
    assert (
        result.stderr == f"{tree.main_file}:8: interval: invalid duration 'often': "
        "expected numbers with units ns, us, ms, s, m or h, like 90s or 1h30m\n"
    )


def test_sigterm_stops_server_with_status_0(tree, tmp_path, server_processes):
    tree.write_main('[job "x"]\npath = /x\ncommand = true\n')
    server = spawn_server(tree.main_file, tmp_path / "stderr")
    server_processes.append(server)

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=20) == 0


def test_kill_9_mid_run_then_restart_recovers(tree, tmp_path, server_processes):
    tree.write_main(
        '[job "slow"]\npath = /slow\ncommand = echo going to sleep\ncommand = sleep 30\n'
    )
    first = spawn_server(tree.main_file, tmp_path / "first.stderr")
    server_processes.append(first)
    response = httpx.post(
        f"{first.url}/karajo/api/job_exec/run/slow",
        headers={"X-Karajo-Sign": sign(b"")},
    )
    assert response.status_code == 200
    group_file = tree.base / "var" / "run" / "karajo" / "job" / "slow.pgid"
    group = _wait_for_sleep_group(group_file)

    first.process.kill()
    first.process.wait()
    assert members(group) != [], "the sleep outlives its killed server"
    second = spawn_server(tree.main_file, tmp_path / "second.stderr")
    server_processes.append(second)

    assert members(group) == []
    assert tree.logs("slow") == ["slow.1.failed"]
    text = (tree.log_dir("slow") / "slow.1.failed").read_text()
    assert "going to sleep" in text
    assert text.rstrip().endswith(
        "!!! job: slow: interrupted: karajo stopped while this run was going on"
    )
    httpx.post(
        f"{second.url}/karajo/api/job_exec/run/slow",
        headers={"X-Karajo-Sign": sign(b"")},
    )
    wait_until(lambda: "slow.2.running" in tree.logs("slow"))
    assert re.search(r"job slow: ended \d process\(es\) left running", second.stderr())


def _wait_for_sleep_group(group_file) -> int:
    wait_until(
        lambda: (
            group_file.exists()
            and any(
                _is_sleep(pid)
                for pid in members(int(group_file.read_text().split()[1]))
            )
        )
    )
    return int(group_file.read_text().split()[1])


def _is_sleep(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().startswith(b"sleep")
    except OSError:
        return False
