"""Header: host, supervisor uptime, the health badge (reasons one keystroke away: the health key,
`h` unless remapped), a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widget import Widget

from tui_monitor.tui.format import ALARM, HEALTH_STYLES, RED, age, literal


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
        #: The key that shows the health reasons, as the hint names it (the app sets it from its
        #: keymap).
        self.health_key = "h"

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
        """The richest header that fits, the time always shown: on a narrow terminal the date
        goes first, then the reasons' hint gets shorter, then the app's name; a host name too
        long for what is left is cut."""
        now = time.localtime(self._clock())
        width = self.size.width
        hour = time.strftime("%H:%M:%S", now)
        full = time.strftime("%Y-%m-%d ", now) + hour
        for clock, brand, long_hint in (
            (full, True, True),
            (hour, True, True),
            (hour, True, False),
            (hour, False, False),
        ):
            text = self._left(brand, long_hint)
            if text.cell_len + 1 + len(clock) <= width:
                break
        text.truncate(max(0, width - len(clock) - 1), overflow="ellipsis")
        text.append(" " * max(1, width - text.cell_len - len(clock)))
        text.append(clock, style="bold")
        return text

    def _left(self, brand: bool, long_hint: bool) -> Text:
        """Everything but the clock."""
        text = Text()
        if brand:
            text.append(" tui-monitor ", style="bold reverse")
        text.append(" ")
        text.append_text(literal(self.host or "?", 60, "bold"))
        if self.mode:
            text.append(f"  [{self.mode}]", style="dim")
        text.append(f"  up {age(self.uptime)}  ")
        if self.connection:
            text.append(" DISCONNECTED ", style=ALARM)
            text.append(" ")
            text.append_text(literal(self.connection, 60, RED))
        else:
            style = HEALTH_STYLES.get(self.status, "reverse")
            text.append(f" {self.status.upper()} ", style=style)
            count, key = self.reason_count, self.health_key
            if count and long_hint:
                text.append(f" {count} reason(s) — press {key}", style="dim")
            elif count:
                text.append(f" {key}: {count} reason{'s' if count > 1 else ''}", style="dim")
        return text
