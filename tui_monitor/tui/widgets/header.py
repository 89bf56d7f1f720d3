"""Header: host, supervisor uptime, the health badge (reasons one keystroke away: `h`), a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui_monitor.tui.format import HEALTH_STYLES, age, literal


class HeaderBar(Widget):
    """Drawn in `render`, where its width is known: the clock stays at the right edge whatever
    the width was when the health last changed (and after the terminal is resized)."""

    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $text; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._clock = clock
        self.host = ""
        self.mode = ""
        self.uptime: float | None = None
        self.status = "unknown"
        self.reason_count = 0
        self.connection: str | None = None

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def apply_health(self, report: dict[str, Any]) -> None:
        self.status = report.get("status", "unknown")
        self.reason_count = len(report.get("reasons", ()))
        self.uptime = report.get("uptime")
        info = (report.get("metrics") or {}).get("info") or {}
        self.host = info.get("hostname", self.host)
        self.connection = None
        self.refresh()

    def lost(self, reason: str) -> None:
        self.connection = reason
        self.refresh()

    def render(self) -> Text:
        text = Text()
        text.append(" tui-monitor ", style="bold reverse")
        text.append(" ")
        text.append_text(literal(self.host or "?", 60, "bold"))
        if self.mode:
            text.append(f"  [{self.mode}]", style="dim")
        text.append(f"  up {age(self.uptime)}  ")
        if self.connection:
            text.append(" DISCONNECTED ", style="bold white on red")
            text.append(" ")
            text.append_text(literal(self.connection, 60, "red"))
        else:
            style = HEALTH_STYLES.get(self.status, "reverse")
            text.append(f" {self.status.upper()} ", style=style)
            if self.reason_count:
                text.append(f" {self.reason_count} reason(s) — press h", style="dim")
        clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self._clock()))
        pad = max(1, self.size.width - text.cell_len - len(clock) - 1)
        text.append(" " * pad)
        text.append(clock, style="bold")
        return text
