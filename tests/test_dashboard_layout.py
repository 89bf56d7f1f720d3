"""The dashboard's layout at the sizes it promises (usable at 80x24, better when larger), its
system panel against the configured thresholds, and its screen under NO_COLOR (every text
legible in greys).

Over FakeView's fixed data (clock, metrics, health), like the snapshot tests, with a set of four
strategies shaped like the bundled demo's; the thresholds also through a real supervisor, in
both modes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from rich.color import Color
from textual.geometry import Offset, Region
from textual.pilot import Pilot
from textual.scrollbar import ScrollBar, ScrollBarCorner

from tests import fakeview
from tests.conftest import FAST, script, write_config
from tests.fakeview import NOW, FakeView
from tests.test_dashboard import (
    FAKE_FEED,
    WORKER,
    dashboard,
    fake_dashboard,
    quiet,
    screen_text,
    select,
    until,
)
from tui_monitor.config import load_config
from tui_monitor.tui.app import MonitorApp
from tui_monitor.tui.format import RED
from tui_monitor.tui.screens.detail import DetailScreen
from tui_monitor.tui.screens.info import InfoScreen
from tui_monitor.tui.widgets.jobs import JobList
from tui_monitor.tui.widgets.strategies import StrategyTable
from tui_monitor.tui.widgets.system import SystemPanel

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("same_screen_everywhere")]

SMALL, BIG, HUGE = (80, 24), (120, 40), (200, 60)
DEMO = ["batch", "crashy", "feed", "hangs"]
TIME, DATE = "15:06:40", "2025-06-15"  # NOW in UTC


class DemoView(FakeView):
    """The demo's four strategies (a finished batch, a crashing bot, a feed, a hanging bot) and
    their jobs — none of which can resume — degraded health with two reasons, and one disk
    holding the state and the logs, past its 80 % threshold."""

    async def snapshot(self) -> dict[str, Any]:
        snap = await super().snapshot()
        strategy, job = fakeview._strategy, fakeview._job
        snap["strategies"] = [
            strategy(
                "batch",
                "exited",
                kind="task",
                state_reason="completed (exit code 0)",
                last_exit_code=0,
                progress=1.0,
            ),
            strategy(
                "crashy",
                "running",
                pid=501,
                uptime=5.8,
                heartbeat_age=0.7,
                heartbeat_timeout=3.0,
                heartbeat_message="trading, 12 orders",
                restarts=1,
                last_exit_code=1,
            ),
            strategy(
                "feed",
                "running",
                pid=502,
                uptime=160.0,
                heartbeat_age=0.1,
                heartbeat_timeout=3.0,
                heartbeat_message="seq 4123",
                progress=0.4,
            ),
            strategy(
                "hangs",
                "stopping",
                pid=503,
                uptime=9.0,
                heartbeat_age=4.5,
                heartbeat_timeout=4.0,
                state_reason="no heartbeat for 4 s",
                restarts=2,
                last_exit_signal="SIGKILL",
            ),
        ]
        snap["jobs"] = [
            job("batch", "completed", progress=1.0, checkpoint_at=NOW - 30, has_checkpoint=True),
            job("crashy", "running", pid=501, checkpoint_at=NOW - 1, has_checkpoint=True),
            job("feed", "running", pid=502, progress=0.4, checkpoint_at=NOW - 1),
            job("hangs", "running", pid=503),
        ]
        snap["job_counts"] = {"total": 4, "running": 3, "completed": 1}
        return snap

    async def health(self, detailed: bool = False) -> dict[str, Any]:
        report = await super().health(detailed)
        report["status"] = "degraded"
        report["reasons"] = [
            {
                "severity": "degraded",
                "code": "heartbeat_overdue",
                "message": "hangs: heartbeat overdue (timeout 4 s)",
                "strategy": "hangs",
            },
            {
                "severity": "degraded",
                "code": "disk",
                "message": "disk of /srv/tui/state 83% used (threshold 80%)",
                "strategy": None,
            },
        ]
        if detailed:
            metrics = report["metrics"]
            metrics["thresholds"] = {"memory_percent": 90.0, "disk_percent": 80.0}
            metrics["disk_folders"] = {"/srv/tui/state": ["state", "logs"]}
            metrics["system"]["disks"] = [{**metrics["system"]["disks"][0], "percent": 83.0}]
            metrics["strategies"] = {
                "crashy": {"cpu_percent": 3.5, "rss": 12 * 1024**2, "processes": 1},
                "feed": {"cpu_percent": 1.0, "rss": 11 * 1024**2, "processes": 1},
                "hangs": {"cpu_percent": 0.0, "rss": 10 * 1024**2, "processes": 1},
            }
        return report


@contextlib.asynccontextmanager
async def demo(
    size: tuple[int, int], keymap: dict[str, str] | None = None
) -> AsyncIterator[tuple[MonitorApp, Pilot]]:
    """The dashboard over DemoView, loaded (fake_dashboard's way); `keymap`: keys remapped, as
    `[dashboard.keys]` does."""
    app = MonitorApp(
        DemoView(), mode="attach", clock=lambda: NOW, feed_settings=FAKE_FEED, keymap=keymap
    )
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        try:
            await until(lambda: app.snapshot is not None and app.health_report is not None)
            await until(lambda: app.query_one(StrategyTable).row_count == len(DEMO))
            panel = app.query_one(SystemPanel)
            await until(lambda: "state+logs" in str(panel.render()))
            await until(lambda: "quit" in footer(app))  # composed late on a busy machine
            await pilot.pause()
            yield app, pilot
        finally:
            await quiet(app, pilot)


def lines_of(app: MonitorApp, region: Region) -> list[str]:
    """What the screen shows in `region`."""
    rows = screen_text(app).splitlines()[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


def header(app: MonitorApp) -> str:
    return screen_text(app).splitlines()[0]


def footer(app: MonitorApp) -> str:
    return screen_text(app).splitlines()[-1]


def rows_shown(
    app: MonitorApp, widget: type[StrategyTable | JobList], names: list[str]
) -> list[str]:
    """Which of `names` start a line of the table's region on the screen."""
    shown = [line.strip("│ ") for line in lines_of(app, app.query_one(widget).region)]
    return [name for name in names if any(line.startswith(name) for line in shown)]


# ---- 80x24 ----------------------------------------------------------------------------------


async def test_at_80x24_the_footer_shows_the_essential_keys() -> None:
    async with demo(SMALL) as (app, pilot):
        keys = footer(app)
        essential = ("⏎ detail", "r restart", "s stop", "t start", "u resume", "h health")
        for key in (*essential, "? help", "q quit"):
            assert key in keys, keys
        # the jobs panel focused: its own enter, and still help and quit
        app.query_one(JobList).focus()
        await until(lambda: "resume job" in footer(app))
        assert "? help" in footer(app) and "q quit" in footer(app)
        # the detail screen: its way back whole (q goes back there), its keys, and help
        app.table.focus()
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, DetailScreen))
        await until(lambda: "esc/q back" in footer(app))
        for key in ("r restart", "s stop", "t start", "u resume", "h health", "? help"):
            assert key in footer(app), footer(app)
        await pilot.press("q")
        await until(lambda: len(app.screen_stack) == 1)
        assert app.is_running


