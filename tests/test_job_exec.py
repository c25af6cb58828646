"""Exec jobs with real child processes: output, environment, process groups."""

from __future__ import annotations

import os
import re

import trio

from karajo.job import FinishedRun, StartRequest
from karajo.job_exec import COMMAND_PATH, ExecJob
from karajo.process_group import members

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC job: \w+: ", re.M)


async def start_job(
    tree, nursery, jobs: str, name: str = "j", call=None
) -> tuple[ExecJob, trio.MemoryReceiveChannel[FinishedRun]]:
    tree.write_main(jobs)
    env = tree.load()
    if call is not None:
        env.jobs[name].call = call
    job = ExecJob(env.jobs[name], env)
    job.recover()
    send, receive = trio.open_memory_channel[FinishedRun](10)
    nursery.start_soon(job.run_forever, trio.Semaphore(1), send)
    return job, receive


def plain(text: str) -> str:
    return STAMP.sub("", text)


async def run_one(
    job: ExecJob,
    finished: trio.MemoryReceiveChannel[FinishedRun],
    request: StartRequest | None = None,
) -> FinishedRun:
    """Ask a started job for one run and wait for it to end."""
    job.request_run(request or StartRequest("test"))
    with trio.fail_after(20):
        return await finished.receive()


async def run_and_read(
    tree, nursery, jobs: str, request: StartRequest | None = None, call=None
) -> tuple[FinishedRun, str]:
    job, finished = await start_job(tree, nursery, jobs, call=call)
    run = await run_one(job, finished, request)
    return run, plain(run.log_path.read_text())


async def start_running(
    tree, nursery, jobs: str
) -> tuple[ExecJob, trio.MemoryReceiveChannel[FinishedRun], int]:
    """Start a run of job "j"; return once its command's group exists."""
    job, finished = await start_job(tree, nursery, jobs)
    job.request_run(StartRequest("test"))
    return job, finished, await wait_for_group(tree)


async def test_success_log_has_original_shape(tree, nursery):
    run, text = await run_and_read(
        tree, nursery, '[job "j"]\ncommand = echo out\ncommand = "echo err >&2"\n'
    )

    assert run.status == "success"
    assert run.log_path.name == "j.1.success"
    assert text == (
        "=== BEGIN\n\n--- Execute  0: echo out\nout\n\n--- Execute  1: echo err >&2\nerr\n"
        "=== DONE\n=== job: j: finished.\n"
    )


async def test_failing_command_skips_the_rest(tree, nursery):
    run, text = await run_and_read(
        tree,
        nursery,
        '[job "j"]\ncommand = echo a\ncommand = exit 3\ncommand = echo never\n',
    )

    assert run.status == "failed"
    assert "never" not in text.replace("echo never", "")
    assert text.endswith("!!! job: j: exit status 3\n")


async def test_command_environment_is_exactly_the_documented_one(tree, nursery):
    run, text = await run_and_read(tree, nursery, '[job "j"]\ncommand = env | sort\n')

    variables = [line for line in text.splitlines() if re.match(r"^\w+=", line)]
    names = {line.split("=", 1)[0] for line in variables}
    assert names <= {"KARAJO_JOB_COUNTER", "PATH", "PWD", "SHLVL", "_"}
    assert "KARAJO_JOB_COUNTER=1" in variables
    assert f"PATH={COMMAND_PATH}" in variables
    assert "test-secret" not in text


async def test_command_runs_in_job_working_directory(tree, nursery):
    run, text = await run_and_read(tree, nursery, '[job "j"]\ncommand = pwd\n')

    assert str(tree.base / "var" / "lib" / "karajo" / "job" / "j") in text


async def test_webhook_body_and_headers_reach_commands_as_files(tree, nursery):
    request = StartRequest(
        "webhook",
        b"payload\x00bytes",
        [("X-Event", "push"), ("Cookie", "k=v"), ("Remote-Addr", "127.0.0.1")],
    )

    run, text = await run_and_read(
        tree,
        nursery,
        '[job "j"]\n'
        'command = "od -c $KARAJO_WEBHOOK_BODY | head -1; cat $KARAJO_WEBHOOK_HEADERS"\n',
        request,
    )

    assert "p   a   y   l   o   a   d  \\0   b" in text
    assert "X-Event: push" in text
    assert "Cookie" not in text
    assert "Remote-Addr" not in text
    assert list((tree.base / "var" / "run" / "karajo" / "job").glob("j.1.*")) == []


async def test_output_without_final_newline_is_kept(tree, nursery):
    run, text = await run_and_read(tree, nursery, '[job "j"]\ncommand = printf abc\n')

    assert "\nabc\n=== DONE\n" in text


async def test_cancel_ends_tree_with_background_grandchild(tree, nursery):
    job, finished, group = await start_running(
        tree,
        nursery,
        '[job "j"]\ncommand = "sleep 300 & sleep 301 & echo started; wait"\n',
    )

    assert job.cancel()
    with trio.fail_after(20):
        run = await finished.receive()

    assert run.status == "canceled"
    assert members(group) == []
    text = plain(run.log_path.read_text())
    assert "started" in text
    assert "??? CANCELED (canceled by request)" in text


