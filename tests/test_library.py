"""Karajo used as a library, through examples/library.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import httpx
import trio

from tests.conftest import sign

EXAMPLE = Path(__file__).parent.parent / "examples" / "library.py"


def load_example():
    spec = importlib.util.spec_from_file_location("library_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_library_example_runs_callable_job_and_extra_route(tmp_path, nursery):
    server = load_example().build_server(str(tmp_path), "127.0.0.1:0")
    [url] = await nursery.start(server.serve)
    log_dir = tmp_path / "var" / "log" / "karajo" / "job"

    async with httpx.AsyncClient(base_url=url) as client:
        hello = await client.get("/hello")
        hook = await client.post(
            "/karajo/api/job_exec/run/uname",
            headers={"X-Karajo-Sign": sign(b"", "library-secret")},
        )
    with trio.fail_after(15):
        while not (log_dir / "load" / "load.1.success").exists() or not list(
            (log_dir / "uname").glob("uname.1.success")
        ):
            await trio.sleep(0.02)

    assert hello.text == "2 jobs here\n"
    assert hook.status_code == 200
    assert "load: " in (log_dir / "load" / "load.1.success").read_text()
    server.stop()
