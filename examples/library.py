"""karajo as a library: jobs built in code, an async callable as a job's
work, and an extra route on karajo's own web server.

    .venv/bin/python examples/library.py
"""

from __future__ import annotations

import sys
import tempfile

import karajo
from karajo.duration import MINUTE


async def count_files(run_log: karajo.RunLog) -> None:
    """The work of a job: write to the run's log; raise to fail the run."""
    run_log.line(f"run #{run_log.counter} checking the temporary directory")
    with open("/proc/loadavg") as loadavg:
        run_log.line(f"load: {loadavg.read().strip()}")


def build_server(dir_base: str, listen_address: str = "127.0.0.1:31938") -> karajo.Server:
    env = karajo.Environment(
        karajo=karajo.KarajoConfig(
            name="library example",
            listen_address=listen_address,
            dir_base=dir_base,
            secret="library-secret",
        )
    )
    env.jobs["load"] = karajo.JobConfig(
        name="load", call=count_files, interval=MINUTE, path="/load"
    )
    env.jobs["uname"] = karajo.JobConfig(name="uname", commands=["uname -a"], path="/uname")
    server = karajo.Server(env)

    @server.app.route("/hello")
    async def hello() -> str:
        return f"{len(server.jobs)} jobs here\n"

    return server


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="karajo-")
    print(f"logs go under {base}/var/log/karajo", file=sys.stderr)
    karajo.run(build_server(base))
