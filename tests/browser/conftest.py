"""Browser tests: Playwright drives Debian's Chromium against a real karajo.

The server runs in a child process (tests/conftest.py `spawn_server`) on a
copy of the example configuration, with a few jobs added for the tests; the
browser is driven with Playwright's sync API from plain (non-trio) tests.
Chromium is /usr/bin/chromium, which scripts/test installs when missing;
Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from karajo.config import load_environment
from tests.conftest import ServerProcess, spawn_server

playwright_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"
# Flags for a headless Chromium on a machine without outside network: no
# sandbox (root), no GPU, and none of the background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLE_SECRET = "example-secret-change-me"
# Jobs the flows need beside the example's own.
TEST_JOBS = """\
[job "Ticker"]
description = Writes a line, waits for the test, writes another.
path = /ticker
command = echo tick 1
command = "while [ ! -e go ]; do sleep 0.05; done"
command = echo tick 2

[job "Hostile"]
description = <script>window.pwned = 'script'</script>\
<img src=x onerror=window.pwned=2><b>still bold</b>
command = "echo '<img src=x onerror=\\"window.pwned = 3\\"><b>not bold</b>'"
"""
USER = 'ops "ü" & co'
PASSWORD = "p@ss w&rd=%+'<>ü;#"


@dataclass
class Karajo:
    """A karajo started for browser tests."""

    process: ServerProcess
    base: Path
    config_file: Path

    @property
    def url(self) -> str:
        return self.process.url

    def work_dir(self, job_id: str) -> Path:
        return self.base / "var" / "lib" / "karajo" / "job" / job_id

    def job_names(self) -> list[tuple[str, str]]:
        """(kind, name) of every job the configuration defines."""
        env = load_environment(self.config_file)
        return [("job", name) for name in env.jobs] + [
            ("job_http", name) for name in env.http_jobs
        ]


def _require_chromium() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    message = f"{CHROMIUM} is missing; scripts/test installs Debian's chromium"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def ensure_docs_built() -> None:
    """Build the documentation into the package when it is missing."""
    if (REPO / "karajo" / "www" / "doc" / "index.html").is_file():
        return
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_docs.py")], check=True
    )


def start_karajo(base: Path, listen: str, *, with_users: bool) -> Karajo:
    """Copy the example configuration under `base` and run karajo on it."""
    etc = base / "etc" / "karajo"
    shutil.copytree(REPO / "examples" / "etc" / "karajo", etc)
    main = etc / "karajo.conf"
    text = main.read_text()
    text = re.sub(r"(?m)^listen_address = .*$", f"listen_address = {listen}", text)
    text = re.sub(r"(?m)^dir_base = .*$", f"dir_base = {base}", text)
    main.write_text(text)
    (etc / "job.d" / "browser-tests.conf").write_text(TEST_JOBS)
    if with_users:
        # The lowest bcrypt cost: these tests check the flow, not bcrypt.
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        escaped = USER.replace("\\", "\\\\").replace('"', '\\"')
        (etc / "user.conf").write_text(f'[user "{escaped}"]\npassword = {hashed}\n')
    process = spawn_server(main, base / "karajo.stderr")
    return Karajo(process, base, main)


def stop_karajo(karajo: Karajo) -> None:
    karajo.process.process.terminate()
    try:
        karajo.process.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        karajo.process.process.kill()
        karajo.process.process.wait()


@pytest.fixture(scope="module")
def playwright() -> Iterator[object]:
    _require_chromium()
    ensure_docs_built()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    manager = playwright_api.sync_playwright()
    driver = manager.start()
    playwright_api.expect.set_options(timeout=15_000)
    yield driver
    manager.__exit__(None, None, None)


def launch_chromium(playwright: object, extra_args: list[str] | None = None) -> object:
    # Playwright gives each launch a fresh, temporary user-data directory.
    return playwright.chromium.launch(  # type: ignore[attr-defined]
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS + (extra_args or []),
    )


def screenshot(page: object, name: str) -> Path:
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