async def test_at_80x24_the_header_shows_the_time_and_the_reasons_key() -> None:
    """The key named is the one mapped to the health reasons (here remapped: f2, not h)."""
    async with demo(SMALL, keymap={"health": "f2"}) as (app, pilot):
        line = header(app)
        assert line.rstrip().endswith(TIME), line
        assert "DEGRADED" in line and "f2: 2 reasons" in line and "trading-box-01" in line
        assert "h: " not in line
        # that key shows the reasons, and closes them again; h does nothing now
        await pilot.press("h")
        await pilot.pause()
        assert len(app.screen_stack) == 1
        await pilot.press("f2")
        await until(lambda: isinstance(app.screen, InfoScreen))
        assert "hangs: heartbeat overdue" in screen_text(app)
        await pilot.press("f2")
        await until(lambda: len(app.screen_stack) == 1)


async def test_at_80x24_every_demo_strategy_is_in_the_table() -> None:
    async with demo(SMALL) as (app, _pilot):
        assert rows_shown(app, StrategyTable, DEMO) == DEMO


async def test_at_80x24_the_jobs_show_two_rows_and_why_the_selected_cannot_resume() -> None:
    async with demo(SMALL) as (app, pilot):
        jobs = app.query_one(JobList)
        assert len(rows_shown(app, JobList, [f"strategy_{n}" for n in DEMO])) >= 2
        # the note column is off the screen; the selected job's note is on the panel's edge
        assert jobs.selected is not None and jobs.selected["job_id"] == "strategy_batch"
        assert "strategy_batch: cannot resume: it has completed" in screen_text(app)
        # the columns that are: job id, strategy, status and the Resume cell
        shown = [line.strip("│ ") for line in lines_of(app, jobs.region)]
        assert any(line.split()[:3] == ["job", "strategy", "status"] for line in shown), shown
        (row,) = [line for line in shown if line.startswith("strategy_batch")]
        assert row.split()[:3] == ["strategy_batch", "batch", "completed"], row
        assert row.split()[3:5] == ["▶", "Resume"], row
        jobs.focus()
        await pilot.press("down")
        await until(lambda: "strategy_crashy: cannot resume: it is running" in screen_text(app))
        assert "strategy_batch: cannot resume" not in screen_text(app)


