"""The strategies table: one row per strategy, keyed by name and updated cell by cell.

Rows are never cleared and re-added (that resets the cursor and the scroll, and breaks "r restarts
the selected row"): a new snapshot is diffed against what is shown and only changed cells are
updated — dolphie's way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.tui.format import (
    RED,
    STATE_STYLES,
    Cell,
    age,
    bar,
    heartbeat_cell,
    last_exit_cell,
    size,
    text_cell,
)
from tui_monitor.tui.widgets.livetable import LiveTable

COLUMNS: list[tuple[str, str]] = [
    ("name", "strategy"),
    ("state", "state"),
    ("pid", "pid"),
    ("uptime", "uptime"),
    ("heartbeat", "heartbeat"),
    ("restarts", "restarts"),
    ("exit", "last exit"),
    ("cpu", "cpu%"),
    ("mem", "mem"),
    ("progress", "progress"),
    ("message", "message"),
]

#: What each sortable column sorts by (from the strategy dict).
SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda s: s["name"],
    "state": lambda s: (s["state"] != "fatal", s["state"] != "backoff", s["state"], s["name"]),
    "uptime": lambda s: s.get("uptime") or 0.0,
    "heartbeat": lambda s: -(s.get("heartbeat_age") or 0.0),
    "restarts": lambda s: -s.get("restarts", 0),
    "cpu": lambda s: -(s.get("_cpu") or 0.0),
    "mem": lambda s: -(s.get("_rss") or 0),
}


def cells(s: dict[str, Any]) -> dict[str, Cell]:
    """The row of one strategy (plus `_cpu`/`_rss` merged in from the metrics)."""
    alive = s.get("pid") is not None
    cpu, rss = (s.get("_cpu"), s.get("_rss")) if alive else (None, None)
    restarts = s["restarts"]
    restarts_style = (
        "" if not restarts else "yellow" if restarts < s["max_restarts"] else f"bold {RED}"
    )
    progress = s.get("progress")
    return {
        "name": text_cell(s["name"], 64, "bold"),
        "state": (s["state"], STATE_STYLES.get(s["state"], "")),
        "pid": (str(s["pid"]) if s.get("pid") else "-", ""),
        "uptime": (age(s.get("uptime")), ""),
        "heartbeat": heartbeat_cell(s.get("heartbeat_age"), s["heartbeat_timeout"], s["state"]),
        "restarts": (f"{restarts}/{s['max_restarts']}", restarts_style),
        "exit": last_exit_cell(s.get("last_exit_code"), s.get("last_exit_signal")),
        "cpu": ("-" if cpu is None else f"{cpu:.1f}", ""),
        "mem": (size(rss) if rss else "-", ""),
        "progress": (
            "" if progress is None else f"{bar(progress, 8)} {progress * 100:3.0f}%",
            "cyan",
        ),
        "message": text_cell(
            s.get("heartbeat_message") or (s["state_reason"] if s["state"] != "running" else ""),
            120,
        ),
    }


COLUMN_KEYS = [key for key, _ in COLUMNS]


class StrategyTable(LiveTable):
    DEFAULT_CSS = """
    StrategyTable { height: 1fr; }
    """
    #: DataTable's own enter (it posts RowSelected, which the app turns into the detail screen),
    #: shown in the footer; with the app's id, so `[dashboard.keys]` remaps it (and a remapped
    #: detail key leaves enter to whatever it is mapped to).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(DASHBOARD_KEYS["detail"], "select_cursor", "detail", id="detail")
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strategies: dict[str, dict[str, Any]] = {}
        self.sort_column = "name"
        self.sort_reverse = False
        self.usage: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def set_usage(self, usage: dict[str, dict[str, Any]]) -> None:
        """New cpu and memory figures (from the health report): shown at once, not at the next
        snapshot."""
        if usage != self.usage:
            self.usage = usage
            self.apply(list(self.strategies.values()))

    def apply(self, strategies: list[dict[str, Any]]) -> None:
        """Diff the snapshot against the screen: add, update changed cells, remove."""
        incoming: dict[str, dict[str, Any]] = {}
        for s in strategies:
            usage = self.usage.get(s["name"]) or {}
            s = {**s, "_cpu": usage.get("cpu_percent"), "_rss": usage.get("rss")}
            incoming[s["name"]] = s
        self.strategies = incoming
        selected = self.selected
        changed = self.diff_rows({name: cells(s) for name, s in incoming.items()}, COLUMN_KEYS)
        if changed & {"+", self.sort_column}:
            self._sort(selected)

    def _sort(self, keep: str | None) -> None:
        """Sort by the sort column, the cursor on `keep` (DataTable would keep its row index: the
        cursor would land on another strategy)."""
        keyfn = SORT_KEYS.get(self.sort_column, SORT_KEYS["name"])
        strategies = self.strategies

        def key(name_cell: Any) -> Any:
            name = name_cell.plain if isinstance(name_cell, Text) else str(name_cell)
            return keyfn(strategies[name]) if name in strategies else ""

        self.sort("name", key=key, reverse=self.sort_reverse)
        if keep in self.shown:
            self.move_cursor(row=self.get_row_index(keep))

    def cycle_sort(self) -> str:
        order = list(SORT_KEYS)
        self.sort_column = order[(order.index(self.sort_column) + 1) % len(order)]
        self._sort(self.selected)
        return self.sort_column

    def sort_by(self, column: str) -> None:
        if column not in SORT_KEYS:
            return
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        self._sort(self.selected)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        self.sort_by(str(event.column_key.value))
