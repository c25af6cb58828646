"""karajo.pyz, built by build_zipapp.py, on a Python with no packages at all.

The file is built once for this module and run with `python -I` from a
virtual environment made without pip, so that neither the test's packages
nor the system's are importable: only what the zipapp carries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ETC = ROOT / "examples" / "etc" / "karajo"
WEB_FRAMEWORK = ("trio", "quart", "quart_trio", "hypercorn", "httpx")
USER = "admin"
PASSWORD = "pässwörd ✓"
# High enough that a pure-Python check lasts about a second, so that the
# test can see other requests answered meanwhile.
LOGIN_COST = 8
DEPLOY_SECRET = "deploy-secret"
START_TIMEOUT = 60


def build(output: Path, *options: str) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "build_zipapp.py"), "--output", str(output)]
        + list(options),
        check=True,
        capture_output=True,
    )
    return output


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("zipapp") / "karajo.pyz")


@dataclass
class BarePython:
    """A Python with nothing installed, and a clean environment to run it in."""

    python: str
    env: dict[str, str]

    def run(
        self, *args: str | Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.python, "-I", *map(str, args)],
            env=self.env if env is None else env,
            check=False,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
        )


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> BarePython:
    home = tmp_path_factory.mktemp("bare")
    venv = home / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LANG": "C.UTF-8",
    }
    return BarePython(str(venv / "bin" / "python"), env)


def test_bare_python_has_no_packages(bare: BarePython) -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", bare.python, "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == ""
    for module in ("trio", "quart", "httpx", "bcrypt", "cryptography"):
        assert bare.run("-c", f"import {module}").returncode != 0, module


def test_zipapp_build_is_reproducible(zipapp: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again.pyz")

    assert again.read_bytes() == zipapp.read_bytes()


def test_zipapp_holds_no_compiled_extension(zipapp: Path) -> None:
    names = zipfile.ZipFile(zipapp).namelist()

    assert "karajo/cli.py" in names and "karajo/cli.pyc" in names
    assert not [name for name in names if name.endswith((".so", ".pyd"))]


def test_zipapp_runs_as_program(zipapp: Path) -> None:
    assert zipapp.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(zipapp, os.X_OK)


@pytest.mark.parametrize("command", [["version"], ["--help"]])
def test_zipapp_version_and_help_import_no_web_framework(
    bare: BarePython, zipapp: Path, command: list[str]
) -> None:
    result = bare.run("-X", "importtime", zipapp, *command)

    assert result.returncode == 0, result.stderr
    assert "karajo" in result.stdout
    imported = re.findall(r"\|\s+(\S+)$", result.stderr, re.MULTILINE)
    assert "karajo.cli" in imported
    assert [name for name in imported if name.split(".")[0] in WEB_FRAMEWORK] == []


def test_zipapp_prints_version(bare: BarePython, zipapp: Path) -> None:
    result = bare.run(zipapp, "version")

    assert re.fullmatch(r"karajo version \d+\.\d+\.\d+\n", result.stdout)


def test_zipapp_checks_example_configuration(bare: BarePython, zipapp: Path) -> None:
    result = bare.run(zipapp, "check", "-config", EXAMPLE_ETC / "karajo.conf")

    assert result.returncode == 0, result.stderr
    assert '[job "Deploy"] id deploy' in result.stdout


@dataclass
class ZipappServer:
    url: str
    sourcehut_key: Ed25519PrivateKey
    has_docs: bool


@pytest.fixture(scope="module")
def server(
    bare: BarePython, zipapp: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ZipappServer]:
    """The example configuration served by the zipapp on a free port."""
    base = tmp_path_factory.mktemp("example")
    etc = base / "etc" / "karajo"
    shutil.copytree(EXAMPLE_ETC, etc)
    port = free_port()
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    config = etc / "karajo.conf"
    text = re.sub(
        r"(?m)^listen_address = .*$",
        f"listen_address = 127.0.0.1:{port}\nsourcehut_public_key = {public.decode()}",
        config.read_text(),
    )
    config.write_text(text)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(LOGIN_COST)).decode()
    (etc / "user.conf").write_text(f'[user "{USER}"]\npassword = {hashed}\n')

    log = base / "karajo.log"
    with open(log, "wb") as stream:
        process = subprocess.Popen(
            [bare.python, "-I", str(zipapp), "-config", str(config)],
            env=bare.env,
            stdin=subprocess.DEVNULL,
            stdout=stream,
            stderr=stream,
        )
    try:
        url = _wait_until_serving(process, log)
        docs = "karajo/www/doc/index.html" in zipfile.ZipFile(zipapp).namelist()
        yield ZipappServer(url, key, docs)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=START_TIMEOUT) == 0, log.read_text()


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        match = re.search(r"serving on (http://\S+?)(,| with)", log.read_text())
        if match:
            return match.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"karajo.pyz did not start:\n{log.read_text()}")


async def test_zipapp_signs_in_with_bcrypt_password(server: ZipappServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        refused = await client.get("/karajo/api/environment")
        login = await client.post(
            "/karajo/api/auth/login", data={"name": USER, "password": PASSWORD}
        )
        environment = await client.get("/karajo/api/environment")

    assert refused.status_code == 401
    assert login.status_code == 200
    assert environment.status_code == 200
    assert environment.json()["data"]["name"] == "karajo example"


async def test_zipapp_answers_other_requests_during_slow_login(
    server: ZipappServer,
) -> None:
    login_done = trio.Event()
    answered_during_login: list[bool] = []

    async def login(client: httpx.AsyncClient) -> None:
        await client.post(
            "/karajo/api/auth/login", data={"name": USER, "password": PASSWORD}
        )
        login_done.set()

    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(login, client)
        await trio.sleep(0.05)
        for _ in range(3):
            response = await client.get("/karajo/api/environment")
            answered_during_login.append(
                response.status_code == 401 and not login_done.is_set()
            )

    assert answered_during_login == [True, True, True]


async def test_zipapp_accepts_signed_webhooks(server: ZipappServer) -> None:
    body = b'{"ref": "refs/heads/main"}'
    signature = hmac.new(DEPLOY_SECRET.encode(), body, hashlib.sha256).hexdigest()
    nonce = b"nonce-1"
    ed25519 = base64.b64encode(server.sourcehut_key.sign(body + nonce)).decode()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        deploy = await client.post(
            "/karajo/api/job_exec/run/deploy",
            content=body,
            headers={"X-Karajo-Sign": signature},
        )
        forged = await client.post(
            "/karajo/api/job_exec/run/deploy",
            content=body + b" ",
            headers={"X-Karajo-Sign": signature},
        )
        sourcehut = await client.post(
            "/karajo/api/job_exec/run/sourcehut",
            content=body,
            headers={"X-Payload-Signature": ed25519, "X-Payload-Nonce": "nonce-1"},
        )
        sourcehut_forged = await client.post(
            "/karajo/api/job_exec/run/sourcehut",
            content=body,
            headers={"X-Payload-Signature": ed25519, "X-Payload-Nonce": "nonce-2"},
        )

    assert deploy.status_code == 200, deploy.text
    assert deploy.json()["data"]["id"] == "deploy"
    assert forged.status_code == 403
    assert sourcehut.status_code == 200, sourcehut.text
    assert sourcehut_forged.status_code == 403


async def test_zipapp_serves_documentation(server: ZipappServer) -> None:
    if not server.has_docs:
        pytest.skip("karajo/www/doc/ is not built; python3 scripts/build_docs.py")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.get("/karajo/doc/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


async def test_zipapp_refuses_wrong_password(server: ZipappServer) -> None:
    # Last of the server's tests: a failure makes the next sign-in wait.
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        wrong = await client.post(
            "/karajo/api/auth/login", data={"name": USER, "password": "wrong"}
        )

    assert wrong.status_code == 400


def test_zipapp_with_foreign_bytecode_compiles_once(
    bare: BarePython, tmp_path: Path
) -> None:
    sources_only = build(tmp_path / "sources-only.pyz", "--no-bytecode")
    env = bare.env | {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    check: list[str | Path] = [
        sources_only,
        "check",
        "-config",
        EXAMPLE_ETC / "karajo.conf",
    ]

    assert bare.run(*check, env=env).returncode == 0
    cached = {path: path.stat().st_ino for path in tmp_path.glob("cache/**/*.pyc")}
    assert bare.run(*check, env=env).returncode == 0
    again = {path: path.stat().st_ino for path in tmp_path.glob("cache/**/*.pyc")}

    names = {path.name for path in cached}
    assert {"karajo.cli.pyc", "karajo.config.pyc", "croniter.pyc"} <= names
    # Not one file written again: the second start compiled nothing.
    assert again == cached


def test_packages_carry_karajo_version() -> None:
    from karajo import __version__

    changelog = (ROOT / "debian" / "changelog").read_text()
    pkgbuild = (ROOT / "aur" / "PKGBUILD").read_text()
    srcinfo = (ROOT / "aur" / ".SRCINFO").read_text()

    assert changelog.startswith(f"karajo ({__version__})")
    assert f"\npkgver={__version__}\n" in pkgbuild
    assert f"\tpkgver = {__version__}\n" in srcinfo
