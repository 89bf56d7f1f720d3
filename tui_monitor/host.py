"""Hosting a supervisor in this process: the engine plus the doors views come through — the
control socket and, when configured, the HTTP endpoint. Headless mode and the dashboard's `run`
mode host it the same way."""

from __future__ import annotations

from typing import Any

from tui_monitor.config import Config
from tui_monitor.control.server import ControlServer
from tui_monitor.engine import Engine


class SupervisorHost:
    def __init__(self, config: Config, *, console: bool = False, subreaper: bool = True) -> None:
        self.config = config
        self.engine = Engine(config, subreaper=subreaper, console=console)
        self.control = ControlServer(self.engine, config.monitor.control_socket)
        self.http: Any = None  # an HttpApi when [monitor] http is set

    async def start(self) -> None:
        """Bind the control socket before any strategy starts (a supervisor that could not be
        controlled starts nothing), start the engine (it takes the state lock), then serve."""
        try:
            if not self.engine.lock.held_by_someone():  # else engine.start() says who runs here
                await self.control.bind()
            await self.engine.start()
            await self.control.start()
        except BaseException:
            await self.control.close()
            raise
        if self.config.monitor.http:
            from tui_monitor.httpapi import HttpApi  # prometheus_client only when asked for

            http = HttpApi(self.engine, self.config.monitor.http)
            try:
                await http.start()
            except OSError as exc:
                self.engine.publish_note(f"HTTP endpoint not started: {exc.strerror or exc}")
            else:
                self.http = http
                self.engine.publish_note(f"HTTP endpoint on {self.config.monitor.http}")

    async def stop(self, reason: str = "supervisor shutting down") -> None:
        """Close the doors first (no command may start a strategy mid-shutdown), then stop all."""
        if self.http is not None:
            await self.http.close()
        await self.control.close()
        await self.engine.shutdown(reason)
