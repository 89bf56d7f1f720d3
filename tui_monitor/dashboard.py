"""Starting the dashboard from the command line. Textual is imported here, lazily, and only on
the paths that show a screen — `--help`, the control commands and headless mode never load it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_monitor.config import Config
from tui_monitor.lock import StateLock


def run_dashboard(config: Config) -> int:
    """`tui-monitor run`: host the supervisor in the dashboard — or, when one already runs on
    this state folder, attach to it instead and say so."""
    if StateLock(config.monitor.state_dir).held_by_someone():
        return attach(
            config.monitor.control_socket,
            notice=(
                f"A supervisor is already running on {config.monitor.state_dir}: attached to it "
                "instead. Quitting stops nothing."
            ),
        )
    from tui_monitor.host import SupervisorHost
    from tui_monitor.tui.app import MonitorApp

    app = MonitorApp(host=SupervisorHost(config), mode="run")
    return app.run() or 0


def attach(socket: Path, notice: str | None = None) -> int:
    """`tui-monitor attach`: the dashboard of a supervisor running elsewhere."""
    from tui_monitor.view import SocketView

    async def check() -> None:  # fail before the screen switches, with exit code 3
        async with SocketView(socket) as view:
            await view.info()

    asyncio.run(check())
    from tui_monitor.tui.app import MonitorApp

    app = MonitorApp(SocketView(socket), mode="attach", notice=notice)
    return app.run() or 0
