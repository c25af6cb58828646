"""Child processes started on the event loop: exit statuses and reaping."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from karajo import child_process
from karajo.child_process import start_process


def _start(command: str, tmp_path: Path) -> child_process.ChildProcess:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        return start_process(
            ["/bin/sh", "-c", command],
            output=devnull,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},
        )
    finally:
        os.close(devnull)


@pytest.mark.parametrize(("command", "expected"), [("exit 0", 0), ("exit 3", 3)])
async def test_wait_gives_the_exit_status(
    tmp_path: Path, command: str, expected: int
) -> None:
    process = _start(command, tmp_path)
    assert await process.wait() == expected
    assert process.returncode == expected
    assert process.poll() == expected


async def test_a_signal_gives_a_negative_status(tmp_path: Path) -> None:
    process = _start("sleep 30", tmp_path)
    os.kill(process.pid, signal.SIGTERM)
    assert await process.wait() == -signal.SIGTERM


async def test_poll_from_another_task_ends_a_wait(tmp_path: Path) -> None:
    process = _start("sleep 0.2", tmp_path)
    results: list[int] = []

    async def waiter() -> None:
        results.append(await process.wait())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        while process.poll() is None:
            await trio.sleep(0.02)
    assert results == [0]


async def test_without_pidfd_many_long_waits_do_not_hold_up_a_short_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kernels before 5.3, or a seccomp profile, refuse pidfd_open: every
    # wait then takes a thread, more than trio's default pool of 40.
    def no_pidfd(pid: int, flags: int = 0) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(child_process.os, "pidfd_open", no_pidfd)
    long_ones = [_start("exec sleep 30", tmp_path) for _ in range(45)]
    try:
        async with trio.open_nursery() as nursery:
            for process in long_ones:
                nursery.start_soon(process.wait)
            await trio.sleep(0.2)
            with trio.fail_after(10):
                assert await _start("exit 5", tmp_path).wait() == 5
            for process in long_ones:
                os.kill(process.pid, signal.SIGKILL)
    finally:
        for process in long_ones:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)


async def test_the_shell_starts_in_the_working_directory(tmp_path: Path) -> None:
    process = _start("pwd > where", tmp_path)
    assert await process.wait() == 0
    assert (tmp_path / "where").read_text().strip() == str(tmp_path)


def test_a_missing_working_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        _start("true", tmp_path / "nope")
