"""Run logs on disk: stamping, naming, recovery at start, retention."""

from __future__ import annotations

import re

from karajo.log_store import JobLogDir, read_log_content

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC job: demo: "


def make_dir(tmp_path, retention: int = 5) -> JobLogDir:
    log_dir = JobLogDir(tmp_path / "demo", "job", "demo", retention)
    log_dir.scan()
    return log_dir


async def test_every_line_is_stamped(tmp_path):
    log_dir = make_dir(tmp_path)
    run_log = log_dir.open_run(1)

    run_log.write(b"one\ntwo\n")
    run_log.write(b"")
    run_log.line("three")
    await log_dir.finish_run(run_log, "success")

    lines = (tmp_path / "demo" / "demo.1.success").read_text().splitlines()
    assert [re.sub(STAMP, "", line) for line in lines] == ["one", "two", "three"]
    assert all(re.match(STAMP, line) for line in lines)


async def test_partial_line_is_continued_not_stamped_again(tmp_path):
    log_dir = make_dir(tmp_path)
    run_log = log_dir.open_run(1)

    run_log.write(b"abc")
    run_log.write(b"def\ngh")
    run_log.line("=== DONE")
    await log_dir.finish_run(run_log, "success")

    text = (tmp_path / "demo" / "demo.1.success").read_text()
    assert [re.sub(STAMP, "", line) for line in text.splitlines()] == [
        "abcdef",
        "gh",
        "=== DONE",
    ]


def test_running_log_is_on_disk_before_the_run_ends(tmp_path):
    log_dir = make_dir(tmp_path)
    run_log = log_dir.open_run(3)

    run_log.write(b"progress\n")

    assert "progress" in (tmp_path / "demo" / "demo.3.running").read_text()
    run_log.close()


def test_scan_recovers_counter_status_and_interrupted_run(tmp_path):
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "demo.1.success").write_text("x\n")
    (directory / "demo.2.failed").write_text("x\n")
    (directory / "demo.3.running").write_text("half a line")
    (directory / "demo.4").write_text("no status\n")
    (directory / "garbage").write_text("no counter\n")

    log_dir = JobLogDir(directory, "job", "demo", 5)
    interrupted = log_dir.scan()

    assert [entry.counter for entry in interrupted] == [3]
    assert sorted(p.name for p in directory.iterdir()) == [
        "demo.1.success",
        "demo.2.failed",
        "demo.3.failed",
    ]
    text = (directory / "demo.3.failed").read_text()
    assert text.startswith("half a line\n")
    assert "!!! job: demo: interrupted: karajo stopped" in text
    assert (log_dir.last_counter, log_dir.last_status) == (3, "failed")


async def test_retention_keeps_the_newest_logs(tmp_path):
    log_dir = make_dir(tmp_path, retention=2)

    for counter in range(1, 5):
        await log_dir.finish_run(log_dir.open_run(counter), "success")

    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "demo.3.success",
        "demo.4.success",
    ]
    assert [entry.counter for entry in log_dir.entries] == [3, 4]


def test_counters_order_numerically_not_by_name(tmp_path):
    directory = tmp_path / "demo"
    directory.mkdir()
    for counter in (9, 10, 11):
        (directory / f"demo.{counter}.success").write_text("")

    log_dir = JobLogDir(directory, "job", "demo", 2)
    log_dir.scan()

    assert [entry.counter for entry in log_dir.entries] == [10, 11]


def test_big_log_is_cut_in_the_middle_for_the_api(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"a" * 100_000 + b"b" * 100_000)

    content = read_log_content(path, limit=80_000)

    assert len(content) < 81_000
    assert content.startswith(b"a" * 1000)
    assert content.endswith(b"b" * 1000)
    assert b"bytes left out; the whole log is" in content


def test_scan_ignores_other_names_symlinks_and_huge_counters(tmp_path):
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "demo.6.success").write_text("mine\n")
    (directory / "other.9.success").write_text("another job's\n")
    (directory / "demo.7.weird").write_text("unknown status\n")
    (directory / ("demo." + "9" * 25 + ".success")).write_text("huge\n")
    (directory / "demo.8.success").symlink_to("/etc/passwd")

    log_dir = JobLogDir(directory, "job", "demo", 1)
    log_dir.scan()

    assert [entry.name for entry in log_dir.entries] == ["demo.6.success"]
    assert (directory / "other.9.success").exists()
    assert (directory / "demo.8.success").is_symlink()
