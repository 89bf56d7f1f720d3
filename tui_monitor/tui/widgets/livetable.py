"""A DataTable for live data: rows keyed, diffed in cell by cell, and a cell re-rendered only when
it changed.

The strategies and jobs tables are refreshed every second and most cells never change. Textual's
DataTable keys its cell-render cache on a table-wide update counter, so one changed heartbeat age
re-renders every visible cell through Rich (~0.2 ms each: with two tables of 200 rows that was most
of a dashboard frame, and the key presses waiting behind it). Here a cell's cache key carries the
counter of the cell's own last update instead, its column's width, and a counter of the changes to
the table's shape (rows added, removed, sorted, resized) that invalidate everything.

The horizontal scrollbar shows only where it hides no row: on a short terminal the rows matter
more (the table still scrolls sideways with the arrow keys and the mouse wheel).
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellType, ColumnKey, RowKey

from tui_monitor.tui.format import Cell

Row = dict[str, Cell]


class LiveTable(DataTable):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", True)
        super().__init__(**kwargs)
        self.shown: dict[str, Row] = {}
        self._cell_updates = 0
        self._cell_version: dict[tuple[RowKey, ColumnKey], int] = {}

    def diff_rows(self, rows: dict[str, Row], columns: list[str]) -> set[str]:
        """Make the table show `rows` (key → column → (text, style)), in place: remove, add, and
        update the cells that changed (only those become Rich `Text`). Returns the columns that
        changed, plus "+" when rows were added or removed (the caller decides whether to
        re-sort)."""
        changed: set[str] = set()
        with self.app.batch_update():
            for key in [k for k in self.shown if k not in rows]:
                self.remove_row(key)
                del self.shown[key]
                changed.add("+")
            for key, row in rows.items():
                old = self.shown.get(key)
                if old is None:
                    self.add_row(*(Text(*row[c]) for c in columns), key=key)
                    changed.add("+")
                else:
                    for column, value in row.items():
                        if old[column] != value:
                            text = Text(*value)
                            wider = self._wider(column, text)
                            self.update_cell(key, column, text, update_width=wider)
                            changed.add(column)
                self.shown[key] = row
        if "+" in changed:
            self._fit_scrollbar()
        return changed

    def on_resize(self) -> None:
        self._fit_scrollbar()

    def _fit_scrollbar(self) -> None:
        """The horizontal scrollbar (one line) where the header and every row fit above it."""
        lines = self.row_count + (1 if self.show_header else 0)
        size = 1 if lines < self.size.height else 0
        if self.styles.scrollbar_size_horizontal != size:
            self.styles.scrollbar_size_horizontal = size

    def _wider(self, column: str, value: Text) -> bool:
        """Whether `value` needs its column widened. Only then is `update_width` asked for: for a
        value narrower than the column, DataTable re-measures the whole column (200 rows of
        changing ages = 40,000 measurements per snapshot). Columns grow, never shrink."""
        return value.cell_len > self.columns[ColumnKey(column)].content_width

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: CellType,
        *,
        update_width: bool = False,
    ) -> None:
        super().update_cell(row_key, column_key, value, update_width=update_width)
        self._cell_updates += 1
        self._cell_version[(RowKey(str(row_key)), ColumnKey(str(column_key)))] = self._update_count

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        key = RowKey(str(row_key))
        for cell in [c for c in self._cell_version if c[0] == key]:
            del self._cell_version[cell]

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Any]]:
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = (
            self._row_locations.get_key(row_index),
            self._column_locations.get_key(column_index),
        )
        real = self._update_count
        # Everything DataTable caches under this counter while rendering the cell (the cell, its
        # row's renderables) is then keyed by the table's shape and this cell's last update.
        # The width too: a column widened on idle (`update_width`) without a new count.
        self._update_count = (  # type: ignore[assignment]
            real - self._cell_updates,
            self._cell_version.get(cell, 0),
            width,
        )
        try:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        finally:
            self._update_count = real
