"""The dashboard's data: pulled from the one view interface and posted to the app as messages.

Plain asyncio over a `SupervisorView` — it works the same for an engine in this process and for
one behind the control socket, and never touches a widget. Snapshots are refreshed on a timer and
at once after an event (debounced), so heartbeat ages move even when nothing happens and a state
change shows immediately. Log lines are fetched in bounded batches: a strategy printing 100,000
lines a second costs the screen one batch per tick, never more, and the supervisor no more than
the lines it sends (see `Engine.log_lines` for the cursors).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from textual.app import App

from tui_monitor.errors import TuiMonitorError
from tui_monitor.tui.messages import (
    ConnectionLost,
    EventArrived,
    HealthArrived,
    LogLinesArrived,
    SnapshotArrived,
)
from tui_monitor.view import SupervisorView


@dataclass
class FeedSettings:
    snapshot_every: float = 1.0
    health_every: float = 2.0
    #: 5 refreshes a second look live; each is a round trip and a repaint of the log panel.
    logs_every: float = 0.2
    log_batch: int = 600  # at most this many new lines per tick reach the screen
    #: What a switch to one strategy asks for first: its whole tail (`Tail`'s size).
    backfill: int = 2000
    debounce: float = 0.05


class Feed:
    def __init__(
        self, app: App, view: SupervisorView, settings: FeedSettings | None = None
    ) -> None:
        self.app = app
        self.view = view
        self.settings = settings or FeedSettings()
        self._dirty = asyncio.Event()
        self.follow: str | None = None  # the strategy whose lines are fetched; None: all
        self._log_seq = 0
        self._log_target: str | None = None
        self.paused = False

    def refresh_soon(self) -> None:
        self._dirty.set()

    def follow_strategy(self, name: str | None) -> None:
        if name != self.follow:
            self.follow = name

    async def snapshots(self) -> None:
        while True:
            try:
                self.app.post_message(SnapshotArrived(await self.view.snapshot()))
            except (TuiMonitorError, OSError) as exc:
                self.app.post_message(ConnectionLost(str(exc)))
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: see tui_monitor.control.client
                async with asyncio.timeout(self.settings.snapshot_every):
                    await self._dirty.wait()
                await asyncio.sleep(self.settings.debounce)  # coalesce a burst of events
            self._dirty.clear()

    async def health(self) -> None:
        while True:
            try:
                self.app.post_message(HealthArrived(await self.view.health(detailed=True)))
            except (TuiMonitorError, OSError):
                pass  # snapshots report the lost connection
            await asyncio.sleep(self.settings.health_every)

    async def events(self) -> None:
        while True:
            try:
                stream = await self.view.events()
            except (TuiMonitorError, OSError):
                await asyncio.sleep(1.0)
                continue
            try:
                async for event in stream:
                    self.app.post_message(EventArrived(event))
                    self._dirty.set()
            except (TuiMonitorError, OSError):
                pass
            finally:
                await stream.close()
            await asyncio.sleep(0.5)  # the stream ended (fell behind, or reconnecting)

    async def logs(self) -> None:
        while True:
            await asyncio.sleep(self.settings.logs_every)
            if self.paused:
                continue
            target = self.follow
            if target != self._log_target:
                self._log_target, self._log_seq = target, 0
            backfill = self._log_seq == 0  # nothing shown yet: what comes is history
            batch = self.settings.log_batch
            # One strategy's lines come oldest first: a backfill takes its whole tail to start
            # at the newest. Every strategy's lines come newest first: one batch is enough.
            limit = self.settings.backfill if backfill and target is not None else batch
            try:
                lines = await self.view.log_lines(target, after=self._log_seq, limit=limit)
            except (TuiMonitorError, OSError):
                continue
            if not lines:
                continue
            first = lines[0]["seq"]
            if first <= self._log_seq:  # a new supervisor (its cursors start over)
                backfill = True
            # Lines between the cursor and the first one returned were skipped to keep up (by
            # the supervisor's tail or by the batch); older history left out of a backfill was
            # not skipped.
            skipped = 0 if backfill else first - self._log_seq - 1
            self._log_seq = max(line["seq"] for line in lines)
            if len(lines) > batch:
                skipped += 0 if backfill else len(lines) - batch
                lines = lines[-batch:]
            self.app.post_message(LogLinesArrived(lines, skipped))
