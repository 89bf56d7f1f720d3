"""LiveTable keeps cell renders across updates of other cells: what is drawn must still be what
is in the table after updates, sorts, removals and a resize — and unchanged cells are not
rendered again."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from tui_monitor.tui.widgets.livetable import LiveTable

COLUMNS = ["name", "value", "end"]


def rows(values: dict[str, str]) -> dict[str, dict[str, tuple[str, str]]]:
    return {k: {"name": (k, ""), "value": (v, ""), "end": ("|", "")} for k, v in values.items()}


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table = LiveTable(id="t")
        table.add_column("name", key="name")
        table.add_column("value", key="value")
        table.add_column("|", key="end")
        yield table


def drawn(app: App[Any]) -> list[str]:
    """The table's lines as drawn on the screen (not as stored)."""
    table = app.query_one(LiveTable)
    strips = app.screen._compositor.render_strips()
    lines = []
    for y in range(table.region.height):
        lines.append(" ".join(strips[table.region.y + y].text.split()))
    return [line for line in lines if line]


async def test_what_is_drawn_follows_updates_sorts_and_removals() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(LiveTable)
        table.diff_rows(rows({"b": "1", "a": "2", "c": "3"}), COLUMNS)
        await pilot.pause()
        assert drawn(app)[1:] == ["b 1 |", "a 2 |", "c 3 |"]
        table.diff_rows(rows({"b": "1", "a": "5", "c": "3"}), COLUMNS)  # settled after a first
        await pilot.pause()
        assert drawn(app)[1:] == ["b 1 |", "a 5 |", "c 3 |"]

        rendered = 0
        render = LiveTable._render_cell

        def counting(self: LiveTable, *args: Any, **kwargs: Any) -> Any:
            nonlocal rendered
            before = len(self._cell_render_cache)
            result = render(self, *args, **kwargs)
            rendered += len(self._cell_render_cache) - before
            return result

        LiveTable._render_cell = counting  # type: ignore[method-assign]
        try:
            changed = table.diff_rows(rows({"b": "1", "a": "9", "c": "3"}), COLUMNS)
            assert changed == {"value"}
            await pilot.pause()
            assert drawn(app)[1:] == ["b 1 |", "a 9 |", "c 3 |"]
            assert rendered == 1 + 3  # the one cell that changed, and the header's three
        finally:
            LiveTable._render_cell = render  # type: ignore[method-assign]

        table.sort("name", key=lambda cell: cell.plain)
        await pilot.pause()
        assert drawn(app)[1:] == ["a 9 |", "b 1 |", "c 3 |"]
        table.diff_rows(rows({"a": "9", "c": "4"}), COLUMNS)  # b removed, c changed
        await pilot.pause()
        assert drawn(app)[1:] == ["a 9 |", "c 4 |"]
        table.diff_rows(rows({"a": "9", "c": "4", "d": "a much longer value"}), COLUMNS)
        await pilot.pause()
        assert drawn(app)[1:] == ["a 9 |", "c 4 |", "d a much longer value |"]
        # a cell grown wider widens its column: every row is drawn at the new width
        table.diff_rows(rows({"a": "9", "c": "an even much longer value", "d": "x"}), COLUMNS)
        await pilot.pause()
        strips = app.screen._compositor.render_strips()
        lines = [strips[table.region.y + y].text for y in range(4)]
        edges = {line.index("|") for line in lines}
        assert len(edges) == 1, lines  # the last column starts at the same place on every row
        await pilot.resize_terminal(30, 12)
        await pilot.pause()
        assert [line.split()[:2] for line in drawn(app)[1:3]] == [["a", "9"], ["c", "an"]]
