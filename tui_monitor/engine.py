"""The supervision engine: all runners on one asyncio loop, jobs, history, a snapshot, an event
stream and commands.

Plain asyncio. It must never import Textual or Rich (a test proves it), so headless mode and the
command line do not pay for them, and every view — TUI, CLI, HTTP — goes through this interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Iterable
from typing import Any

from tui_monitor import __version__, applog, process
from tui_monitor.alerts import Alerter
from tui_monitor.capture import Capture, merged_lines
from tui_monitor.clock import Clock, SystemClock
from tui_monitor.config import Config
from tui_monitor.context import EngineContext
from tui_monitor.errors import CommandRefused, StartupError, UnknownName
from tui_monitor.eventbus import EventBus, Subscription
from tui_monitor.events import Event, Problem, ProcessExited, SupervisorEvent
from tui_monitor.guardian import Guardian
from tui_monitor.health import HealthReport, Reason, RestartStorm, evaluate
from tui_monitor.history import History
from tui_monitor.jobs import RESUMABLE, JobRecord, JobStatus
from tui_monitor.jobstore import JobStore
from tui_monitor.lock import StateLock
from tui_monitor.logline import LogLine
from tui_monitor.metrics import HistoryPoint, MetricsSample
from tui_monitor.monitoring import MetricsLoop, resource_reasons
from tui_monitor.runner import StrategyRunner
from tui_monitor.snapshot import EngineSnapshot, JobSnapshot


class Engine:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        subreaper: bool = False,
        console: bool = False,
    ) -> None:
        """`subreaper`: adopt orphaned descendants (the real supervisor, not embedded tests).
        `console`: also log to stderr (headless mode; never while a dashboard is on screen)."""
        self.config = config
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.instance = uuid.uuid4().hex
        self._subreaper = subreaper and process.become_subreaper()
        m = config.monitor
        self.ctx = EngineContext(
            bus=self.bus,
            instance=self.instance,
            state_dir=m.state_dir,
            log_dir=m.log_dir,
            clock=self.clock,
            on_child_exit=process.reap_orphans if self._subreaper else None,
            subreaper=self._subreaper,
            live_pids=self._live_pids,
        )
        self.store = JobStore(m.state_dir, self.ctx)
        self.history = History(m.state_dir / "history", m.history_limit, self._history_problem)
        self.runners: dict[str, StrategyRunner] = {}
        self.applog = applog.AppLog()
        self.lock = StateLock(m.state_dir)
        self.storm = RestartStorm(m.restart_storm, m.restart_storm_window, self.clock.monotonic)
        self.bus.add_listener(self.storm)
        self.capture = Capture(on_problem=self._capture_problem)
        self.monitoring = MetricsLoop(m, self._process_roots, self._on_metrics)
        self.alerter = Alerter(config.alerts, m.log_dir, self._alert_problem)
        grace = max((s.stop_timeout for s in config.strategies.values()), default=10.0)
        self.guardian = Guardian(
            self.instance, grace, m.log_dir / "app.log", self._guardian_problem
        )
        self.bus.add_listener(self.alerter.on_event)
        self._console = console
        self.started_at = self.clock.time()
        self._started_mono = self.clock.monotonic()
        self._running = False

    # ---- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the jobs (ending what a dead supervisor left), then start or resume strategies."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        loop.set_exception_handler(self._loop_exception)
        m = self.config.monitor
        for folder in (m.state_dir, m.log_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StartupError(f"cannot create {folder}: {exc.strerror}") from None
        m.state_dir.chmod(0o700)  # the control socket and job state are the owner's alone
        self.lock.acquire()  # before anything is touched: one supervisor per state folder
        process.raise_open_files_limit()
        self.applog.open(m.log_dir, m.app_log_max_bytes, m.app_log_backups, self._console)
        self.bus.add_listener(applog.log_event)
        applog.install_exception_hooks(
            lambda where, exc: loop.call_soon_threadsafe(self.ctx.report_exception, where, exc)
        )
        if self._subreaper:
            loop.add_signal_handler(signal.SIGCHLD, process.reap_orphans)
        self.guardian.start()  # before any strategy: none may outlive a killed supervisor
        self.history.start()
        self.monitoring.start()
        self.applog.connect_history(self.history.add)
        self.bus.add_listener(self._record_history)
        self._running = True
        self.publish_note(f"supervisor {__version__} started (pid {os.getpid()})")
        interrupted = await asyncio.to_thread(self.store.load)
        await self.store.save_loaded()
        self.capture.start()
        self.runners = {
            name: StrategyRunner(
                cfg,
                self.ctx,
                self.store,
                self.capture.output(name, m.log_dir, cfg.log_max_bytes, cfg.log_backups),
            )
            for name, cfg in self.config.strategies.items()
        }
        was_interrupted = {r.strategy for r in interrupted}
        for runner in self.runners.values():
            if runner.cfg.autostart:
                await self._autostart(runner, runner.name in was_interrupted)

    async def _autostart(self, runner: StrategyRunner, interrupted: bool) -> None:
        job = runner.job
        if job is None:
            await runner.start("autostart")
            return
        status = job.record.status
        if status is JobStatus.INTERRUPTED:
            why = "the supervisor died" if interrupted else "the supervisor was stopped"
            await runner.start(f"resumed after {why}")
        else:
            self.publish_note(f"{runner.name}: job {status}; not started (resume it to go on)")

    async def shutdown(self, reason: str = "supervisor shutting down") -> None:
        """Stop every strategy gracefully, in parallel; their jobs become `interrupted`."""
        if not self._running:
            return
        self._running = False
        self.publish_note(f"stopping {len(self.runners)} strategies: {reason}")
        await asyncio.gather(
            *(
                r.stop(reason, job_status=JobStatus.INTERRUPTED, sweep=False)
                for r in self.runners.values()
            ),
            return_exceptions=True,
        )
        # One scan of the process table for every strategy's escaped daemons, not one each.
        leftovers = await asyncio.to_thread(process.find_marked, self.instance)
        process.kill_processes(leftovers, signal.SIGKILL)
        await asyncio.gather(*(r.close() for r in self.runners.values()), return_exceptions=True)
        await self.guardian.dismiss()  # everything is stopped: nothing is left for it to end
        await self.store.flush_all()
        await asyncio.to_thread(self.capture.stop)
        await self.monitoring.close()
        await self.alerter.close()
        self.publish_note("supervisor stopped")
        await self.history.close()
        if self._subreaper:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGCHLD)
        self.bus.close()
        self.applog.close()
        self.lock.release()

    def _live_pids(self) -> set[int]:
        return {r.child.pid for r in self.runners.values() if r.child is not None}

    def publish_note(self, message: str) -> None:
        self.bus.publish(SupervisorEvent(self.clock.time(), message))

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.ctx.report_exception(context.get("message", "event loop"), exc)
        else:
            self.publish_note(f"event loop: {context.get('message')}")

    # ---- history -----------------------------------------------------------------------------

    def _history_problem(self, message: str) -> None:
        self.bus.publish(Problem(self.clock.time(), message, problem_level="WARNING"))

    def _record_history(self, event: Event) -> None:
        self.history.add("events", event.to_dict())
        if isinstance(event, ProcessExited):
            job = self.store.get(event.strategy)
            run = event.to_dict()
            run["job_id"] = job.record.job_id if job else None
            run["checkpoint"] = job.record.checkpoint if job else None
            self.history.add("runs", run)

    # ---- queries -----------------------------------------------------------------------------

    def snapshot(self) -> EngineSnapshot:
        m = self.config.monitor
        return EngineSnapshot(
            version=__version__,
            pid=os.getpid(),
            started_at=self.started_at,
            uptime=self.clock.monotonic() - self._started_mono,
            config_path=str(self.config.path),
            state_dir=str(m.state_dir),
            log_dir=str(m.log_dir),
            strategies=tuple(r.snapshot() for r in self.runners.values()),
            jobs=tuple(self._job_snapshot(j.record) for j in self.store.jobs.values()),
            job_counts=self.store.counts(),
        )

    def health(self, snapshot: EngineSnapshot | None = None) -> HealthReport:
        """Health with its reasons, judged from the snapshot and the engine's own troubles."""
        extra: list[Reason] = resource_reasons(self.monitoring.latest, self.config.monitor)
        for name, runner in self.runners.items():
            if runner.output.write_error:
                extra.append(
                    Reason("degraded", "log_write", f"{name}: {runner.output.write_error}", name)
                )
        if self.history.failing:
            extra.append(Reason("degraded", "history_write", "the event history cannot be written"))
        return evaluate(
            snapshot or self.snapshot(),
            now=self.clock.time(),
            storm=self.storm,
            state_write_failures=self.store.failing,
            extra=extra,
        )

    def metrics(self) -> MetricsSample | None:
        """The latest sweep of system, supervisor and per-strategy metrics. Asking marks the
        supervisor as watched: strategies are then sampled at the full rate."""
        self.monitoring.watched()
        return self.monitoring.latest

    def metrics_history(self) -> list[HistoryPoint]:
        """The last ten minutes of system CPU, memory, swap and load, for sparklines."""
        return list(self.monitoring.sampler.history)

    def _process_roots(self) -> dict[str, int]:
        return {name: r.child.pid for name, r in self.runners.items() if r.child is not None}

    def _on_metrics(self, sample: MetricsSample) -> None:
        self.alerter.on_health(self.health())

    def _capture_problem(self, strategy: str, message: str) -> None:
        """From the capture thread: a strategy's output cannot be written (or can again)."""
        level = "INFO" if "works again" in message else "ERROR"
        problem = Problem(self.clock.time(), message, strategy, problem_level=level)
        with contextlib.suppress(RuntimeError):  # the loop is gone: app.log has nothing to add
            self._loop.call_soon_threadsafe(self.bus.publish, problem)

    def _alert_problem(self, level: str, message: str) -> None:
        self.bus.publish(Problem(self.clock.time(), message, problem_level=level))

    def _guardian_problem(self, message: str) -> None:
        self._alert_problem("ERROR", message)

    def _job_snapshot(self, record: JobRecord) -> JobSnapshot:
        why_not = self._why_not_resumable(record)
        return JobSnapshot(
            job_id=record.job_id,
            strategy=record.strategy,
            status=record.status.value,
            progress=record.progress,
            restart_count=record.restart_count,
            runs=record.runs,
            pid=record.pid,
            started_at=record.started_at,
            updated_at=record.updated_at,
            checkpoint_at=record.checkpoint_at,
            has_checkpoint=record.checkpoint is not None,
            last_error=record.last_error,
            resumable=why_not is None,
            not_resumable_because=why_not,
        )

    def _why_not_resumable(self, record: JobRecord) -> str | None:
        runner = self.runners.get(record.strategy)
        if runner is None:
            return f"strategy {record.strategy!r} is not in the configuration"
        if runner.state.is_active or record.status is JobStatus.RUNNING:
            return "it is running"
        if record.status is JobStatus.COMPLETED:
            return "it is completed (start it fresh to run it again)"
        if record.status not in RESUMABLE:
            return f"it is {record.status}"
        return None

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        return self.bus.subscribe(maxsize)

    def runner(self, name: str) -> StrategyRunner:
        try:
            return self.runners[name]
        except KeyError:
            raise UnknownName("strategy", name, self.runners) from None

    def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[LogLine]:
        """Captured output lines after the cursor `after`, oldest first, at most `limit`.

        For one strategy the cursor is the line's `seq` in that strategy's tail (1, 2, 3, ...)
        and the answer is the OLDEST `limit` lines after it, so a view can page through the tail.

        For every strategy at once (`name` None) the lines are merged in capture order (which is
        time order) and `seq` is the line's capture mark, shared by all strategies: one more per
        captured line, starting at the supervisor's start time in microseconds (see
        `capture.LineClock`). The answer is the NEWEST `limit` lines after the cursor, so the gap
        between the cursor and the first mark returned counts the lines skipped to keep up. It
        costs O(strategies) plus the lines returned, not the lines held: nothing new costs no
        line at all.

        Either way a cursor beyond the newest line cannot be this supervisor's (it came from an
        earlier one, before a restart): it counts as 0.
        """
        if name is not None:
            tail = self.runner(name).output.tail
            return tail.lines_after(0 if after > tail.last_seq else after, limit)
        tails = [runner.output.tail for runner in self.runners.values()]
        if tails and after > tails[0].clock.latest:
            after = 0
        return merged_lines(tails, after, limit)

    def job_record(self, job_id: str) -> JobRecord:
        job = self.store.jobs.get(job_id)
        if job is None:
            raise UnknownName("job", job_id, self.store.jobs)
        return job.record

    async def recent_runs(self, strategy: str | None = None, limit: int = 50) -> list[dict]:
        match = (lambda d: d.get("strategy") == strategy) if strategy else None
        return await self.history.recent("runs", limit, match)

    async def recent_events(self, strategy: str | None = None, limit: int = 100) -> list[dict]:
        match = (lambda d: d.get("strategy") == strategy) if strategy else None
        return await self.history.recent("events", limit, match)

    # ---- commands ----------------------------------------------------------------------------

    async def start_strategy(self, name: str, *, fresh: bool = False) -> None:
        """Start a strategy: its job goes on from its checkpoint, except a completed job (or when
        `fresh`), which starts a new one."""
        runner = self.runner(name)
        job = runner.job
        completed = job is not None and job.record.status is JobStatus.COMPLETED
        await runner.start("started by operator", fresh=fresh or completed)

    async def stop_strategy(self, name: str) -> None:
        await self.runner(name).stop()

    async def restart_strategy(self, name: str) -> None:
        await self.runner(name).restart()

    async def resume(self, job_id: str, *, fresh: bool = False) -> None:
        """Resume a paused, interrupted or failed job from its last checkpoint."""
        job = self.store.jobs.get(job_id)
        if job is None:
            raise UnknownName("job", job_id, self.store.jobs)
        record = job.record
        if record.strategy not in self.runners:
            raise CommandRefused(f"cannot resume {job_id}: {self._why_not_resumable(record)}")
        why_not = self._why_not_resumable(record)
        if why_not is not None and not (fresh and record.status is JobStatus.COMPLETED):
            raise CommandRefused(f"cannot resume {job_id}: {why_not}")
        runner = self.runners[record.strategy]
        reason = "started fresh by operator" if fresh else f"resumed by operator ({record.status})"
        await runner.start(reason, fresh=fresh)

    @property
    def names(self) -> Iterable[str]:
        return self.runners.keys()
