"""The live log tail: the selected strategy's output (or everyone's), with the supervisor's own
events, filtered by level, type and text; follow or pause; bounded and batched.

Lines are kept as plain strings in Textual's `Log` (it renders only what is visible) with level
colours from a highlighter — never markup: a line saying `[@click=app.quit]` is shown as just that.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.highlighter import RegexHighlighter
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log

from tui_monitor.text import safe_text
from tui_monitor.tui.format import LEVELS, level_at_least

MAX_LINES = 5000
LINE_CHARS = 400
#: A log this short (a small terminal) has no horizontal scrollbar: it would take one of its few
#: lines (the log still scrolls sideways with the arrow keys).
SHORT = 5
TYPES = (None, "system", "strategy", "order")


class LevelHighlighter(RegexHighlighter):
    base_style = "log."
    highlights = [  # noqa: RUF012 - rich's API
        r"^(?P<time>\d\d:\d\d:\d\d)",
        r"│ (?P<debug>DEBUG) ",
        r"│ (?P<warning>WARNING) ",
        r"│ (?P<error>ERROR) ",
        r"│ (?P<critical>CRITICAL) ",
        r"│ \w+ +(?P<order>order) ",
        r"│ \w+ +(?P<system>system) ",
    ]


def format_line(line: dict[str, Any]) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.get("time", 0)))
    who = safe_text(str(line.get("strategy") or "supervisor"), 20)
    err = "!" if line.get("stream") == "stderr" else " "
    text = safe_text(str(line.get("text", "")), LINE_CHARS)
    return (
        f"{stamp} {who:<14}{err}│ {line.get('level', 'INFO'):<8} {line.get('type', ''):<8} {text}"
    )


def event_line(event: dict[str, Any]) -> dict[str, Any]:
    """An engine event shown in the tail as a `system` line."""
    return {
        "time": event.get("time", 0),
        "strategy": event.get("strategy") or "supervisor",
        "stream": "event",
        "level": event.get("level", "INFO"),
        "type": "system",
        "text": event.get("text") or event.get("kind", ""),
    }


class LogTail(Log):
    DEFAULT_CSS = """
    LogTail { height: 1fr; border: round $primary-darken-2; }
    """
    #: The scrollable size grows with every batch of lines, and Textual re-flows the whole screen
    #: when a widget's virtual size changes: with a line or two every tick that was five full
    #: layouts and repaints a second (~12 % of a core). Only this widget's own scrollbars depend
    #: on it, so they are updated here; they appearing or going still re-flows the screen.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_virtual_size(self, size: Size) -> None:
        self._scroll_update(size)

    def on_resize(self) -> None:
        size = 0 if self.size.height < SHORT else 1
        if self.styles.scrollbar_size_horizontal != size:
            self.styles.scrollbar_size_horizontal = size

    def __init__(self, following: str | None = None, **kwargs: Any) -> None:
        super().__init__(max_lines=MAX_LINES, highlight=True, auto_scroll=True, **kwargs)
        self.highlighter = LevelHighlighter()
        self.buffer: deque[dict[str, Any]] = deque(maxlen=MAX_LINES)
        self.min_level = "DEBUG"
        self.type_filter: str | None = None
        self.text_filter = ""
        self.following = following  # None: every strategy
        self.paused = False
        self.skipped = 0
        self.update_title()

    def update_title(self) -> None:
        who = self.following or "all strategies"
        parts = [f"log: {who}"]
        if self.min_level != "DEBUG":
            parts.append(f"level ≥ {self.min_level}")
        if self.type_filter:
            parts.append(f"type {self.type_filter}")
        if self.text_filter:
            parts.append(f"text {safe_text(self.text_filter, 30)!r}")
        parts.append("PAUSED" if self.paused else "following")
        if self.skipped:
            parts.append(f"{self.skipped} lines skipped to keep up")
        self.border_title = " · ".join(parts)

    def wanted(self, line: dict[str, Any]) -> bool:
        if self.following and line.get("strategy") not in (self.following, "supervisor"):
            return False
        if not level_at_least(line.get("level", "INFO"), self.min_level):
            return False
        if self.type_filter and line.get("type") != self.type_filter:
            return False
        return not (
            self.text_filter and self.text_filter.lower() not in str(line.get("text", "")).lower()
        )

    def add(self, lines: list[dict[str, Any]], skipped: int = 0) -> None:
        """Append a batch (one `write_lines`: one refresh, however many lines)."""
        self.buffer.extend(lines)
        self.skipped += skipped
        if self.paused:
            self.update_title()
            return
        shown = [format_line(line) for line in lines if self.wanted(line)]
        if shown:
            self.write_lines(shown)
        if skipped:
            self.update_title()

    def rerender(self) -> None:
        self.clear()
        self.write_lines([format_line(line) for line in self.buffer if self.wanted(line)])
        self.update_title()

    def follow(self, name: str | None) -> None:
        if name != self.following:
            self.following = name
            self.buffer.clear()
            self.skipped = 0
            self.rerender()

    def cycle_level(self) -> str:
        self.min_level = LEVELS[(LEVELS.index(self.min_level) + 1) % len(LEVELS)]
        self.rerender()
        return self.min_level

    def cycle_type(self) -> str | None:
        self.type_filter = TYPES[(TYPES.index(self.type_filter) + 1) % len(TYPES)]
        self.rerender()
        return self.type_filter

    def set_text_filter(self, text: str) -> None:
        self.text_filter = text
        self.rerender()

    def toggle_pause(self) -> bool:
        self.paused = not self.paused
        self.auto_scroll = not self.paused
        if not self.paused:
            self.rerender()
        else:
            self.update_title()
        return self.paused
