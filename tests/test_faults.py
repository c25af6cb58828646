"""Faults: a full or read-only log directory, and stops in the middle of runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trio

from tests.conftest import sign, spawn_server, wait_until


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tiny tmpfs at `path`; skip the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount_read_only(path: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


async def test_full_log_directory_fails_run_and_server_keeps_going(
    tree, start_server, caplog
):
    tree.write_main(
        '[job "noisy"]\npath = /noisy\ncommand = "head -c 2000000 /dev/zero | tr \'\\\\0\' x"\n'
    )
    with small_tmpfs(tree.log_dir("noisy")):
        running = await start_server()

        response = await running.client.post(
            "/karajo/api/job_exec/run/noisy", headers={"X-Karajo-Sign": sign(b"")}
        )
        with trio.fail_after(20):
            while running.server.jobs["noisy"].status != "failed":
                await trio.sleep(0.02)
        environment = await running.client.get("/karajo/api/environment")

    assert response.status_code == 200
    assert environment.status_code == 200
    assert "No space left on device" in caplog.text
    assert "check the space and permissions of the log directory" in caplog.text


async def test_read_only_log_directory_fails_run_and_server_keeps_going(
    tree, start_server, caplog
):
    tree.write_main('[job "ro"]\npath = /ro\ncommand = echo hi\n')
    with small_tmpfs(tree.log_dir("ro")) as directory:
        running = await start_server()
        remount_read_only(directory)

        response = await running.client.post(
            "/karajo/api/job_exec/run/ro", headers={"X-Karajo-Sign": sign(b"")}
        )
        with trio.fail_after(20):
            while running.server.jobs["ro"].status != "failed":
                await trio.sleep(0.02)
        again = await running.client.post(
            "/karajo/api/job_exec/run/ro", headers={"X-Karajo-Sign": sign(b"")}
        )

    assert (response.status_code, again.status_code) == (200, 200)
    assert "cannot create its log" in caplog.text
    assert "Read-only file system" in caplog.text


def test_sigterm_lets_short_run_finish_and_cancels_long_one(
    tree, tmp_path, server_processes
):
    tree.write_main(
        '[job "short"]\npath = /short\ncommand = echo started\ncommand = sleep 1\n'
        '[job "long"]\npath = /long\ncommand = echo started\ncommand = sleep 60\n',
        karajo="shutdown_timeout = 3s\nmax_job_running = 2\n",
    )
    server = spawn_server(tree.main_file, tmp_path / "stderr")
    server_processes.append(server)
    for path in ("short", "long"):
        httpx.post(
            f"{server.url}/karajo/api/job_exec/run/{path}",
            headers={"X-Karajo-Sign": sign(b"")},
        )
    for job in ("short", "long"):
        wait_until(lambda job=job: "started\n" in _read_logs(tree.log_dir(job)))

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=30) == 0
    assert os.listdir(tree.log_dir("short")) == ["short.1.success"]
    assert os.listdir(tree.log_dir("long")) == ["long.1.canceled"]
    text = (tree.log_dir("long") / "long.1.canceled").read_text()
    assert "??? CANCELED (karajo is stopping)" in text
    assert "waiting up to 3s for 2 running run(s)" in server.stderr()


def test_a_second_sigterm_cancels_running_runs_at_once(
    tree, tmp_path, server_processes
):
    tree.write_main(
        '[job "long"]\npath = /long\ncommand = echo started\ncommand = sleep 60\n',
        karajo="shutdown_timeout = 5m\n",
    )
    server = spawn_server(tree.main_file, tmp_path / "stderr")
    server_processes.append(server)
    httpx.post(
        f"{server.url}/karajo/api/job_exec/run/long",
        headers={"X-Karajo-Sign": sign(b"")},
    )
    wait_until(lambda: "started\n" in _read_logs(tree.log_dir("long")))

    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "waiting up to 5m0s" in server.stderr())
    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=30) == 0
    assert os.listdir(tree.log_dir("long")) == ["long.1.canceled"]
    assert "received SIGTERM again: canceling the running runs now" in server.stderr()


def _read_logs(directory: Path) -> str:
    if not directory.exists():
        return ""
    return "".join(path.read_text() for path in directory.iterdir())


def test_sighup_reload_adds_removes_changes_and_refuses_broken(
    tree, tmp_path, server_processes
):
    tree.write_main(
        '[job "kept"]\npath = /kept\ncommand = echo old\n'
        '[job "removed"]\npath = /removed\ncommand = sleep 2\ncommand = echo finished\n'
    )
    server = spawn_server(tree.main_file, tmp_path / "stderr")
    server_processes.append(server)
    hook = lambda path: httpx.post(
        f"{server.url}/karajo/api/job_exec/run/{path}",  # noqa: E731
        headers={"X-Karajo-Sign": sign(b"")},
    )
    assert hook("kept").status_code == 200
    wait_until(lambda: (tree.log_dir("kept") / "kept.1.success").exists())
    assert hook("removed").status_code == 200
    wait_until(lambda: (tree.log_dir("removed") / "removed.1.running").exists())

    tree.write_main(
        '[job "kept"]\npath = /kept\ncommand = echo new\n'
        '[job "added"]\npath = /added\ncommand = echo hello\n'
    )
    server.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration reloaded" in server.stderr())

    assert hook("kept").status_code == 200
    assert hook("added").status_code == 200
    assert hook("removed").status_code == 404
    wait_until(lambda: (tree.log_dir("kept") / "kept.2.success").exists())
    wait_until(lambda: (tree.log_dir("added") / "added.1.success").exists())
    wait_until(lambda: (tree.log_dir("removed") / "removed.1.success").exists())
    assert "new" in (tree.log_dir("kept") / "kept.2.success").read_text()

    tree.write_main('[job "kept"]\npath = /kept\ninterval = never\ncommand = echo x\n')
    server.process.send_signal(signal.SIGHUP)
    wait_until(
        lambda: "reload refused; the running configuration stays" in server.stderr()
    )

    assert (
        f"reload refused: {tree.main_file}:9: interval: invalid duration"
        in server.stderr()
    )
    assert hook("added").status_code == 200
    assert server.process.poll() is None