async def test_background_process_writing_output_is_part_of_the_run(tree, nursery):
    run, text = await run_and_read(
        tree, nursery, '[job "j"]\ncommand = "(sleep 0.5; echo late) & echo early"\n'
    )

    assert run.status == "success"
    assert text.index("\nearly\n") < text.index("\nlate\n") < text.index("=== DONE")


async def test_daemon_with_redirected_output_is_left_running(tree, nursery):
    run, text = await run_and_read(
        tree,
        nursery,
        '[job "j"]\ncommand = "nohup sleep 7777 >/dev/null 2>&1 & echo started"\n',
    )

    daemons = [pid for pid in _all_pids() if "sleep 7777" in _cmdline(pid)]
    for pid in daemons:
        os.kill(pid, 9)
    assert run.status == "success"
    assert len(daemons) == 1
    assert "ended the command's remaining processes" not in text


async def test_sigterm_ignoring_command_gets_sigkill(tree, nursery):
    job, finished, _ = await start_running(
        tree,
        nursery,
        '[job "j"]\ncommand = "trap \'\' TERM; echo ready; sleep 300 & wait"\n',
    )
    await trio.sleep(0.2)

    job.cancel()
    with trio.fail_after(30):
        run = await finished.receive()

    assert "with SIGKILL" in run.log_path.read_text()


async def test_timeout_fails_run_and_ends_processes(tree, nursery):
    job, finished, group = await start_running(
        tree,
        nursery,
        '[job "j"]\ntimeout = 1s\ncommand = "sleep 7778 & sleep 7779 & wait"\n',
    )
    with trio.fail_after(20):
        run = await finished.receive()
    text = plain(run.log_path.read_text())

    assert run.status == "failed"
    assert "!!! job: j: timed out after 1s" in text
    assert "with SIGTERM" in text
    assert members(group) == []
    assert not any("sleep 777" in _cmdline(pid) for pid in _all_pids())


async def test_callable_job_writes_log_and_fails_by_raising(tree, nursery):
    async def work(run_log) -> None:
        run_log.line("from python")
        raise RuntimeError("disk is on fire")

    run, text = await run_and_read(
        tree, nursery, '[job "j"]\ncommand = unused\n', call=work
    )

    assert run.status == "failed"
    assert "from python" in text
    assert "!!! job: j: RuntimeError: disk is on fire" in text


async def test_counter_continues_after_restart(tree, nursery):
    first, _ = await run_and_read(tree, nursery, '[job "j"]\ncommand = true\n')
    second, _ = await run_and_read(tree, nursery, '[job "j"]\ncommand = true\n')

    assert (first.counter, second.counter) == (1, 2)


async def test_paused_timer_tick_records_a_paused_log(tree, nursery):
    job, _ = await start_job(
        tree, nursery, '[job "j"]\ninterval = 1m\ncommand = true\n'
    )
    job.pause()

    with trio.fail_after(10):
        while not tree.logs("j"):
            await trio.sleep(0.01)

    assert tree.logs("j") == ["j.1.paused"]
    assert (
        "paused; the timer run is skipped"
        in (tree.log_dir("j") / "j.1.paused").read_text()
    )


async def wait_for_group(tree) -> int:
    group_file = tree.base / "var" / "run" / "karajo" / "job" / "j.pgid"
    with trio.fail_after(10):
        while not group_file.exists():
            await trio.sleep(0.01)
    return int(group_file.read_text().split()[1])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


async def test_a_command_that_cannot_start_fails_the_run_and_leaks_no_fd(
    tree, nursery, monkeypatch
):
    def refuse(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr("karajo.job_exec.start_process", refuse)
    job, finished = await start_job(tree, nursery, '[job "j"]\ncommand = true\n')
    open_before = len(os.listdir("/proc/self/fd"))

    run = await run_one(job, finished)

    assert run.status == "failed"
    assert (
        f"!!! job: j: cannot start /bin/sh in {job.work_dir}: No such file or directory"
        in run.log_path.read_text()
    )
    assert len(os.listdir("/proc/self/fd")) == open_before


async def test_a_removed_working_directory_is_made_again(tree, nursery):
    job, finished = await start_job(tree, nursery, '[job "j"]\ncommand = pwd\n')
    job.work_dir.rmdir()

    run = await run_one(job, finished)

    assert run.status == "success"
    assert str(job.work_dir) in run.log_path.read_text()


async def test_a_working_directory_that_cannot_be_made_fails_the_run(tree, nursery):
    job, finished = await start_job(tree, nursery, '[job "j"]\ncommand = true\n')
    job.work_dir.rmdir()
    job.work_dir.write_text("a file in the way")

    run = await run_one(job, finished)

    assert run.status == "failed"
    assert (
        f"cannot make the working directory {job.work_dir}: File exists"
        in run.log_path.read_text()
    )


async def test_webhook_data_that_cannot_be_written_fails_the_run_saying_where(
    tree, nursery, caplog
):
    job, finished = await start_job(tree, nursery, '[job "j"]\ncommand = true\n')
    job.run_dir.rmdir()
    job.run_dir.write_text("a file in the way")

    run = await run_one(job, finished, StartRequest("webhook", body=b"{}", headers=[]))

    assert run.status == "failed"
    reason = f"cannot write the webhook's data into {job.run_dir}: Not a directory"
    assert reason in run.log_path.read_text()
    assert f"job j run 1: failed: {reason}; its log is {run.log_path}" in caplog.text
