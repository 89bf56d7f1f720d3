"""`tui-monitor run --no-ui`: the engine alone, events as readable lines on stderr, systemd-aware.

SIGTERM and SIGINT stop every strategy gracefully and exit 0. Under systemd (`NOTIFY_SOCKET`) it
reports READY=1 once started, pings WATCHDOG=1 from the event loop — so a blocked loop gets the
supervisor restarted — and STOPPING=1 on the way out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import TextIO

from tui_monitor.config import Config
from tui_monitor.engine import Engine
from tui_monitor.eventbus import Subscription
from tui_monitor.events import Event
from tui_monitor.sdnotify import Notifier
from tui_monitor.states import StrategyState
from tui_monitor.text import safe_text


def format_event(event: Event, timestamps: bool = True) -> str:
    """One line for people. Untrusted parts are made safe; journald adds its own timestamps."""
    level = event.event_level()
    text = safe_text(event.describe(), 1000)
    if not timestamps:
        return f"{level:<7} {text}"
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.time))
    return f"{stamp} {level:<7} {text}"


def status_line(engine: Engine) -> str:
    """A one-line summary for `systemctl status`."""
    counts: dict[str, int] = {}
    for snap in engine.snapshot().strategies:
        counts[snap.state.value] = counts.get(snap.state.value, 0) + 1
    order = [s.value for s in StrategyState]
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts) or "no strategies"


async def _print_events(subscription: Subscription, stream: TextIO, timestamps: bool) -> None:
    async for event in subscription:
        stream.write(format_event(event, timestamps) + "\n")
        stream.flush()


async def _watchdog(notifier: Notifier, engine: Engine, interval: float) -> None:
    while True:
        notifier.notify("WATCHDOG=1", f"STATUS={status_line(engine)}")
        await asyncio.sleep(interval)


async def serve(engine: Engine, stop: asyncio.Event, stream: TextIO | None = None) -> int:
    """Run `engine` until `stop` is set (or SIGTERM/SIGINT), then shut it down. Returns 0."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    timestamps = "JOURNAL_STREAM" not in os.environ
    printer = loop.create_task(_print_events(engine.subscribe(), stream or sys.stderr, timestamps))
    tasks: list[asyncio.Task[None]] = [printer]
    try:
        await engine.start()
        notifier.ready(status_line(engine))
        if notifier.watchdog_interval:
            tasks.append(loop.create_task(_watchdog(notifier, engine, notifier.watchdog_interval)))
        await stop.wait()
    finally:
        notifier.stopping()
        await engine.shutdown()
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def run_headless(config: Config) -> int:
    async def main() -> int:
        engine = Engine(config, subreaper=True)
        return await serve(engine, asyncio.Event())

    return asyncio.run(main())
