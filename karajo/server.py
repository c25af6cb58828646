"""The server: one nursery owning a task per job, the notifier and the web app.

Server.serve
├── Job.run_forever        one per job: timer or start channel -> run
├── Server._notify_loop    reads the finished-runs channel
└── hypercorn.trio.serve   the dashboard, the API and the webhooks
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as serve_http

from karajo.api import environment_json
from karajo.config import Environment, listen_host_port
from karajo.job import Clock, FinishedRun, Job, wall_clock
from karajo.job_exec import ExecJob
from karajo.session import SessionStore
from karajo.web import create_app

logger = logging.getLogger(__name__)

# Runs that finished but whose notifications are not sent yet; past this,
# the oldest notifications are dropped (and logged) rather than slowing jobs.
FINISHED_QUEUE_SIZE = 1000


class Server:
    """A configured karajo: build it, then `await serve()` in trio."""

    def __init__(self, env: Environment, clock: Clock = wall_clock) -> None:
        env.validate()
        self.env = env
        self.clock = clock
        self.jobs: dict[str, ExecJob] = {
            job.id: ExecJob(job, env, clock) for job in env.jobs.values()
        }
        # TODO(#3): HTTP jobs are loaded and checked but do not run yet.
        self.http_jobs: dict[str, Job] = {}
        self._jobs_by_path = {
            job.config.path: job for job in self.jobs.values() if job.config.path
        }
        self.sessions = SessionStore()
        self.app = create_app(self)
        self._stop_requested = trio.Event()
        self.on_finished: Callable[[FinishedRun], Awaitable[None]] | None = None

    def job_by_path(self, path: str) -> ExecJob | None:
        return self._jobs_by_path.get(path)

    def environment_json(self) -> dict[str, object]:
        return environment_json(self)

    def prepare(self) -> None:
        """Create the directory tree and recover every job's state from disk."""
        base = self.env.base
        for part in ("job", "job_http"):
            for top in ("lib", "log", "run"):
                (base / "var" / top / "karajo" / part).mkdir(
                    mode=0o700, parents=True, exist_ok=True
                )
        for job in self.jobs.values():
            job.recover()
        for job in self.env.http_jobs.values():
            logger.warning(
                "job_http %s: HTTP jobs are not run by this version yet; it is ignored",
                job.id,
            )

    def stop(self) -> None:
        """Ask `serve` to end: the web server closes, runs are canceled."""
        self._stop_requested.set()

    async def serve(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every job and the web server until `stop` is called."""
        self.prepare()
        if self.env.karajo.is_secret_generated:
            logger.warning(
                "[karajo] secret is empty; using %s for this start only. Set `secret` in %s "
                "so that signed requests keep working after a restart",
                self.env.karajo.secret,
                self.env.config_file or "the configuration",
            )
        limiter = trio.Semaphore(self.env.karajo.max_job_running)
        finished_send, finished_receive = trio.open_memory_channel[FinishedRun](
            FINISHED_QUEUE_SIZE
        )
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._notify_loop, finished_receive)
            for job in self.jobs.values():
                nursery.start_soon(job.run_forever, limiter, finished_send.clone())
            binds = await nursery.start(self._serve_http)
            logger.info(
                "%s: serving on %s with %d job(s)",
                self.env.karajo.name,
                ", ".join(binds),
                len(self.jobs),
            )
            task_status.started(binds)
            await self._stop_requested.wait()
            logger.info(
                "%s: stopping; canceling runs still going", self.env.karajo.name
            )
            nursery.cancel_scope.cancel()
        finished_send.close()

    async def _serve_http(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        config = HypercornConfig()
        host, port = listen_host_port(self.env.karajo)
        config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        config.graceful_timeout = 2.0
        # Slow or stalled request bodies are cut off instead of holding a slot.
        config.read_timeout = 60
        await serve_http(
            self.app,
            config,
            shutdown_trigger=self._stop_requested.wait,
            task_status=task_status,
        )

    async def _notify_loop(
        self, finished: trio.MemoryReceiveChannel[FinishedRun]
    ) -> None:
        async for run in finished:
            logger.debug(
                "%s %s run %d: %s", run.kind, run.job_id, run.counter, run.status
            )
            if self.on_finished is not None:
                await self.on_finished(run)
