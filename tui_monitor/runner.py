"""One strategy's supervision: its state machine, its process, its heartbeat deadline and restarts.

All runners share one asyncio loop. Spawning is synchronous (fork/exec takes about a millisecond),
so an exit is answered by a restart within the same callback when no delay is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

from tui_monitor import process
from tui_monitor.capture import StrategyOutput
from tui_monitor.channel import FD_ENV, Batch, StrategyChannel
from tui_monitor.config import StrategyConfig
from tui_monitor.context import EngineContext
from tui_monitor.errors import CommandRefused
from tui_monitor.events import ExitInfo, HeartbeatMissed, Problem, ProcessExited, StateChanged
from tui_monitor.jobs import JobFile, JobStatus
from tui_monitor.jobstore import JobStore
from tui_monitor.policy import PolicySettings, RestartPolicy
from tui_monitor.snapshot import StrategySnapshot
from tui_monitor.states import StrategyState

#: Variables of the supervisor's own environment a strategy must not inherit (systemd's
#: readiness and watchdog belong to the supervisor).
PRIVATE_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
STRATEGY_ENV = "TUI_MONITOR_STRATEGY"
DRAIN_TIMEOUT = 0.5
CONFIRM_DELAY = 0.005  # seconds the reader gets to deliver a waiting heartbeat past a deadline
MAX_CONFIRMATIONS = 4
CHANNEL_GRACE = 0.5


def policy_settings(cfg: StrategyConfig) -> PolicySettings:
    return PolicySettings(
        max_restarts=cfg.max_restarts,
        restart_window=cfg.restart_window,
        restart_delay=cfg.restart_delay,
        backoff_factor=cfg.backoff_factor,
        backoff_max=cfg.backoff_max,
        restart_jitter=cfg.restart_jitter,
    )


class StrategyRunner:
    def __init__(
        self, cfg: StrategyConfig, ctx: EngineContext, store: JobStore, output: StrategyOutput
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.store = store
        self.output = output  # its files and live tail, kept across runs
        self.job: JobFile | None = store.get(cfg.name)
        self.state = StrategyState.STOPPED
        self.state_reason = "not started"
        self.state_since = ctx.clock.time()
        self.child: process.Child | None = None
        self.policy = RestartPolicy(policy_settings(cfg))
        self.total_restarts = 0
        self.last_exit: ExitInfo | None = None
        self.last_error: str | None = None
        self.heartbeat_mono: float | None = None
        self.heartbeat_message: str | None = None
        self.progress: float | None = None
        self.checkpoint: dict[str, Any] | None = self.job.record.checkpoint if self.job else None
        self._stopped_as = JobStatus.PAUSED  # what an operator stop makes of the job
        self._resume: dict[str, Any] | None = None  # what this run was handed at start
        self._channel: StrategyChannel | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._next_start_mono: float | None = None
        self._lock = asyncio.Lock()
        self._expected_exit = False
        self._pending: set[asyncio.Task[Any]] = set()
        self._exit_reason = ""
        self._deadline_confirmations = 0
        self._run_seq = 0  # numbers this runner's starts, to find one start's leftovers
        self._base_env: dict[str, str] | None = None
        self._unpublished_exit: ProcessExited | None = None

    # ---- state -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.cfg.name

    def _set_state(self, new: StrategyState, reason: str, *, sync_job: bool = True) -> None:
        """`sync_job=False` where nothing the job file holds changed (starting → running): a
        write is two fsyncs, and every restart would make one more."""
        self._publish_exit()
        old = self.state
        self.state, self.state_reason = new, reason
        self.state_since = self.ctx.clock.time()
        pid = self.child.pid if self.child else None
        if sync_job:
            self._sync_job()
        self.ctx.publish(StateChanged(self.state_since, self.name, old, new, reason, pid))

    def _job_status(self) -> JobStatus:
        state = self.state
        if state is StrategyState.FATAL:
            return JobStatus.FAILED
        if state is StrategyState.EXITED:
            ok = self.last_exit is not None and self.last_exit.success
            return JobStatus.COMPLETED if ok else JobStatus.FAILED
        if state is StrategyState.STOPPED:
            return self._stopped_as
        return JobStatus.RUNNING

    def _sync_job(self) -> None:
        """Mirror the runner into its job record and have it written at once."""
        job = self.job
        if job is None:
            return
        record = job.record
        record.status = self._job_status()
        record.last_error = self.last_error
        record.restart_count = self.policy.count(self._now())
        record.progress = self.progress
        record.updated_at = self.ctx.clock.time()
        if self.child is None:
            record.pid = record.pid_create_time = None
        job.changed(urgent=True)

    def _now(self) -> float:
        return self.ctx.clock.monotonic()

    def _call_later(self, key: str, delay: float, fn: Callable[[], None]) -> None:
        self._cancel(key)
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(
            max(0.0, delay), lambda: self.ctx.guard(f"{self.name} {key} timer", fn, self.name)
        )

    def _cancel(self, *keys: str) -> None:
        for key in keys:
            handle = self._timers.pop(key, None)
            if handle is not None:
                handle.cancel()

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._pending.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.ctx.report_exception(f"{self.name} task", task.exception(), self.name)  # type: ignore[arg-type]

    # ---- launching ---------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        """A fresh copy of the strategy's environment (built once: it is on the restart path)."""
        if self._base_env is None:
            env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
            env.update(self.cfg.env)
            env[STRATEGY_ENV] = self.name
            env[process.JOB_ENV] = self.cfg.job_id
            env[process.INSTANCE_ENV] = self.ctx.instance
            env[process.STATE_ENV] = str(self.ctx.state_dir)
            self._base_env = env
        return dict(self._base_env)

    def _launch(self, reason: str, resume: dict[str, Any] | None) -> None:
        """Start a process now. On failure to exec, the failure goes through the restart policy."""
        self._cancel("backoff", "cooldown")
        self._next_start_mono = None
        try:
            channel = StrategyChannel(self)
        except OSError as exc:  # at the open-files limit, like any failed start
            self._launch_failed(f"cannot open the heartbeat channel: {exc.strerror or exc}")
            return
        env = self._environment()
        env[FD_ENV] = str(channel.child_fd)
        self._run_seq += 1
        env[process.RUN_ENV] = str(self._run_seq)
        try:
            out_fd, err_fd = self.output.open_pipes()
        except OSError as exc:
            channel.abandon()
            self._launch_failed(f"cannot capture output: {exc.strerror or exc}")
            return
        try:
            child = process.spawn(
                self.cfg.command,
                cwd=self.cfg.cwd,
                env=env,
                pass_fds=(channel.child_fd,),
                stdout=out_fd,
                stderr=err_fd,
                monotonic=self._now(),
                on_exit_hook=self.ctx.on_child_exit,
            )
        except OSError as exc:
            channel.abandon()
            self._launch_failed(f"cannot start {self.cfg.command[0]!r}: {exc.strerror or exc}")
            return
        finally:  # the child has its copies; ours would keep the pipes from ever ending
            os.close(out_fd)
            os.close(err_fd)
        channel.attach()
        self.child, self._channel, self._resume = child, channel, resume
        if self.job is None:
            self.job = self.store.new(self.name)
        record = self.job.record
        record.pid, record.pid_create_time = child.pid, None  # its writer reads the start time
        record.supervisor_instance = self.ctx.instance
        record.started_at = self.ctx.clock.time()
        record.runs += 1
        self._exit_reason = ""
        self.heartbeat_mono = None
        self.heartbeat_message = None
        self._expected_exit = False
        self._set_state(StrategyState.STARTING, reason)
        child.on_exit(self._on_exit)
        if self.cfg.start_seconds <= 0:
            self._mark_running("started")
        else:
            self._call_later(
                "started",
                self.cfg.start_seconds,
                lambda: self._mark_running(f"alive for {self.cfg.start_seconds:g} s"),
            )
        if self.cfg.heartbeat_timeout > 0:
            self._call_later("deadline", self.cfg.heartbeat_timeout, self._check_deadline)

    def _launch_failed(self, message: str) -> None:
        self._publish_exit()
        self.last_error = message
        self.ctx.publish(Problem(self.ctx.clock.time(), message, self.name))
        self._after_failure(message)

    def _mark_running(self, reason: str) -> None:
        if self.state is not StrategyState.STARTING:
            return
        self._cancel("started")
        self._set_state(StrategyState.RUNNING, reason, sync_job=False)
        if self.cfg.reset_after > 0:
            self._call_later("healthy", self.cfg.reset_after, self.policy.reset)

    # ---- heartbeats and checkpoints (called by the channel) ----------------------------------

    def on_batch(self, batch: Batch) -> None:
        if batch.heartbeat is not None:
            self.heartbeat_mono = self._now()
            self._deadline_confirmations = 0
            if batch.heartbeat.message is not None:
                self.heartbeat_message = batch.heartbeat.message
            if batch.heartbeat.progress is not None:
                self.progress = batch.heartbeat.progress
            if self.state is StrategyState.STARTING:
                self._mark_running("first heartbeat")
        if self.job is not None and (batch.has_checkpoint or batch.heartbeat is not None):
            record = self.job.record
            if batch.has_checkpoint:
                self.checkpoint = record.checkpoint = batch.checkpoint
                record.checkpoint_at = self.ctx.clock.time()
            if record.progress != self.progress or batch.has_checkpoint:
                record.progress = self.progress
                record.updated_at = self.ctx.clock.time()
                self.job.changed()
        for error in batch.errors:
            self.ctx.publish(
                Problem(
                    self.ctx.clock.time(), f"channel: {error}", self.name, problem_level="WARNING"
                )
            )

    async def on_durable(self, ids: list[Any]) -> bool:
        """Durable checkpoints are acknowledged only once they are on disk."""
        if self.job is None:
            return False
        return await self.job.wait_written(self.job.changed(urgent=True))

    def on_request(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") == "resume_state":
            return {"op": "resume_state", "id": request.get("id"), "state": self._resume}
        return {"op": "error", "id": request.get("id"), "message": "unknown request"}

    def on_channel_closed(self) -> None:
        """A child that closes its channel but lives on can no longer heartbeat: say so. (At exit
        the kernel closes it a moment before the exit is seen, hence the grace period.)"""
        child = self.child
        if child is not None:
            self._call_later("channel", CHANNEL_GRACE, lambda: self._channel_closed(child))

    def _channel_closed(self, child: process.Child) -> None:
        if self.child is child and not child.exited.done():
            self.ctx.publish(
                Problem(
                    self.ctx.clock.time(),
                    "heartbeat channel closed by the strategy",
                    self.name,
                    problem_level="WARNING",
                )
            )

    def _check_deadline(self) -> None:
        child = self.child
        if child is None or self.state not in (StrategyState.STARTING, StrategyState.RUNNING):
            return
        timeout = self.cfg.heartbeat_timeout
        last = self.heartbeat_mono if self.heartbeat_mono is not None else child.started_mono
        remaining = last + timeout - self._now()
        if remaining > 0.0005:
            self._call_later("deadline", remaining, self._check_deadline)
            return
        # A loaded loop can reach the deadline before the reader task has seen a heartbeat that
        # is already waiting: let the reader run first (a few ms) rather than kill a live one.
        confirming = self._deadline_confirmations
        if confirming < MAX_CONFIRMATIONS and (
            confirming == 0 or (self._channel is not None and self._channel.unread())
        ):
            self._deadline_confirmations += 1
            self._call_later("deadline", CONFIRM_DELAY, self._check_deadline)
            return
        self._deadline_confirmations = 0
        self.ctx.publish(HeartbeatMissed(self.ctx.clock.time(), self.name, timeout))
        reason = f"no heartbeat for {timeout:g} s"
        self.last_error = reason
        self._spawn_task(self._kill_and_restart(child, reason))

    async def _kill_and_restart(self, child: process.Child, reason: str) -> None:
        async with self._lock:
            if self.child is not child:
                return
            run = self._run_seq
            await self._stop_child(child, reason)
            self._after_failure(reason)
            # The replacement is running: leftovers of the old run are swept after, not before.
            await self._sweep(run)

    # ---- exits -------------------------------------------------------------------------------

    def _on_exit(self, child: process.Child) -> None:
        if self.child is not child or self._expected_exit:
            return  # a stop in progress handles it
        child.signal_group(signal.SIGKILL)  # the leader is gone: end what it left in its group
        self._spawn_task(self._handle_crash(child))

    async def _handle_crash(self, child: process.Child) -> None:
        async with self._lock:
            if self.child is not child:
                return
            # The exit event (history, app.log: most of a millisecond) is published after the
            # replacement is spawned, though still before its state change: see _publish_exit.
            info = await self._finish_exit(child, expected=False, flush=False, publish=False)
            self._after_exit(info)
            self._publish_exit()
            if self.job is not None:
                # After the replacement is spawned: it was handed the newest checkpoint from
                # memory, and the write (two fsyncs) overlaps its start-up instead of delaying it.
                await self.job.flush()

    def _publish_exit(self) -> None:
        """Publish the exit event held back by a crash restart, ahead of anything after it."""
        event, self._unpublished_exit = self._unpublished_exit, None
        if event is not None:
            self.ctx.publish(event)

    async def _finish_exit(
        self, child: process.Child, expected: bool, flush: bool = True, publish: bool = True
    ) -> ExitInfo:
        returncode = await child.exited
        self._cancel("started", "deadline", "healthy", "channel")
        info = ExitInfo.from_returncode(returncode, self.ctx.clock.time())
        runtime = self._now() - child.started_mono
        if self._channel is not None:
            await self._channel.drain(DRAIN_TIMEOUT)
            self._channel = None
        await self.output.drained(DRAIN_TIMEOUT)  # its last lines are in the file
        self.child = None
        self.last_exit = info
        if flush and self.job is not None:
            await self.job.flush()  # the newest checkpoint is on disk before anything goes on
        reason = self._exit_reason or ("exited" if info.success else "crashed")
        self._unpublished_exit = ProcessExited(
            info.at,
            self.name,
            child.pid,
            info.exit_code,
            info.signal,
            expected,
            runtime,
            reason,
            self.ctx.clock.time() - runtime,
        )
        if publish:
            self._publish_exit()
        return info

    def _after_exit(self, info: ExitInfo) -> None:
        restart = self.cfg.restart
        if info.success and (self.cfg.kind == "task" or restart != "always"):
            self._set_state(
                StrategyState.EXITED, "completed" if self.cfg.kind == "task" else "exited"
            )
            return
        if not info.success:
            self.last_error = f"exited unexpectedly ({info.describe()})"
        if restart == "never":
            self._set_state(StrategyState.EXITED, f"{info.describe()}; restart = never")
            return
        self._after_failure(info.describe())

    def _after_failure(self, reason: str) -> None:
        """Restart under the policy, or give up."""
        now = self._now()
        if self.policy.exhausted(now):
            giving_up = f"{self.policy.describe_giving_up()} (last: {reason})"
            self.last_error = giving_up
            self._set_state(StrategyState.FATAL, giving_up)
            if self.cfg.fatal_cooldown > 0:
                self._call_later("cooldown", self.cfg.fatal_cooldown, self._retry_after_cooldown)
            return
        delay = self.policy.next_delay(now)
        self.policy.record_restart(now)
        self.total_restarts += 1
        if delay <= 0:
            self._launch(f"restarted after {reason}", self.checkpoint)
            return
        self._next_start_mono = now + delay
        self._set_state(StrategyState.BACKOFF, f"{reason}; restarting in {delay:.3g} s")
        self._call_later(
            "backoff", delay, lambda: self._launch(f"restarted after {reason}", self.checkpoint)
        )

    def _retry_after_cooldown(self) -> None:
        if self.state is StrategyState.FATAL:
            self.policy.reset()
            self._launch(
                f"retried after {self.cfg.fatal_cooldown:g} s fatal cool-down", self.checkpoint
            )

    # ---- stopping ----------------------------------------------------------------------------

    async def _stop_child(self, child: process.Child, reason: str) -> None:
        """A stop we asked for: STOPPING, the whole tree ended, the exit recorded."""
        self._expected_exit = True
        self._exit_reason = reason
        self._set_state(StrategyState.STOPPING, reason)
        await self._terminate(child)
        await self._finish_exit(child, expected=True)

    async def _terminate(self, child: process.Child) -> None:
        """SIGTERM (or the configured signal) to the whole tree, SIGKILL after stop_timeout."""
        escaped = process.descendants_outside_group(child)  # a few /proc reads
        sig = process.parse_signal(self.cfg.stop_signal)
        child.signal_group(sig)
        process.kill_processes(escaped, sig)
        try:
            await asyncio.wait_for(asyncio.shield(child.exited), self.cfg.stop_timeout)
        except TimeoutError:
            self.ctx.publish(
                Problem(
                    self.ctx.clock.time(),
                    f"did not stop within {self.cfg.stop_timeout:g} s; sending SIGKILL",
                    self.name,
                    problem_level="WARNING",
                )
            )
            escaped += process.descendants_outside_group(child)
            child.signal_group(signal.SIGKILL)
            await child.exited
        child.signal_group(signal.SIGKILL)
        process.kill_processes(escaped, signal.SIGKILL)

    async def _sweep(self, run: int) -> None:
        """End what one run left behind outside its process group and tree (double-forked
        daemons), found by its markers: a scan of the process table, so off the loop."""
        leftovers = None
        if self.ctx.subreaper:  # they were re-parented below us: no need to scan everything
            leftovers = await asyncio.to_thread(
                process.find_marked_below,
                os.getpid(),
                self.ctx.live_pids(),
                self.ctx.instance,
                self.cfg.job_id,
                str(run),
            )
        if leftovers is None:
            leftovers = await asyncio.to_thread(
                process.find_marked, self.ctx.instance, self.cfg.job_id, run=str(run)
            )
        process.kill_processes(leftovers, signal.SIGKILL)

    # ---- operator commands -------------------------------------------------------------------

    async def start(self, reason: str = "started by operator", *, fresh: bool = False) -> None:
        """Start (or resume) the job; `fresh` begins a new job without the old checkpoint."""
        async with self._lock:
            if self.state.is_active:
                raise CommandRefused(f"{self.name} is already {self.state}")
            if fresh or self.job is None:
                self.job = self.store.new(self.name)
                self.checkpoint = None
                self.progress = None
            self.policy.reset()
            self.last_error = None
            self._launch(reason, self.checkpoint)

    async def stop(
        self,
        reason: str = "stopped by operator",
        *,
        job_status: JobStatus = JobStatus.PAUSED,
        sweep: bool = True,
    ) -> None:
        """Stop the process tree. The job becomes `paused` (an operator stop) or `interrupted`
        (the supervisor shutting down: resumed automatically at the next start). `sweep=False`
        leaves the search for escaped daemons to the caller (one scan for all at shutdown)."""
        async with self._lock:
            self._stopped_as = job_status
            self._cancel("backoff", "cooldown")
            self._next_start_mono = None
            child = self.child
            if child is None:
                finished = self.state in (StrategyState.EXITED, StrategyState.FATAL)
                if job_status is JobStatus.INTERRUPTED and finished:
                    return  # a shutdown leaves a completed or failed job as it is
                if self.state is not StrategyState.STOPPED:
                    self._set_state(StrategyState.STOPPED, reason)
                return
            run = self._run_seq
            await self._stop_child(child, reason)
            if sweep:
                await self._sweep(run)
            self._set_state(StrategyState.STOPPED, reason)
            if self.job is not None:
                await self.job.flush()  # `paused`/`interrupted` is on disk when stop returns

    async def restart(self, reason: str = "restarted by operator") -> None:
        async with self._lock:
            self._cancel("backoff", "cooldown")
            child = self.child
            run = self._run_seq
            if child is not None:
                await self._stop_child(child, reason)
            self.policy.reset()
            self._launch(reason, self.checkpoint)
            if child is not None:
                await self._sweep(run)

    async def close(self) -> None:
        """Cancel timers and background tasks (after the process has been stopped)."""
        self._cancel(*list(self._timers))
        for task in list(self._pending):
            task.cancel()
        for task in list(self._pending):
            with contextlib.suppress(BaseException):
                await task

    # ---- views -------------------------------------------------------------------------------

    def snapshot(self) -> StrategySnapshot:
        now = self._now()
        child = self.child
        return StrategySnapshot(
            name=self.name,
            job_id=self.cfg.job_id,
            kind=self.cfg.kind,
            state=self.state,
            state_reason=self.state_reason,
            state_since=self.state_since,
            pid=child.pid if child else None,
            uptime=(now - child.started_mono) if child else None,
            heartbeat_age=(now - self.heartbeat_mono) if self.heartbeat_mono is not None else None,
            heartbeat_timeout=self.cfg.heartbeat_timeout,
            heartbeat_message=self.heartbeat_message,
            progress=self.progress,
            restarts=self.policy.count(now),
            total_restarts=self.total_restarts,
            max_restarts=self.cfg.max_restarts,
            last_exit_code=self.last_exit.exit_code if self.last_exit else None,
            last_exit_signal=self.last_exit.signal if self.last_exit else None,
            last_error=self.last_error,
            autostart=self.cfg.autostart,
            next_start_in=(self._next_start_mono - now) if self._next_start_mono else None,
        )