async def test_at_80x24_the_disk_shows_what_it_holds_against_its_threshold() -> None:
    async with demo(SMALL) as (app, _pilot):
        (disk,) = [
            line for line in lines_of(app, app.query_one(SystemPanel).region) if "DISK" in line
        ]
        assert "state+logs 83%/80%" in disk
        assert "(alert 90%)" in screen_text(app)


# ---- larger ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [BIG, HUGE], ids=["120x40", "200x60"])
async def test_larger_screens_show_everything_in_full(size: tuple[int, int]) -> None:
    async with demo(size) as (app, _pilot):
        line = header(app)
        assert " tui-monitor " in line and "2 reason(s) — press h" in line
        assert line.rstrip().endswith(f"{DATE} {TIME}"), line
        keys = footer(app)
        for key in ("⏎ detail", "r restart", "/ filter", "f follow/pause", "q quit", "^p palette"):
            assert key in keys, keys
        assert rows_shown(app, StrategyTable, DEMO) == DEMO
        # as many jobs as before (3 at 120x40), all of them at 200x60
        jobs = rows_shown(app, JobList, [f"strategy_{n}" for n in DEMO])
        assert len(jobs) == (3 if size == BIG else 4), jobs
        # the note column itself is on the screen too
        assert "cannot resume: it is running" in "".join(
            lines_of(app, app.query_one(JobList).region)
        )


# ---- the thresholds -------------------------------------------------------------------------


def percent_style_of(panel: SystemPanel, shown: str) -> str:
    """The style of the span that shows `shown` in the panel."""
    text = panel.render_metrics(panel.app.health_report["metrics"])  # type: ignore[attr-defined]
    start = text.plain.index(shown)
    for span in text.spans:
        if span.start <= start < span.end:
            return str(span.style)
    raise AssertionError(f"{shown!r} has no style")


async def test_the_disk_is_coloured_by_its_own_threshold() -> None:
    async with demo(SMALL) as (app, _pilot):
        # 83 % is past an 80 % threshold (under the default 90 %, it would be yellow)
        assert percent_style_of(app.query_one(SystemPanel), " 83%/80%") == f"bold {RED}"
    async with fake_dashboard(SMALL) as (app, _pilot):
        panel = app.query_one(SystemPanel)
        await until(lambda: "63%/90%" in str(panel.render()))
        # a supervisor that does not send its thresholds: the defaults
        assert percent_style_of(panel, " 63%/90%") == "green"
        assert percent_style_of(panel, " 93%/90%") == f"bold {RED}"


@pytest.mark.parametrize("mode", ["run", "attach"])
async def test_the_configured_thresholds_reach_the_system_panel(tmp_path: Path, mode: str) -> None:
    alpha = {
        **FAST,
        "command": script(tmp_path, "worker", WORKER),
        "env": {"RESUME_LOG": str(tmp_path / "alpha.resumes")},
    }
    monitor = {"metrics_interval": 0.2, "disk_threshold": 80, "memory_threshold": 95.5}
    config = load_config(write_config(tmp_path, {"alpha": alpha}, monitor))
    async with dashboard(config, mode, SMALL, running=("alpha",)) as d:
        panel = d.app.query_one(SystemPanel)
        # the state and the logs are both in tmp_path: one filesystem
        await d.wait(lambda: "state+logs" in str(panel.render()))
        assert (panel.disk_threshold, panel.memory_threshold) == (80.0, 95.5)
        text = d.text()
        assert "%/80%" in text and "(alert 95.5%)" in text


# ---- NO_COLOR -------------------------------------------------------------------------------


def colours(app: MonitorApp) -> set[tuple[int, int, int]]:
    """Every colour on the screen, as the terminal would get it."""
    seen: set[tuple[int, int, int]] = set()
    for strip in app.screen._compositor.render_strips():
        for segment in strip:
            style = segment.style
            if style is None:
                continue
            for colour in (style.color, style.bgcolor):
                if isinstance(colour, Color) and not colour.is_default:
                    seen.add(tuple(colour.get_truecolor()))  # type: ignore[arg-type]
    return seen


