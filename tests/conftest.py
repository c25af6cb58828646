"""Fixtures: configuration trees on disk and real servers on loopback."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from karajo.config import Environment, load_environment
from karajo.server import Server

# The `certificate` and `mail_server` fixtures of the mail tests.
pytest_plugins = ["tests.mail_server"]

SECRET = "test-secret"


def sign(payload: bytes | str, secret: str = SECRET) -> str:
    if isinstance(payload, str):
        payload = payload.encode()
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


@dataclass
class ConfigTree:
    """A dir_base with etc/karajo/ files, as an installation has."""

    base: Path

    @property
    def etc(self) -> Path:
        return self.base / "etc" / "karajo"

    @property
    def main_file(self) -> Path:
        return self.etc / "karajo.conf"

    def write(self, relative: str, text: str) -> Path:
        path = self.etc / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def write_main(self, jobs: str = "", *, karajo: str = "") -> Path:
        header = f"""\
            [karajo]
            name = test
            listen_address = 127.0.0.1:0
            dir_base = {self.base}
            secret = {SECRET}
            """
        return self.write(
            "karajo.conf",
            textwrap.dedent(header)
            + textwrap.dedent(karajo)
            + "\n"
            + textwrap.dedent(jobs),
        )

    def load(self) -> Environment:
        return load_environment(self.main_file)

    def log_dir(self, job_id: str, kind: str = "job") -> Path:
        return self.base / "var" / "log" / "karajo" / kind / job_id

    def logs(self, job_id: str, kind: str = "job") -> list[str]:
        directory = self.log_dir(job_id, kind)
        if not directory.exists():
            return []
        return sorted(os.listdir(directory), key=lambda name: int(name.split(".")[1]))


@pytest.fixture
def tree(tmp_path: Path) -> ConfigTree:
    return ConfigTree(tmp_path / "base")


@dataclass
class RunningServer:
    server: Server
    url: str
    client: httpx.AsyncClient
    tree: ConfigTree

    async def wait_for_log(
        self, job_id: str, suffix: str, count: int = 1, timeout: float = 15
    ) -> list[str]:
        with trio.fail_after(timeout):
            while True:
                found = [
                    name for name in self.tree.logs(job_id) if name.endswith(suffix)
                ]
                if len(found) >= count:
                    return found
                await trio.sleep(0.02)


@pytest.fixture
async def start_server(
    tree: ConfigTree, nursery: trio.Nursery
) -> AsyncIterator[Callable[[], object]]:
    """Start the real server in this test's nursery on a free loopback port."""
    clients: list[httpx.AsyncClient] = []

    async def start() -> RunningServer:
        server = Server(tree.load())
        binds = await nursery.start(server.serve)
        client = httpx.AsyncClient(base_url=binds[0], timeout=10)
        clients.append(client)
        return RunningServer(server, binds[0], client, tree)

    yield start
    for client in clients:
        await client.aclose()


# A karajo server in a child process, for kill -9 and signal tests.


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def spawn_server(
    config_file: Path, stderr_path: Path, timeout: float = 20
) -> ServerProcess:
    """Run `python -m karajo -config FILE` and wait until it serves."""
    stderr = open(stderr_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "karajo", "-config", str(config_file)],
        stdin=subprocess.DEVNULL,
        stdout=stderr,
        stderr=stderr,
    )
    stderr.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"serving on (http://\S+?)(,| with)", stderr_path.read_text())
        if match:
            return ServerProcess(process, match.group(1), stderr_path)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"karajo did not start:\n{stderr_path.read_text()}")


@pytest.fixture
def server_processes() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()


async def trigger(running: RunningServer, path: str) -> None:
    """POST a signed, empty-object webhook to a job's path; expect 200."""
    response = await running.client.post(
        f"/karajo/api/job_exec/run{path}",
        content=b"{}",
        headers={"X-Karajo-Sign": sign(b"{}")},
    )
    assert response.status_code == 200, response.text


def wait_until(condition: Callable[[], object], timeout: float = 20) -> None:
    """Poll `condition` (in tests of child processes) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
