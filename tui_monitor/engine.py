"""The supervision engine: all runners on one asyncio loop, a snapshot, an event stream, commands.

Plain asyncio. It must never import Textual or Rich (a test proves it), so headless mode and the
command line do not pay for them, and every view — TUI, CLI, HTTP — goes through this interface.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Iterable

from tui_monitor import __version__, process
from tui_monitor.clock import Clock, SystemClock
from tui_monitor.config import Config
from tui_monitor.context import EngineContext
from tui_monitor.errors import UnknownName
from tui_monitor.eventbus import EventBus, Subscription
from tui_monitor.events import SupervisorEvent
from tui_monitor.runner import StrategyRunner
from tui_monitor.snapshot import EngineSnapshot


class Engine:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        subreaper: bool = False,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.bus = EventBus()
        self.instance = uuid.uuid4().hex
        self._subreaper = subreaper and process.become_subreaper()
        self.ctx = EngineContext(
            bus=self.bus,
            instance=self.instance,
            state_dir=config.monitor.state_dir,
            log_dir=config.monitor.log_dir,
            clock=self.clock,
            on_child_exit=process.reap_orphans if self._subreaper else None,
        )
        self.runners: dict[str, StrategyRunner] = {
            name: StrategyRunner(cfg, self.ctx) for name, cfg in config.strategies.items()
        }
        self.started_at = self.clock.time()
        self._started_mono = self.clock.monotonic()
        self._running = False

    # ---- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the folders and start every autostart strategy."""
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._loop_exception)
        for folder in (self.config.monitor.state_dir, self.config.monitor.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self._subreaper:
            loop.add_signal_handler(signal.SIGCHLD, process.reap_orphans)
        self._running = True
        self.publish_note(f"supervisor {__version__} started (pid {os.getpid()})")
        for runner in self.runners.values():
            if runner.cfg.autostart:
                await runner.start("autostart")

    async def shutdown(self, reason: str = "supervisor shutting down") -> None:
        """Stop every strategy gracefully, in parallel, then release everything."""
        if not self._running:
            return
        self._running = False
        self.publish_note(f"stopping {len(self.runners)} strategies: {reason}")
        await asyncio.gather(
            *(r.stop(reason) for r in self.runners.values()), return_exceptions=True
        )
        await asyncio.gather(*(r.close() for r in self.runners.values()), return_exceptions=True)
        self.publish_note("supervisor stopped")
        if self._subreaper:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGCHLD)
        self.bus.close()

    def publish_note(self, message: str) -> None:
        self.bus.publish(SupervisorEvent(self.clock.time(), message))

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.ctx.report_exception(context.get("message", "event loop"), exc)
        else:
            self.publish_note(f"event loop: {context.get('message')}")

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
        )

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        return self.bus.subscribe(maxsize)

    def runner(self, name: str) -> StrategyRunner:
        try:
            return self.runners[name]
        except KeyError:
            raise UnknownName("strategy", name, self.runners) from None

    # ---- commands ----------------------------------------------------------------------------

    async def start_strategy(self, name: str, *, fresh: bool = False) -> None:
        await self.runner(name).start(fresh=fresh)

    async def stop_strategy(self, name: str) -> None:
        await self.runner(name).stop()

    async def restart_strategy(self, name: str) -> None:
        await self.runner(name).restart()

    @property
    def names(self) -> Iterable[str]:
        return self.runners.keys()
