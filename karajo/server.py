"""The server: one nursery owning a task per job, the notifier and the web app.

Server.serve
├── Job.run_forever        one per job, exec or HTTP: timer or start channel -> run
├── Notifier.run           e-mail from the finished-runs channel (karajo.notifier)
└── hypercorn.trio.serve   the dashboard, the API and the webhooks
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as serve_http

from karajo.api import environment_json
from karajo.client import loopback_url
from karajo.config import (
    Environment,
    JobBaseConfig,
    listen_host_port,
    load_environment,
)
from karajo.duration import SECOND, format_duration
from karajo.errors import ConfigErrors
from karajo.files import InstanceLock, write_private_file
from karajo.job import Clock, FinishedRun, Job, wall_clock
from karajo.job_exec import ExecJob
from karajo.job_http import HttpJob
from karajo.notifier import Notifier
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
        self.http_jobs: dict[str, HttpJob] = {
            job.id: HttpJob(job, env, clock) for job in env.http_jobs.values()
        }
        self._jobs_by_path = {
            job.config.path: job for job in self.jobs.values() if job.config.path
        }
        self.sessions = SessionStore()
        # Jobs a reload removed, until their task ends, by (kind, id).
        self._retiring: dict[tuple[str, str], Job] = {}
        self._lock = InstanceLock(env.base / "var" / "run" / "karajo" / "karajo.pid")
        # Called by stop(), e.g. to end the pages' event streams at once
        # instead of letting the web server wait for them.
        self.on_stop: list[Callable[[], None]] = []
        # Called with each job a reload adds, so its listeners can hook in.
        self.on_job_added: list[Callable[[ExecJob | HttpJob], None]] = []
        self.app = create_app(self)
        self._stop_requested = trio.Event()
        # The wait for running runs at stop, which a second stop cuts short.
        self._grace_scope: trio.CancelScope | None = None
        self.notifier = Notifier(env, clock=clock)

    def job_by_path(self, path: str) -> ExecJob | None:
        return self._jobs_by_path.get(path)

    def environment_json(self) -> dict[str, object]:
        return environment_json(self)

    def prepare(self) -> None:
        """Create the directory tree and recover every job's state from disk."""
        base = self.env.base
        self._lock.acquire()
        for part in ("job", "job_http"):
            for top in ("lib", "log", "run"):
                (base / "var" / top / "karajo" / part).mkdir(
                    mode=0o700, parents=True, exist_ok=True
                )
        for job in [*self.jobs.values(), *self.http_jobs.values()]:
            job.recover()

    def stop(self) -> None:
        """Ask `serve` to end: the web server closes, new runs stop, running
        ones get up to shutdown_timeout to finish before they are canceled.
        Asked again, it cancels the running runs at once."""
        if self._stop_requested.is_set():
            if self._grace_scope is not None:
                self._grace_scope.cancel()
            return
        self._stop_requested.set()
        for callback in self.on_stop:
            callback()

    async def serve(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every job and the web server until `stop` is called."""
        self.prepare()
        try:
            await self._serve_prepared(task_status)
        finally:
            self._lock.release()

    async def _serve_prepared(self, task_status: trio.TaskStatus[list[str]]) -> None:
        if self.env.karajo.is_secret_generated:
            self._announce_generated_secret()
        self._limiter = trio.Semaphore(self.env.karajo.max_job_running)
        finished_send, finished_receive = trio.open_memory_channel[FinishedRun](
            FINISHED_QUEUE_SIZE
        )
        self._finished = finished_send
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.notifier.run, finished_receive)
            binds = await nursery.start(self._serve_http)
            for job in self.jobs.values():
                self._start_job(job)
            # HTTP jobs start once the port is known: a `/...` URL needs it.
            self._self_url = loopback_url(binds[0])
            for http_job in self.http_jobs.values():
                self._start_job(http_job)
            logger.info(
                "%s: serving on %s with %d job(s) and %d HTTP job(s)",
                self.env.karajo.name,
                ", ".join(binds),
                len(self.jobs),
                len(self.http_jobs),
            )
            task_status.started(binds)
            await self._stop_requested.wait()
            await self._let_runs_finish()
            nursery.cancel_scope.cancel()
        finished_send.close()

    def _start_job(self, job: ExecJob | HttpJob) -> None:
        if isinstance(job, HttpJob):
            job.self_url = self._self_url
        self._nursery.start_soon(job.run_forever, self._limiter, self._finished.clone())

    def _announce_generated_secret(self) -> None:
        """Keep a made-up secret out of the log: it goes to a private file."""
        path = self.env.base / "var" / "lib" / "karajo" / "generated-secret"
        write_private_file(path, self.env.karajo.secret + "\n")
        logger.warning(
            "[karajo] secret is empty in %s; signed API calls need the secret made up "
            "for this start, in %s. Set `secret` so that it survives restarts",
            self.env.config_file or "the configuration",
            path,
        )

    async def _let_runs_finish(self) -> None:
        jobs = [*self.jobs.values(), *self.http_jobs.values()]
        for job in jobs:
            job.stop_accepting()
        running = [job.id for job in jobs if job.is_running]
        grace = self.env.karajo.shutdown_timeout / SECOND
        if running:
            logger.info(
                "%s: stopping; waiting up to %s for %d running run(s): %s",
                self.env.karajo.name,
                format_duration(self.env.karajo.shutdown_timeout),
                len(running),
                ", ".join(running),
            )
        with trio.move_on_after(grace) as self._grace_scope:
            for job in jobs:
                await job.stopped.wait()
        left = [job.id for job in jobs if job.is_running]
        if left:
            logger.warning(
                "%s: canceling run(s) still going: %s",
                self.env.karajo.name,
                ", ".join(left),
            )

    def reload(self) -> bool:
        """Apply the configuration file again; keep the old one on any error."""
        name = self.env.karajo.name
        try:
            new_env = load_environment(self.env.config_file)
        except ConfigErrors as errors:
            for error in errors.errors:
                logger.error("reload refused: %s", error)
            logger.error("%s: reload refused; the running configuration stays", name)
            return False
        old_karajo = self.env.karajo
        if new_env.karajo.dir_base != old_karajo.dir_base:
            # Logs, working directories and the lock all live under it, and
            # running runs write into the old one: only a restart can move.
            logger.error(
                "%s: reload refused: dir_base changed from %s to %s, which needs "
                "a restart; the running configuration stays",
                name,
                old_karajo.dir_base,
                new_env.karajo.dir_base,
            )
            return False
        if new_env.karajo.listen_address != old_karajo.listen_address:
            logger.warning(
                "%s: listen_address changed to %s; it takes effect at the next start",
                name,
                new_env.karajo.listen_address,
            )
            new_env.karajo.listen_address = old_karajo.listen_address
        if new_env.karajo.max_job_running != old_karajo.max_job_running:
            self._limiter = trio.Semaphore(new_env.karajo.max_job_running)
        self.env = new_env
        self.notifier.reload(new_env)
        self.jobs = self._apply_jobs(self.jobs, new_env.jobs, ExecJob)
        self.http_jobs = self._apply_jobs(self.http_jobs, new_env.http_jobs, HttpJob)
        self._jobs_by_path = {
            job.config.path: job for job in self.jobs.values() if job.config.path
        }
        logger.info(
            "%s: configuration reloaded: %d job(s), %d HTTP job(s)",
            name,
            len(self.jobs),
            len(self.http_jobs),
        )
        return True

    def _apply_jobs(
        self,
        current: dict[str, Job],
        configs: dict[str, JobBaseConfig],
        job_class: type[ExecJob] | type[HttpJob],
    ) -> dict[str, Job]:
        updated: dict[str, Job] = {}
        for config in configs.values():
            job = current.get(config.id) or self._revive(job_class.kind, config.id)
            if job is None:
                job = job_class(config, self.env, self.clock)  # type: ignore[arg-type]
                job.recover()
                self._announce_added(job)
                self._start_job(job)
            else:
                job.env = self.env
                job.reconfigure(config)
            job.limiter = self._limiter
            updated[config.id] = job
        for job_id, job in current.items():
            if job_id not in updated:
                logger.info(
                    "%s %s: removed by reload; it stops after its current run",
                    job.kind,
                    job_id,
                )
                job.stop_accepting()
                self._retiring[(job.kind, job_id)] = job
        return updated

    def _revive(self, kind: str, job_id: str) -> Job | None:
        """A job removed by an earlier reload whose task still runs, if any.

        Its run may still be going: a new job in its place would take that
        run for one a crash left behind and end it.
        """
        job = self._retiring.pop((kind, job_id), None)
        if job is None or job.stopped.is_set():
            return None
        job.keep_accepting()
        return job

    def _announce_added(self, job: ExecJob | HttpJob) -> None:
        logger.info("%s %s: added by reload", job.kind, job.id)
        for callback in self.on_job_added:
            callback(job)

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
