"""Starting the dashboard from the command line. Textual is imported here, lazily, and only on
the paths that show a screen — `--help`, the control commands and headless mode never load it."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_monitor.config import Config
from tui_monitor.lock import StateLock

if TYPE_CHECKING:
    from tui_monitor.tui.app import MonitorApp


def run_dashboard(config: Config) -> int:
    """`tui-monitor run`: host the supervisor in the dashboard — or, when one already runs on
    this state folder, attach to it instead and say so (on the screen, and on stderr once the
    dashboard is closed)."""
    state_dir = config.monitor.state_dir
    if StateLock(state_dir).held_by_someone():
        code = attach(
            config.monitor.control_socket,
            notice=(
                f"A supervisor is already running on {state_dir}: attached to it instead. "
                "Quitting stops nothing."
            ),
            keymap=config.dashboard.keys,
        )
        print(
            f"tui-monitor: a supervisor was already running on {state_dir}: attached to it "
            "instead (it keeps running)",
            file=sys.stderr,
        )
        return code
    return hosting_app(config).run() or 0


def hosting_app(config: Config, **app_args: Any) -> MonitorApp:
    """The dashboard that hosts the supervisor of `config` (`run` mode), its keys remapped as
    `[dashboard] keys` says. `app_args` go to MonitorApp (tests: `feed_settings`), except
    `subreaper`, which goes to the supervisor."""
    from tui_monitor.host import SupervisorHost
    from tui_monitor.tui.app import MonitorApp

    host = SupervisorHost(config, subreaper=app_args.pop("subreaper", True))
    return MonitorApp(host=host, mode="run", keymap=config.dashboard.keys, **app_args)


def attach(socket: Path, notice: str | None = None, keymap: Mapping[str, str] | None = None) -> int:
    """`tui-monitor attach`: the dashboard of a supervisor running elsewhere. Without one, the
    error (`NoSupervisor`, exit code 3) comes before the screen switches."""
    from tui_monitor.view import SocketView

    async def check() -> None:
        async with SocketView(socket) as view:
            await view.info()

    asyncio.run(check())
    from tui_monitor.tui.app import MonitorApp

    app = MonitorApp(SocketView(socket), mode="attach", notice=notice, keymap=keymap)
    return app.run() or 0
