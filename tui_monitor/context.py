"""What every runner shares with the engine, passed explicitly instead of reaching into it."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tui_monitor.clock import Clock, SystemClock
from tui_monitor.eventbus import EventBus
from tui_monitor.events import Event, Problem


@dataclass
class EngineContext:
    bus: EventBus
    instance: str  # unique per supervisor run; marks every process we start
    state_dir: Path
    log_dir: Path
    clock: Clock = field(default_factory=SystemClock)
    on_child_exit: Callable[[], None] | None = None  # reaps adopted orphans when subreaper
    #: Orphans re-parent to us (a subreaper): what a run leaves behind is found below us.
    subreaper: bool = False
    live_pids: Callable[[], set[int]] = set  # the strategies' leaders now running

    def publish(self, event: Event) -> None:
        self.bus.publish(event)

    def report_exception(self, where: str, exc: BaseException, strategy: str | None = None) -> None:
        """An unexpected error inside the engine: report it with its traceback and carry on."""
        detail = "".join(traceback.format_exception(exc))
        self.publish(
            Problem(
                time=self.clock.time(),
                message=f"internal error in {where}: {exc!r}",
                strategy=strategy,
                detail=detail,
            )
        )

    def guard(self, where: str, fn: Callable[[], None], strategy: str | None = None) -> None:
        """Run a timer or callback body so that an exception is reported, never lost or fatal."""
        try:
            fn()
        except Exception as exc:
            self.report_exception(where, exc, strategy)
