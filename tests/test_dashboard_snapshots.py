"""Screenshots of the dashboard (pytest-textual-snapshot): the main screen and the detail screen,
over the fixed data of FakeView, with the app's clock injected and the time zone set to UTC, so
every run draws the same SVG. The SVGs are in tests/__snapshots__/test_dashboard_snapshots/.

After a deliberate change of the screen: `pytest tests/test_dashboard_snapshots.py
--snapshot-update`, then look at the new SVGs (a browser shows them) before committing them.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from tests.fakeview import NOW, FakeView
from tests.test_dashboard import rendered, screen_text, select, until
from tests.test_dashboard_layout import TIME, DemoView
from tui_monitor.tui.app import MonitorApp
from tui_monitor.tui.feed import FeedSettings
from tui_monitor.tui.screens.detail import DetailScreen
from tui_monitor.tui.widgets.logtail import LogTail
from tui_monitor.tui.widgets.strategies import StrategyTable
from tui_monitor.tui.widgets.system import SystemPanel

pytestmark = pytest.mark.usefixtures("same_screen_everywhere")

#: One fetch of everything (the data never changes); log lines are polled, and come once.
FEED = FeedSettings(snapshot_every=3600, health_every=3600, logs_every=0.01)


def dashboard() -> MonitorApp:
    app = MonitorApp(FakeView(), mode="attach", clock=lambda: NOW, feed_settings=FEED)
    app.animation_level = "none"
    return app


async def loaded(pilot: Pilot) -> MonitorApp:
    """Until everything the fake serves is on the screen."""
    app = pilot.app
    assert isinstance(app, MonitorApp)
    await until(lambda: app.snapshot is not None and app.health_report is not None)
    table = app.query_one(StrategyTable)
    await until(lambda: table.row_count == 7)
    await until(lambda: table.get_cell("btc_arbitrage", "cpu").plain == "12.5")
    # the system panel drawn at its full height: the table's final size, before a test moves
    # its cursor (scrolled into view in a table still being laid out, the rows would differ)
    await until(lambda: "load 2.15" in screen_text(app))
    return app


async def settled(pilot: Pilot, *texts: str) -> None:
    """Until the screen shows all of `texts` (the footer included), then one more pause."""
    app = pilot.app
    await until(lambda: all(t in screen_text(app) for t in texts))  # type: ignore[arg-type]
    await pilot.pause()


def test_main_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await loaded(pilot)
        await select(app, "btc_arbitrage")
        tail = app.query_one("#log", LogTail)
        await until(lambda: len(tail.lines) == 6)
        await settled(pilot, "q quit", "15:06:37 btc_arbitrage", "UNHEALTHY", "load 2.15")

    assert snap_compare(dashboard(), terminal_size=(120, 40), run_before=run_before)


def test_main_screen_at_80x24(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await loaded(pilot)
        await select(app, "eth_market_maker")
        tail = app.query_one("#log", LogTail)
        await until(lambda: len(tail.lines) == 2)
        await settled(pilot, "q quit", "inventory 1.8 ETH", "load 2.15")

    assert snap_compare(dashboard(), terminal_size=(80, 24), run_before=run_before)


def test_demo_at_80x24(snap_compare: Any) -> None:
    """The bundled demo's four strategies on the smallest screen: every one in the table, two
    jobs and why the selected one cannot resume, the time, the keys that matter."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, MonitorApp)
        panel = app.query_one(SystemPanel)
        await until(lambda: "state+logs" in str(panel.render()))
        await until(lambda: app.query_one(StrategyTable).row_count == 4)
        await settled(pilot, "q quit", "cannot resume: it has completed", TIME)

    app = MonitorApp(DemoView(), mode="attach", clock=lambda: NOW, feed_settings=FEED)
    app.animation_level = "none"
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_main_screen_no_color(snap_compare: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR (read when the app is made): shades of grey, every state still in words."""

    async def run_before(pilot: Pilot) -> None:
        app = await loaded(pilot)
        assert app.no_color
        await select(app, "btc_arbitrage")
        tail = app.query_one("#log", LogTail)
        await until(lambda: len(tail.lines) == 6)
        await settled(pilot, "q quit", "15:06:37 btc_arbitrage", "UNHEALTHY", "load 2.15")

    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(dashboard(), terminal_size=(120, 40), run_before=run_before)


def test_detail_screen(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = await loaded(pilot)
        await select(app, "btc_arbitrage")
        await pilot.press("enter")
        screen = await until(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await until(lambda: "KeyError" in rendered(screen, "#history-text"))
        await until(lambda: "orders_today" in rendered(screen, "#checkpoint-text"))
        await until(lambda: len(screen.query_one(LogTail).lines) == 6)
        await settled(pilot, "esc/q back", "first heartbeat", "15:06:37 btc_arbitrage")

    assert snap_compare(dashboard(), terminal_size=(120, 40), run_before=run_before)