#: The least contrast (WCAG's ratio of relative luminances, 1 to 21) allowed under NO_COLOR: 4.5
#: (WCAG AA for text) where a colour says something — a state, a threshold passed, an error —
#: and 3 for anything else drawn (text greyed out on purpose, a cell under the cursor, a sparkline).
SAYS, LEGIBLE = 4.5, 3.0
#: Lines, not text: borders, the footer's separator (scrollbars are left out by their regions).
LINES = {chr(c) for c in range(0x2500, 0x2580)} | set("▏▕")


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG's relative luminance of an sRGB colour."""
    linear = [
        v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in (c / 255 for c in rgb)
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def contrasts(app: MonitorApp) -> list[tuple[str, float]]:
    """Every piece of text (and graphics) on the screen — lines and scrollbars aside — with its
    contrast against its own background, in the colours the terminal gets."""
    compositor = app.screen._compositor
    bars = [
        region.intersection(clip)
        for widget, (region, clip) in compositor.visible_widgets.items()
        if isinstance(widget, ScrollBar | ScrollBarCorner)
    ]
    shown = []
    for y, strip in enumerate(compositor.render_strips()):
        x = 0
        for segment in strip:
            text, style, at = segment.text.strip(), segment.style, Offset(x, y)
            x += segment.cell_length
            if not text or set(text) <= LINES or any(bar.contains_point(at) for bar in bars):
                continue
            assert style is not None and style.color and style.bgcolor and not style.dim, text
            fg, bg = style.color.get_truecolor(), style.bgcolor.get_truecolor()
            if style.reverse:
                fg, bg = bg, fg
            shown.append((text, contrast(tuple(fg), tuple(bg))))  # type: ignore[arg-type]
    return shown


def assert_legible(app: MonitorApp, says: tuple[str, ...]) -> None:
    """Nothing on the screen too faint to read, and each text of `says` (shown) at least AA."""
    shown = contrasts(app)
    faint = [(text, round(ratio, 2)) for text, ratio in shown if ratio < LEGIBLE]
    assert not faint, faint
    for word in says:
        ratios = [ratio for text, ratio in shown if word in text]
        assert ratios, f"{word!r} is not on the screen"
        assert min(ratios) >= SAYS, (word, round(min(ratios), 2))


async def test_no_color_shows_no_colour_and_every_state_in_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with fake_dashboard(BIG) as (app, _pilot):
        assert any(len(set(c)) > 1 for c in colours(app))  # colours, normally
    monkeypatch.setenv("NO_COLOR", "1")  # read when the app is made
    async with fake_dashboard(BIG) as (app, pilot):
        assert app.no_color
        await until(lambda: "load 2.15" in screen_text(app))
        await pilot.pause()
        greys = colours(app)
        assert greys  # shades of grey, still
        assert not {c for c in greys if len(set(c)) > 1}  # and nothing else
        # what colours say is in words too: the states, the health, the thresholds
        table = "\n".join(lines_of(app, app.query_one(StrategyTable).region))
        for state in ("running", "backoff", "fatal", "exited", "stopped"):
            assert state in table
        assert "55s/1m00s" in table  # a heartbeat near its timeout, as numbers
        text = screen_text(app)
        assert "UNHEALTHY" in text and "2 reason(s) — press h" in text
        assert "93%/90%" in text

        # and legible in greys (red was a grey of 59 on backgrounds of 18 to 51): every log line
        # shown, with its levels
        await pilot.press("a")
        await until(lambda: "ERROR" in screen_text(app))
        await pilot.pause()
        states = ("running", "backoff", "fatal", "exited", "stopped", "stopping")
        assert_legible(
            app,
            (
                *states[:-1],
                *("5/5", "4/5", "SIGKILL", "SIGTERM", "55s/1m00s", "41s/1m00s"),
                *("UNHEALTHY", "93%/90%", "63%/90%", "press h"),
                *("failed", "paused", "interrupted", "▶ Resume", "ERROR", "WARNING", "DEBUG"),
                *("jobs running 3", "log: all strategies"),  # the panels' titles
            ),
        )
        # the detail of a fatal strategy: its state, its last error, the way back
        await select(app, "risk_report")
        await pilot.press("enter")
        await until(lambda: "last error" in screen_text(app) and "esc/q back" in screen_text(app))
        await pilot.pause()
        assert_legible(app, ("fatal", "last error", "gave up (last: exit code 1)", "restarts"))
