"""`tui-monitor run --no-ui`: the engine alone, events as readable lines on stderr, systemd-aware.

Lifecycle events go to stderr through the console log sink (see applog). The control socket
(`tui_monitor.control`) is created before any strategy starts, served once the engine has
started, and closed when shutdown begins.
SIGTERM and SIGINT stop every strategy gracefully and exit 0. Under systemd (`NOTIFY_SOCKET`) it
reports READY=1 once started, pings WATCHDOG=1 from the event loop — so a blocked loop gets the
supervisor restarted — and STOPPING=1 on the way out.
"""

from __future__ import annotations

import asyncio
import signal

from tui_monitor.config import Config
from tui_monitor.engine import Engine
from tui_monitor.host import SupervisorHost
from tui_monitor.sdnotify import Notifier
from tui_monitor.states import StrategyState


def status_line(engine: Engine) -> str:
    """A one-line summary for `systemctl status`."""
    counts: dict[str, int] = {}
    for snap in engine.snapshot().strategies:
        counts[snap.state.value] = counts.get(snap.state.value, 0) + 1
    order = [s.value for s in StrategyState]
    return ", ".join(f"{counts[s]} {s}" for s in order if s in counts) or "no strategies"


async def _watchdog(notifier: Notifier, engine: Engine, interval: float) -> None:
    while True:
        notifier.notify("WATCHDOG=1", f"STATUS={status_line(engine)}")
        await asyncio.sleep(interval)


async def serve(host: SupervisorHost, stop: asyncio.Event) -> int:
    """Run the hosted supervisor until `stop` is set (or SIGTERM/SIGINT), then shut it down."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    engine = host.engine
    tasks: list[asyncio.Task[None]] = []
    try:
        await host.start()
        notifier.ready(status_line(engine))
        if notifier.watchdog_interval:
            tasks.append(loop.create_task(_watchdog(notifier, engine, notifier.watchdog_interval)))
        await stop.wait()
    finally:
        notifier.stopping()
        await host.stop()  # also after a failed start: whatever did start is stopped
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def run_headless(config: Config) -> int:
    async def main() -> int:
        return await serve(SupervisorHost(config, console=True), asyncio.Event())

    return asyncio.run(main())
