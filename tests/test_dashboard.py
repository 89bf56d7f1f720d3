"""The dashboard driven like an operator drives it: Textual's pilot pressing keys and clicking
buttons, against REAL strategies (small Python scripts using `tui_monitor.client`), in both modes:

- run mode: `MonitorApp(host=SupervisorHost(config))` hosts the engine on the app's own loop;
- attach mode: an engine and its control server in this process, the app over a `SocketView`.

Every test stops what it started and checks that no strategy process is left behind.

Tests that show a dashboard bug are marked `xfail(strict=True)`: they pass once the bug is fixed
(and then the marker must go). Bugs of the screen alone are shown over the deterministic
`FakeView` (tests/fakeview.py), which needs no process.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import textual.app
import textual.pilot
import textual.widgets._data_table as data_table
from rich.console import Console
from textual.geometry import Offset
from textual.pilot import Pilot
from textual.widgets import Footer, Input

from tests import fakeview
from tests.conftest import FAST, PYTHON, ROOT, alive, script, write_config
from tests.fakeview import NOW, FakeView
from tests.test_control import serving
from tui_monitor.config import Config, load_config
from tui_monitor.engine import Engine
from tui_monitor.host import SupervisorHost
from tui_monitor.tui.app import MonitorApp
from tui_monitor.tui.feed import FeedSettings
from tui_monitor.tui.messages import HealthArrived, SnapshotArrived
from tui_monitor.tui.screens.confirm import ConfirmScreen
from tui_monitor.tui.screens.detail import DetailScreen
from tui_monitor.tui.screens.info import InfoScreen
from tui_monitor.tui.widgets.jobs import RESUME_COLUMN, JobList
from tui_monitor.tui.widgets.logtail import LogTail
from tui_monitor.tui.widgets.strategies import StrategyTable
from tui_monitor.view import SocketView, SupervisorView

#: Real processes on a machine that may be busy: waits are generous (they end as soon as the
#: expected thing happens).
pytestmark = pytest.mark.timeout(120)

#: Fast enough for tests: a state change is shown at once anyway (an event asks for a snapshot),
#: the timer only moves ages and metrics. (Faster rates cost CPU and save no test time.)
FEED = FeedSettings(snapshot_every=0.5, health_every=1.0, logs_every=0.1)
BIG = (120, 40)
SMALL = (80, 24)
MODES = ["run", "attach"]

#: A strategy that records the checkpoint it was started with, then works: heartbeats with a
#: message and progress, a checkpoint and a log line every 50 ms (WARNING and `order` lines too).
WORKER = """
    import json, os, time
    from tui_monitor import client

    state = client.resume_state()
    with open(os.environ["RESUME_LOG"], "a") as f:
        f.write(json.dumps(state) + "\\n")
    i = (state or {}).get("i", 0)
    while True:
        i += 1
        client.heartbeat(f"tick {i}", progress=(i % 100) / 100)
        client.checkpoint({"i": i})
        print(f"working on {i}", flush=True)
        if i % 5 == 0:
            client.log(f"careful at {i}", level="WARNING")
        if i % 7 == 0:
            client.log(f"order {i} filled", type="order")
        time.sleep(0.05)
"""

#: Like WORKER, but on SIGTERM it goes on until the file $RELEASE exists: a stop (or restart)
#: stays in flight exactly as long as the test wants.
SLOW_STOP = """
    import json, os, signal, sys, time
    from tui_monitor import client

    state = client.resume_state()
    with open(os.environ["RESUME_LOG"], "a") as f:
        f.write(json.dumps(state) + "\\n")
    stopping = False

    def term(*_):
        global stopping
        stopping = True

    signal.signal(signal.SIGTERM, term)
    i = (state or {}).get("i", 0)
    while True:
        i += 1
        client.heartbeat(f"tick {i}")
        client.checkpoint({"i": i})
        if stopping and os.path.exists(os.environ["RELEASE"]):
            sys.exit(0)
        time.sleep(0.02)
"""

#: Gives up at once: exit code 3 with no restart left makes it `fatal` (a health reason).
FAILER = """
    import sys
    print("cannot connect to the exchange", file=sys.stderr, flush=True)
    sys.exit(3)
"""

HOSTILE_TEXT = "[bold]x[/] [/] [@click=app.quit]q \x1b[31mred"

#: Everything hostile, through every channel: heartbeat message, stdout (markup, ANSI, invalid
#: UTF-8 and a 10 MB line), stderr, and the checkpoint. Then it keeps heartbeating.
HOSTILE = f"""
    import sys, time
    from tui_monitor import client

    evil = {HOSTILE_TEXT!r}
    client.checkpoint({{"note": evil, "i": 1}}, durable=True)
    client.heartbeat(evil, progress=0.5)
    print(evil, flush=True)
    print("[/]", flush=True)
    sys.stdout.buffer.write(b"bad bytes \\xff\\xfe\\xc3( end\\n")
    sys.stdout.buffer.flush()
    sys.stdout.write("L" * 10_000_000 + "\\n")
    sys.stdout.flush()
    print(evil, file=sys.stderr, flush=True)
    print("hostile done", flush=True)
    while True:
        client.heartbeat(evil, progress=0.5)
        time.sleep(0.1)
"""


# ---- the harness ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_idle_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """After each key the pilot waits until the PROCESS looks idle (under 5 % CPU), up to a
    second, twice. Here the supervisor shares the test's process and is never that idle, so every
    key would cost up to seconds. The pilot still waits until the widgets have handled their
    pending messages (`_wait_for_screen`); the tests wait for what they expect, never for
    idleness."""

    async def no_wait(*_args: Any, **_kwargs: Any) -> None:
        await asyncio.sleep(0)

    monkeypatch.setattr(textual.app, "wait_for_idle", no_wait)
    monkeypatch.setattr(textual.pilot, "wait_for_idle", no_wait)


def screen_text(app: MonitorApp) -> str:
    """What the terminal shows, as plain text (the same render as an SVG screenshot)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def click_the_links(app: MonitorApp, pilot: Pilot) -> int:
    """Click on every "[@click=app.quit]" the screen shows (were it markup, that would be a
    link that quits the app): nothing may happen. Returns how many were clicked."""
    clicked = 0
    for y, line in enumerate(screen_text(app).splitlines()):
        x = line.find("[@click")
        if x >= 0:
            await pilot.click(offset=(x + 3, y))
            clicked += 1
    await pilot.pause()
    assert app.is_running and app.return_code is None
    return clicked


def rendered(screen: Any, selector: str) -> str:
    """The text of a Static on `screen` ("" while it is not mounted yet)."""
    found = screen.query(selector)
    return str(found.first().render()) if found else ""


async def until(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def press(pilot: Pilot, *keys: str) -> None:
    """Keys one by one, in order; the pilot waits until the widgets have handled their pending
    messages after each. A key still hops from widget to widget after that (and pushing or
    popping a screen takes a moment): tests wait for what a key does."""
    for key in keys:
        await pilot.press(key)


async def on(app: MonitorApp, kind: type | None) -> None:
    """Until the screen on top is a `kind` (None: the main screen)."""
    if kind is None:
        await until(lambda: len(app.screen_stack) == 1)
    else:
        await until(lambda: isinstance(app.screen, kind))


async def select(app: MonitorApp, name: str) -> None:
    table = app.query_one(StrategyTable)
    table.move_cursor(row=table.get_row_index(name))
    await until(lambda: app.selected == name)


async def quiet(app: MonitorApp, pilot: Pilot) -> None:
    """Stop the feed before `run_test` tears the app down (`MonitorApp.stop_feed` says why)."""
    if not app.is_running:
        return
    await app.stop_feed()
    await pilot.pause()


class Dash:
    """A running dashboard over real strategies, and what a test needs to look at it."""

    def __init__(self, app: MonitorApp, pilot: Pilot, engine: Engine, folder: Path) -> None:
        self.app, self.pilot, self.engine, self.folder = app, pilot, engine, folder

    @property
    def table(self) -> StrategyTable:
        return self.app.query_one(StrategyTable)

    @property
    def log(self) -> LogTail:
        return self.app.query_one("#log", LogTail)

    async def wait(self, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
        return await until(predicate, timeout)

    def strategy(self, name: str) -> Any:
        return self.engine.snapshot().strategy(name)

    def pid(self, name: str) -> int | None:
        return self.strategy(name).pid

    def state(self, name: str) -> str:
        return self.strategy(name).state.value

    def job(self, name: str) -> Any:
        return self.engine.snapshot().job(f"strategy_{name}")

    def row(self, name: str, column: str) -> str:
        return self.table.get_cell(name, column).plain

    def order(self) -> list[str]:
        return [row.key.value for row in self.table.ordered_rows]

    async def shows(self, name: str, state: str) -> None:
        """Until the engine AND the table say `state` (and the table's pid is the engine's)."""

        def ok() -> bool:
            if name not in self.table.shown or self.state(name) != state:
                return False
            pid = self.pid(name)
            return self.row(name, "state") == state and self.row(name, "pid") == (
                str(pid) if pid else "-"
            )

        await self.wait(ok)

    async def select(self, name: str) -> None:
        await select(self.app, name)

    async def idle(self, name: str) -> None:
        """Until a command's cooldown on `name` has passed (keys act on it again)."""
        await self.wait(lambda: not self.app._busy(name))

    async def press(self, *keys: str) -> None:
        await press(self.pilot, *keys)

    async def ask(self, key: str, reply: str) -> None:
        """`key`, then `reply` to the question it asks."""
        await self.press(key)
        await self.on(ConfirmScreen)
        await self.press(reply)
        await self.on(None)

    async def on(self, kind: type | None) -> None:
        """Until the screen on top is a `kind` (None: the main screen)."""
        await on(self.app, kind)

    def text(self) -> str:
        return screen_text(self.app)

    async def sees(self, text: str) -> str:
        """Until the terminal shows `text`; returns the screen's text."""
        return await self.wait(lambda: text in self.text() and self.text())

    async def detail(self, name: str) -> DetailScreen:
        """The detail screen of `name` (enter on its row), loaded."""
        await self.select(name)
        await self.press("enter")
        screen = await self.wait(
            lambda: isinstance(self.app.screen, DetailScreen) and self.app.screen
        )
        await self.wait(lambda: name in rendered(screen, "#summary"))
        return screen

    def resumes(self, name: str) -> list[Any]:
        """The checkpoint each run of `name` was started with (None: a fresh start)."""
        path = self.folder / f"{name}.resumes"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


def worker_config(folder: Path, names: list[str], **extra: dict[str, Any]) -> Config:
    cmd = script(folder, "worker", WORKER)
    strategies: dict[str, dict[str, Any]] = {}
    for name in names:
        strategies[name] = {
            **FAST,
            "command": cmd,
            "heartbeat_timeout": 5,
            "env": {"RESUME_LOG": str(folder / f"{name}.resumes")},
        }
    for name, keys in extra.items():
        strategies[name] = {**FAST, **keys}
    return load_config(write_config(folder, strategies, {"metrics_interval": 0.2}))


@contextlib.asynccontextmanager
async def dashboard(
    config: Config,
    mode: str,
    size: tuple[int, int] = BIG,
    *,
    running: tuple[str, ...] = (),
    feed: FeedSettings = FEED,
) -> AsyncIterator[Dash]:
    """A dashboard in `mode` over `config`'s strategies, waited until the strategies in
    `running` show as running. Whatever happens, the supervisor is stopped at the end and no
    strategy process is left behind."""
    folder = config.path.parent
    pids: set[int] = set()

    def record(event: Any) -> None:
        pid = getattr(event, "pid", None)
        if pid:
            pids.add(pid)

    try:
        if mode == "run":
            host = SupervisorHost(config, subreaper=False)
            host.engine.bus.add_listener(record)
            app = MonitorApp(host=host, mode="run", feed_settings=feed)
            app.animation_level = "none"  # a pilot's key waits for every animation to end
            try:
                async with app.run_test(size=size) as pilot:
                    dash = Dash(app, pilot, host.engine, folder)
                    try:
                        for name in running:
                            await dash.shows(name, "running")
                        yield dash
                    finally:
                        await quiet(app, pilot)
            finally:
                await host.stop("test over")
        else:
            async with serving(config) as (engine, server):
                engine.bus.add_listener(record)
                pids.update(r.child.pid for r in engine.runners.values() if r.child is not None)
                view = SocketView(server.path, timeout=10.0, command_timeout=30.0)
                app = MonitorApp(view, mode="attach", feed_settings=feed)
                app.animation_level = "none"
                try:
                    async with app.run_test(size=size) as pilot:
                        dash = Dash(app, pilot, engine, folder)
                        try:
                            for name in running:
                                await dash.shows(name, "running")
                            yield dash
                        finally:
                            await quiet(app, pilot)
                finally:
                    await view.close()
    finally:
        with contextlib.suppress(AssertionError):
            await until(lambda: not any(alive(p) for p in pids), timeout=5)
        left = sorted(p for p in pids if alive(p))
        assert not left, f"strategy processes left behind: {left}"


#: The fake's data never changes: one snapshot and one health report do; log lines come once.
FAKE_FEED = FeedSettings(snapshot_every=3600, health_every=3600, logs_every=0.05)


@contextlib.asynccontextmanager
async def fake_dashboard(
    size: tuple[int, int] = BIG,
    feed: FeedSettings | None = None,
    view: SupervisorView | None = None,
    rows: int = 7,
    **run_test: Any,
) -> AsyncIterator[tuple[MonitorApp, Pilot]]:
    """The dashboard over the fixed data of FakeView (no process), loaded."""
    app = MonitorApp(
        view or FakeView(),
        mode="attach",
        clock=lambda: NOW,
        feed_settings=feed or FAKE_FEED,
    )
    app.animation_level = "none"
    async with app.run_test(size=size, **run_test) as pilot:
        try:
            await until(lambda: app.snapshot is not None and app.health_report is not None)
            await until(lambda: app.query_one(StrategyTable).row_count == rows)
            yield app, pilot
        finally:
            await quiet(app, pilot)


# ---- 200 strategies (first: the longest test, so xdist starts it first) -----------------


@pytest.mark.timeout(180)
async def test_200_strategies(tmp_path: Path) -> None:
    names = [f"s{i:03d}" for i in range(200)]
    strategies = {name: {**FAST, "command": ["/bin/sleep", "1000"]} for name in names}
    config = load_config(write_config(tmp_path, strategies, {"metrics_interval": 1.0}))
    # The production refresh rates. Keys are sent without the pilot's wait until every widget has
    # handled its messages: this test checks that keys are handled, not how fast (see
    # test_200_rows_are_updated_without_measuring_every_cell for that).
    async with dashboard(config, "attach", feed=FeedSettings()) as d:
        app, table = d.app, d.table

        async def key(name: str, then: Callable[[], Any]) -> None:
            app.simulate_key(name)
            await d.wait(then, timeout=90)

        await d.wait(lambda: table.row_count == 200, timeout=90)
        await d.wait(lambda: all(d.row(n, "state") == "running" for n in names), timeout=90)
        assert d.order() == names
        await key("ctrl+end", lambda: app.selected == "s199")
        await d.wait(lambda: "(total 200)" in str(app.query_one(JobList).border_title))
        pids = {n: d.pid(n) for n in names}
        await key("q", lambda: not app.is_running)
        assert app.return_code == 0
        assert {n: d.pid(n) for n in names} == pids  # attached: quitting stopped nothing


# ---- restart, stop, start, resume -----------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_restart_asks_and_cancel_keeps_the_process(tmp_path: Path, mode: str) -> None:
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, mode, running=("alpha", "beta")) as d:
        await d.select("beta")
        pid = d.pid("beta")
        for cancel in ("n", "escape"):
            await d.press("r")
            await d.on(ConfirmScreen)
            await d.sees("Restart beta?")
            await d.press(cancel)
            await d.on(None)
        await d.pilot.pause(0.2)
        assert d.pid("beta") == pid and d.state("beta") == "running"
        assert d.resumes("beta") == [None]

        await d.press("r")
        await d.on(ConfirmScreen)
        await d.press("y")
        await d.on(None)
        await d.wait(lambda: d.pid("beta") not in (None, pid))
        await d.shows("beta", "running")
        assert d.app.selected == "beta"
        # the new run went on from the checkpoint; alpha was not touched
        await d.wait(lambda: len(d.resumes("beta")) == 2)
        assert d.resumes("beta")[0] is None and d.resumes("beta")[1]["i"] > 0
        assert d.resumes("alpha") == [None]


@pytest.mark.parametrize("mode", MODES)
async def test_a_held_key_restarts_once(tmp_path: Path, mode: str) -> None:
    release = tmp_path / "release"
    cmd = script(tmp_path, "slow", SLOW_STOP)
    env = {"RESUME_LOG": str(tmp_path / "slow.resumes"), "RELEASE": str(release)}
    config = load_config(
        write_config(
            tmp_path,
            {"slow": {**FAST, "command": cmd, "env": env, "stop_timeout": 30}},
            {"metrics_interval": 0.2},
        )
    )
    async with dashboard(config, mode, running=("slow",)) as d:
        try:
            pid = d.pid("slow")
            # r held down (at a terminal's 30 repeats a second): one question, not five stacked
            await d.pilot.press(*["r", "wait:33"] * 5)
            await d.on(ConfirmScreen)
            await d.pilot.pause(0.2)
            assert sum(isinstance(s, ConfirmScreen) for s in d.app.screen_stack) == 1
            await d.press("y")
            await d.wait(lambda: d.state("slow") == "stopping")  # the restart is in flight...
            # ... while r, y, r, y ... keep coming: they restart nothing more
            await d.pilot.press(*["r", "wait:33", "y", "wait:33"] * 5)
            await d.pilot.pause(0.2)
            assert len(d.app.screen_stack) == 1
            assert d.app.check_action("restart", ()) is None  # greyed out while in flight
            release.touch()
            await d.wait(lambda: d.pid("slow") not in (None, pid))
            await d.shows("slow", "running")
            await d.idle("slow")
            await d.pilot.pause(0.3)
            assert len(d.resumes("slow")) == 2  # the first run and exactly one restart
            assert d.app.check_action("restart", ()) is True
        finally:
            release.touch()  # whatever happened: let it stop


@pytest.mark.parametrize(("mode", "size"), [("run", BIG), ("attach", SMALL)])
async def test_stop_start_resume_and_greyed_out_actions(
    tmp_path: Path, mode: str, size: tuple[int, int]
) -> None:
    config = worker_config(tmp_path, ["alpha"])
    async with dashboard(config, mode, size, running=("alpha",)) as d:
        app = d.app
        await d.idle("alpha")
        # running: start and resume are greyed out, and their keys do nothing
        await d.wait(lambda: app.check_action("stop", ()) is True)
        assert app.check_action("start", ()) is None
        assert app.check_action("resume", ()) is None
        assert app.check_action("restart", ()) is True
        pid = d.pid("alpha")
        await d.press("t", "u")
        await d.pilot.pause(0.3)
        assert d.pid("alpha") == pid and d.resumes("alpha") == [None]

        # s asks; n keeps it running
        await d.press("s")
        await d.on(ConfirmScreen)
        await d.sees("Stop alpha?")
        await d.press("n")
        await d.pilot.pause(0.2)
        assert d.pid("alpha") == pid

        # s, y: stopped, its job paused (with its checkpoint)
        await d.ask("s", "y")
        await d.shows("alpha", "stopped")
        await d.wait(lambda: d.job("alpha").status == "paused")
        assert d.job("alpha").has_checkpoint
        await d.idle("alpha")
        await d.wait(lambda: app.check_action("resume", ()) is True)
        # stopped: stop is greyed out and s asks nothing
        assert app.check_action("stop", ()) is None
        assert app.check_action("start", ()) is True
        await d.press("s")
        await d.pilot.pause(0.2)
        assert len(app.screen_stack) == 1

        # t starts it again, from its checkpoint
        await d.press("t")
        await d.shows("alpha", "running")
        assert d.pid("alpha") != pid
        await d.wait(lambda: len(d.resumes("alpha")) == 2)
        assert d.resumes("alpha")[1]["i"] > 0

        # stopped again, u resumes its job from the checkpoint
        await d.idle("alpha")
        await d.ask("s", "y")
        await d.shows("alpha", "stopped")
        await d.idle("alpha")
        await d.wait(lambda: app.check_action("resume", ()) is True)
        await d.press("u")
        await d.shows("alpha", "running")
        await d.wait(lambda: len(d.resumes("alpha")) == 3)
        assert d.resumes("alpha")[2]["i"] > d.resumes("alpha")[1]["i"]
        assert d.job("alpha").status == "running"


def resume_cell(jobs: JobList, job_id: str) -> Offset:
    """Where, within the jobs panel, a job's Resume cell is (border, header, scroll)."""
    columns = jobs.ordered_columns[:RESUME_COLUMN]
    x = 1 + sum(c.get_render_width(jobs) for c in columns) + 2 - int(jobs.scroll_x)
    y = 1 + jobs.header_height + jobs.get_row_index(job_id) - int(jobs.scroll_y)
    return Offset(x, y)


@pytest.mark.parametrize(("mode", "size"), [("run", SMALL), ("attach", BIG)])
async def test_the_resume_button_resumes_a_job_with_its_checkpoint(
    tmp_path: Path, mode: str, size: tuple[int, int]
) -> None:
    config = worker_config(tmp_path, ["alpha"])
    async with dashboard(config, mode, size, running=("alpha",)) as d:
        jobs = d.app.query_one(JobList)

        def resumable() -> bool:
            return "green" in str(jobs.get_cell("strategy_alpha", "resume").style)

        def note() -> str:
            return jobs.get_cell("strategy_alpha", "note").plain

        # running: the button is disabled and says why; clicking it does nothing
        await d.wait(lambda: "strategy_alpha" in jobs.shown and not resumable())
        assert "cannot resume: it is running" in note()
        assert await d.pilot.click(JobList, offset=resume_cell(jobs, "strategy_alpha"))
        await d.pilot.pause(0.2)
        assert len(d.resumes("alpha")) == 1

        await d.wait(lambda: d.job("alpha").has_checkpoint)
        await d.ask("s", "y")
        await d.shows("alpha", "stopped")
        await d.wait(resumable)
        assert "cannot resume" not in note()
        await d.idle("alpha")
        assert await d.pilot.click(JobList, offset=resume_cell(jobs, "strategy_alpha"))
        await d.shows("alpha", "running")
        await d.wait(lambda: len(d.resumes("alpha")) == 2)
        assert d.resumes("alpha")[1]["i"] > 0  # it ran again with its checkpoint
        await d.wait(lambda: not resumable())


@pytest.mark.parametrize("mode", MODES)
async def test_the_jobs_panel_resumes_from_the_keyboard(tmp_path: Path, mode: str) -> None:
    """tab to the jobs panel, enter on a job: resumed; on one that cannot be: nothing, and the
    footer's "resume job" is greyed out."""
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, mode, running=("alpha", "beta")) as d:
        app, jobs = d.app, d.app.query_one(JobList)
        await d.wait(lambda: d.job("alpha").has_checkpoint)
        await d.ask("s", "y")  # the table's cursor is on alpha
        await d.shows("alpha", "stopped")
        jobs.focus()
        await d.wait(lambda: jobs.jobs.get("strategy_alpha", {}).get("resumable"))
        jobs.move_cursor(row=jobs.get_row_index("strategy_beta"))
        await d.pilot.pause(0.05)
        assert jobs.check_action("resume_job", ()) is None  # beta is running
        await d.press("enter", "u")
        await d.pilot.pause(0.2)
        assert len(d.resumes("beta")) == 1 and len(d.resumes("alpha")) == 1
        assert len(app.screen_stack) == 1  # nor did the keys fall through to the detail screen
        jobs.move_cursor(row=jobs.get_row_index("strategy_alpha"))
        await d.wait(lambda: jobs.check_action("resume_job", ()) is True)
        await d.idle("alpha")
        await d.press("enter")
        await d.shows("alpha", "running")
        await d.wait(lambda: len(d.resumes("alpha")) == 2)
        assert len(app.screen_stack) == 1  # enter on a job resumes it; it opens no detail


# ---- the detail screen ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_detail_screen(tmp_path: Path, mode: str) -> None:
    failer = script(tmp_path, "failer", FAILER)
    config = worker_config(tmp_path, ["alpha"], broken={"command": failer, "max_restarts": 1})
    async with dashboard(config, mode, running=("alpha",)) as d:
        await d.wait(lambda: d.job("alpha").has_checkpoint)
        await d.ask("r", "y")  # a restart, with its reason, for the history
        await d.wait(lambda: len(d.resumes("alpha")) == 2)
        await d.shows("alpha", "running")
        await d.idle("alpha")

        screen = await d.detail("alpha")
        tail = screen.query_one(LogTail)
        await d.wait(lambda: any("working on" in line for line in tail.lines))
        await d.wait(lambda: '"i"' in rendered(screen, "#checkpoint-text"))
        await d.wait(lambda: "restart" in rendered(screen, "#history-text"))
        summary = rendered(screen, "#summary")
        assert "alpha" in summary and "running" in summary and "last message: tick" in summary
        assert "job strategy_alpha: running, 2 runs" in summary
        history = rendered(screen, "#history-text")
        assert "runs (newest last)" in history and "events (newest last)" in history
        assert all(" alpha " in f" {line} " or "supervisor" in line for line in tail.lines)
        await d.sees("restarts and events")
        await d.press("escape")
        await d.on(None)
        assert d.app.selected == "alpha"

        # a fatal strategy: its last error, its runs, its stderr; no checkpoint
        await d.shows("broken", "fatal")
        screen = await d.detail("broken")
        await d.wait(lambda: "last error" in rendered(screen, "#summary"))
        await d.wait(lambda: "exit 3" in rendered(screen, "#history-text"))
        tail = screen.query_one(LogTail)
        await d.wait(lambda: any("cannot connect" in line for line in tail.lines))
        assert "no checkpoint" in rendered(screen, "#checkpoint-text")
        await d.press("escape")
        await d.on(None)


async def test_detail_screen_lists_events_oldest_first(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha"])
    async with dashboard(config, "run", running=("alpha",)) as d:
        screen = await d.detail("alpha")
        await d.wait(lambda: "starting -> running" in rendered(screen, "#history-text"))
        text = rendered(screen, "#history-text")
        assert text.index("stopped -> starting") < text.index("starting -> running")


# ---- the log tail: filter, follow, all, level, type -----------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_log_keys(tmp_path: Path, mode: str) -> None:
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, mode, running=("alpha", "beta")) as d:
        log, app = d.log, d.app
        title = lambda: str(log.border_title)  # noqa: E731
        await d.select("alpha")
        await d.wait(lambda: any("working on" in line for line in log.lines))
        assert log.following == "alpha" and "log: alpha" in title()
        assert not any(" beta " in line for line in log.lines)

        # / filter: type, enter applies; only matching lines remain
        field = app.query_one("#filter", Input)
        await d.press("slash")
        await d.wait(lambda: field.has_focus and field.has_class("visible"))
        await d.press(*"careful")
        await d.wait(lambda: field.value == "careful")  # letters typed, not keys acted on
        await d.press("enter")
        await d.wait(lambda: log.text_filter == "careful" and not field.has_class("visible"))
        await d.wait(lambda: isinstance(app.focused, StrategyTable))
        await d.wait(lambda: log.lines)
        await d.pilot.pause(0.3)
        assert all("careful at" in line for line in log.lines)
        assert "text 'careful'" in title()
        # / then escape: closed, the filter unchanged
        await d.press("slash")
        await d.wait(lambda: field.has_focus)
        await d.press("x", "y", "z", "escape")
        await d.wait(lambda: not field.has_class("visible"))
        await d.wait(lambda: isinstance(app.focused, StrategyTable))
        assert log.text_filter == "careful"
        # "q" typed into the filter is a letter, not quit
        await d.press("slash")
        await d.wait(lambda: field.has_focus)
        await d.press("q")
        await d.wait(lambda: field.value == "q")
        assert app.is_running and len(app.screen_stack) == 1
        await d.press("enter")
        await d.wait(lambda: log.text_filter == "q")
        await d.press("slash")
        await d.wait(lambda: field.has_focus)
        await d.press("backspace", "enter")
        await d.wait(lambda: log.text_filter == "")

        # f pauses: nothing new is shown; f again follows and shows what came meanwhile
        await d.press("f")
        await d.wait(lambda: log.paused and "PAUSED" in title())
        count = len(log.lines)
        await d.pilot.pause(0.4)
        assert len(log.lines) == count
        await d.press("f")
        await d.wait(lambda: not log.paused and "following" in title())
        await d.wait(lambda: len(log.lines) > count)

        # a: every strategy's lines, then the selected one's again
        await d.press("a")
        await d.wait(lambda: log.following is None and "log: all strategies" in title())
        await d.wait(lambda: any(" beta " in line for line in log.lines))
        await d.press("a")
        await d.wait(lambda: log.following == "alpha")

        # l: minimum level DEBUG -> INFO -> WARNING: only warnings (and worse) stay
        await d.press("l", "l")
        await d.wait(lambda: log.min_level == "WARNING" and "level ≥ WARNING" in title())
        await d.wait(lambda: log.lines)
        assert all("│ WARNING " in line or "│ ERROR " in line for line in log.lines)
        await d.press("l", "l", "l")
        await d.wait(lambda: log.min_level == "DEBUG")

        # y: type all -> system -> strategy -> order -> all
        for kind in ("system", "strategy", "order"):
            await d.press("y")
            await d.wait(lambda k=kind: log.type_filter == k and f"type {k}" in title())
        await d.wait(lambda: log.lines)
        assert all(" order " in line for line in log.lines)
        await d.press("y")
        await d.wait(lambda: log.type_filter is None)


# ---- panels: sort, click a header, tab, zoom, health, help ----------------------------------


def header_offset(table: StrategyTable, column: str) -> tuple[int, int]:
    """Where to click on a column's header, relative to the table."""
    x = 0
    for key, col in table.columns.items():
        width = col.get_render_width(table)
        if key.value == column:
            return (x + width // 2, 0)
        x += width
    raise KeyError(column)


async def test_panel_keys(tmp_path: Path) -> None:
    """In run mode only: these keys act on the screen alone, the same in both modes."""
    failer = script(tmp_path, "failer", FAILER)
    config = worker_config(
        tmp_path, ["alpha", "beta"], broken={"command": failer, "max_restarts": 1}
    )
    async with dashboard(config, "run", running=("alpha", "beta")) as d:
        app, table = d.app, d.table
        await d.shows("broken", "fatal")
        assert d.order() == ["alpha", "beta", "broken"]

        # o cycles the sort column: name -> state (fatal first) -> uptime ...
        await d.press("o")
        await d.wait(lambda: table.sort_column == "state" and d.order()[0] == "broken")
        await d.press("o")
        await d.wait(lambda: table.sort_column == "uptime")
        # clicking a column header sorts by it; clicking it again reverses
        await d.pilot.click(StrategyTable, offset=header_offset(table, "name"))
        await d.wait(lambda: table.sort_column == "name" and not table.sort_reverse)
        assert d.order() == ["alpha", "beta", "broken"]
        await d.pilot.click(StrategyTable, offset=header_offset(table, "name"))
        await d.wait(lambda: table.sort_reverse)
        assert d.order() == ["broken", "beta", "alpha"]
        await d.pilot.click(StrategyTable, offset=header_offset(table, "restarts"))
        await d.wait(lambda: table.sort_column == "restarts")
        assert d.order()[0] == "broken"

        # tab moves the focus from panel to panel; shift+tab back
        assert isinstance(app.focused, StrategyTable)
        await d.press("tab")
        await d.wait(lambda: isinstance(app.focused, LogTail))
        await d.press("tab")
        await d.wait(lambda: not isinstance(app.focused, StrategyTable | LogTail))
        assert app.focused is not None
        await d.press("shift+tab")
        await d.wait(lambda: isinstance(app.focused, LogTail))

        # z zooms the focused panel (the log), z again restores
        await d.press("z")
        await d.wait(lambda: app.screen.maximized is d.log)
        await d.press("z")
        await d.wait(lambda: app.screen.maximized is None)
        await d.press("shift+tab")
        await d.wait(lambda: isinstance(app.focused, StrategyTable))

        # h: the health badge's reasons (broken is fatal)
        await d.wait(lambda: (app.health_report or {}).get("status") == "unhealthy")
        await d.sees("UNHEALTHY")
        await d.sees("press h")
        await d.press("h")
        await d.on(InfoScreen)
        await d.sees("fatal: broken is fatal")
        await d.press("escape")
        await d.on(None)

        # ?: the keys
        await d.press("question_mark")
        await d.on(InfoScreen)
        await d.sees("restart the selected strategy")
        await d.press("escape")
        await d.on(None)
        assert app.is_running


async def test_the_cursor_stays_on_its_strategy_across_refreshes(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha", "beta", "gamma"])
    async with dashboard(config, "attach", running=("alpha", "beta", "gamma")) as d:
        await d.select("beta")
        for _ in range(5):  # heartbeat messages and ages change on every snapshot
            message = d.row("beta", "message")
            await d.wait(lambda m=message: d.row("beta", "message") != m)
            assert d.app.selected == "beta" and d.table.cursor_row == 1
        assert d.table.row_count == 3
        # a restart (pid, uptime, restarts change) keeps the row and the cursor where they are
        pid = d.pid("beta")
        await d.ask("r", "y")
        await d.wait(lambda: d.pid("beta") not in (None, pid))
        await d.shows("beta", "running")
        assert d.app.selected == "beta" and d.log.following == "beta"
        assert d.order() == ["alpha", "beta", "gamma"]


# ---- hostile text -----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "size"), [("run", BIG), ("attach", SMALL)])
async def test_hostile_text_is_shown_literally_everywhere(
    tmp_path: Path, mode: str, size: tuple[int, int]
) -> None:
    cmd = script(tmp_path, "hostile", HOSTILE)
    config = load_config(
        write_config(
            tmp_path,
            {"hostile": {**FAST, "command": cmd, "heartbeat_timeout": 5}},
            {"metrics_interval": 0.2},
        )
    )
    async with dashboard(config, mode, size, running=("hostile",)) as d:
        app, log = d.app, d.log
        await d.wait(lambda: any("hostile done" in line for line in log.lines), timeout=30)
        await d.wait(lambda: "[@click=app.quit]" in d.row("hostile", "message"))
        assert app.is_running and app.return_code is None

        # the table: markup as text, ESC as a visible ␛
        assert "[bold]x[/] [/] [@click=app.quit]q ␛[31mred" in d.row("hostile", "message")
        # the log: every line literal, no ESC, invalid UTF-8 replaced, the 10 MB line cut
        lines = list(log.lines)
        assert any("[bold]x[/] [/] [@click=app.quit]q ␛[31mred" in line for line in lines)
        assert sum("[@click=app.quit]" in line for line in lines) >= 2  # stdout and stderr
        assert any(line.endswith("│ INFO     strategy [/]") for line in lines)
        assert not any("\x1b" in line for line in lines)
        assert any("bad bytes \ufffd\ufffd\ufffd( end" in line for line in lines)
        long = [line for line in lines if "LLLLLLLLLL" in line]
        assert long and all(len(line) < 1000 for line in long)
        # what the terminal shows (at 80x24 the message column and the line may be out of view)
        if size == BIG:
            screen = await d.sees("[@click=app.quit]")
            assert "\x1b" not in screen
        assert await click_the_links(app, d.pilot) >= 1
        assert app.is_running and app.return_code is None

        # the detail screen: summary, checkpoint, log
        detail = await d.detail("hostile")
        await d.wait(lambda: "[@click=app.quit]" in rendered(detail, "#checkpoint-text"))
        summary = rendered(detail, "#summary")
        assert "last message: [bold]x[/] [/] [@click=app.quit]q ␛[31mred" in summary
        checkpoint = rendered(detail, "#checkpoint-text")
        assert "\x1b" not in checkpoint
        assert "\\u001b[31mred" in checkpoint  # JSON's own escape, shown as text
        tail = detail.query_one(LogTail)
        await d.wait(lambda: any("hostile done" in line for line in tail.lines))
        assert any("[@click=app.quit]q ␛[31mred" in line for line in tail.lines)
        assert not any("\x1b" in line for line in tail.lines)
        screen = await d.sees("[@click=app.quit]")
        assert "\x1b" not in screen
        await d.press("escape")
        # the keys still work
        await d.press("question_mark")
        await d.on(InfoScreen)
        await d.press("escape")
        assert app.is_running and app.return_code is None


class HostileView(FakeView):
    """The fixed data, with hostile text in every string a supervisor can hand the screen:
    host name, heartbeat message, state reason, errors, the reason a job cannot resume, health
    reasons, log lines, events, runs and the checkpoint."""

    async def snapshot(self) -> dict[str, Any]:
        snap = await super().snapshot()
        for s in snap["strategies"]:
            s["heartbeat_message"] = HOSTILE_TEXT
            s["state_reason"] = s["last_error"] = HOSTILE_TEXT
        for j in snap["jobs"]:
            j["last_error"] = HOSTILE_TEXT
            if not j["resumable"]:
                j["not_resumable_because"] = HOSTILE_TEXT
        return snap

    async def health(self, detailed: bool = False) -> dict[str, Any]:
        report = await super().health(detailed)
        for reason in report["reasons"]:
            reason["message"] = HOSTILE_TEXT
        if detailed:
            report["metrics"]["info"]["hostname"] = HOSTILE_TEXT
            report["metrics"]["system"]["disks"][0]["path"] = "/srv/" + HOSTILE_TEXT
        return report

    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[Any]:
        lines = await super().log_lines(name, after, limit)
        for line in lines:
            line["text"] = HOSTILE_TEXT + " " + "\ufffd" + "W" * 50_000
        return lines

    async def job(self, job_id: str) -> dict[str, Any]:
        record = await super().job(job_id)
        record["checkpoint"] = {HOSTILE_TEXT: [HOSTILE_TEXT, {"[/]": "[@click=app.quit]"}]}
        return record

    async def runs(self, name: str | None = None, limit: int = 50) -> list[Any]:
        return [{**r, "reason": HOSTILE_TEXT} for r in await super().runs(name, limit)]

    async def recent_events(self, name: str | None = None, limit: int = 100) -> list[Any]:
        return [{**e, "text": HOSTILE_TEXT} for e in await super().recent_events(name, limit)]


@pytest.mark.parametrize("size", [BIG, SMALL])
async def test_hostile_text_in_every_field_of_every_panel(size: tuple[int, int]) -> None:
    literal = "[bold]x[/] [/] [@click=app.quit]q ␛[31mred"
    async with fake_dashboard(size, view=HostileView()) as (app, pilot):
        await select(app, "btc_arbitrage")
        tail = app.query_one("#log", LogTail)
        await until(lambda: len(tail.lines) == 6)
        text = await until(lambda: literal in (t := screen_text(app)) and t)
        assert "\x1b" not in text
        if size == BIG:  # the header, the message column, the log and the jobs' errors
            assert text.count("[@click=app.quit]") >= 5
        assert all(literal in line and len(line) < 1000 for line in tail.lines)
        assert await click_the_links(app, pilot) >= (8 if size == BIG else 4)
        assert app.is_running and app.return_code is None
        await on(app, None)
        # the health reasons
        await press(pilot, "h")
        await on(app, InfoScreen)
        await until(lambda: literal in screen_text(app))
        await press(pilot, "escape")
        await on(app, None)
        # the detail screen: summary, runs, events, checkpoint, log
        await select(app, "btc_arbitrage")
        app.action_detail()
        screen = await until(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await until(lambda: "[@click=app.quit]" in rendered(screen, "#checkpoint-text"))
        await until(lambda: len(screen.query_one(LogTail).lines) == 6)
        for part in ("#summary", "#history-text"):
            assert literal in rendered(screen, part)
        assert "\\u001b[31mred" in rendered(screen, "#checkpoint-text")
        # Under load the screen may not be composited yet when its widgets have rendered.
        text = await until(lambda: "[@click=app.quit]" in (t := screen_text(app)) and t)
        assert "\x1b" not in text
        await press(pilot, "escape")
        await on(app, None)
        assert app.is_running and app.return_code is None


# ---- quitting -------------------------------------------------------------------------------


async def test_q_in_attach_mode_exits_and_stops_nothing(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha"])
    async with dashboard(config, "attach", running=("alpha",)) as d:
        pid = d.pid("alpha")
        await d.pilot.press("q")
        await d.wait(lambda: not d.app.is_running)
        assert d.app.return_code == 0
        await asyncio.sleep(0.3)
        assert d.pid("alpha") == pid and alive(pid) and d.state("alpha") == "running"
        assert d.job("alpha").status == "running"


async def test_q_in_run_mode_asks_and_stops_everything(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, "run", SMALL, running=("alpha", "beta")) as d:
        pids = {name: d.pid(name) for name in ("alpha", "beta")}
        await d.press("q")
        await d.on(ConfirmScreen)
        await d.sees("Quit and stop all 2 strategies?")
        await d.press("n")  # keep running
        await d.on(None)
        await d.press("q")
        await d.on(ConfirmScreen)
        await d.press("escape")
        await d.on(None)
        await d.press("q")
        await d.on(ConfirmScreen)
        await d.press("enter")  # enter answers the focused default button: Cancel
        await d.on(None)
        assert d.app.is_running
        await d.pilot.pause(0.2)
        assert {name: d.pid(name) for name in pids} == pids

        await d.press("q")
        await d.on(ConfirmScreen)
        await d.press("y")
        await d.wait(lambda: not d.app.is_running)
        assert d.app.return_code == 0
        assert not any(alive(pid) for pid in pids.values())
        assert {j.job_id: j.status for j in d.engine.snapshot().jobs} == {
            "strategy_alpha": "interrupted",
            "strategy_beta": "interrupted",
        }


# ---- bugs of the screen, shown over the fixed data of FakeView ----------------------------


async def test_enter_opens_the_detail_screen() -> None:
    async with fake_dashboard() as (app, pilot):
        await press(pilot, "down")
        await press(pilot, "enter")
        await until(lambda: isinstance(app.screen, DetailScreen), timeout=2)


async def test_detail_screen_over_fixed_data() -> None:
    async with fake_dashboard() as (app, pilot):
        await select(app, "btc_arbitrage")
        app.action_detail()
        screen = await until(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await until(lambda: "btc_arbitrage" in rendered(screen, "#summary"))
        await until(lambda: "KeyError" in rendered(screen, "#history-text"))
        assert '"orders_today": 418' in rendered(screen, "#checkpoint-text")
        await until(lambda: len(screen.query_one(LogTail).lines) == 6)
        # escape (and only escape) goes back; the cursor is where it was
        await press(pilot, "escape")
        await on(app, None)
        assert app.selected == "btc_arbitrage"


async def test_detail_screen_shows_the_checkpoint_json_on_lines() -> None:
    async with fake_dashboard() as (app, _pilot):
        await select(app, "btc_arbitrage")
        app.action_detail()
        screen = await until(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await until(lambda: "orders_today" in rendered(screen, "#checkpoint-text"))
        assert "␊" not in rendered(screen, "#checkpoint-text")
        assert '{\n  "position": {\n' in rendered(screen, "#checkpoint-text")


async def test_detail_log_is_titled_with_the_strategy() -> None:
    async with fake_dashboard() as (app, _pilot):
        await select(app, "btc_arbitrage")
        app.action_detail()
        screen = await until(lambda: isinstance(app.screen, DetailScreen) and app.screen)
        await until(lambda: "btc_arbitrage" in rendered(screen, "#summary"))
        assert "log: btc_arbitrage" in str(screen.query_one(LogTail).border_title)


@pytest.mark.parametrize("screen", ["detail", "help"])
async def test_q_on_a_screen_goes_back_to_the_main_screen(screen: str) -> None:
    async with fake_dashboard() as (app, pilot):
        if screen == "detail":
            app.action_detail()
        else:
            await press(pilot, "question_mark")
        await until(lambda: len(app.screen_stack) == 2)
        await press(pilot, "q")
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        assert len(app.screen_stack) == 1


async def test_the_main_screen_keys_do_not_act_on_the_detail_screen() -> None:
    async with fake_dashboard() as (app, pilot):
        app.action_detail()
        await until(lambda: isinstance(app.screen, DetailScreen))
        await press(pilot, "enter", "enter", "slash", "o", "a")
        await pilot.pause(0.2)
        assert len(app.screen_stack) == 2
        assert not app.query_one("#filter", Input).has_class("visible")
        table = app.query_one(StrategyTable)
        assert table.sort_column == "name" and app.query_one("#log", LogTail).following
        # the strategy's own keys still act, on the strategy shown
        await press(pilot, "t")
        await until(lambda: ("start", app.screen.strategy) in app.view.calls)


async def test_z_zooms_the_panel_of_the_focused_widget() -> None:
    async with fake_dashboard() as (app, pilot):
        assert isinstance(app.focused, StrategyTable)
        await press(pilot, "z")
        await until(lambda: app.screen.maximized is app.query_one("#strategies-box"))
        await press(pilot, "z")
        await until(lambda: app.screen.maximized is None)
        # the jobs panel
        app.query_one(JobList).focus()
        await press(pilot, "z")
        await until(lambda: app.screen.maximized is app.query_one(JobList))


async def test_the_cursor_stays_on_its_strategy_across_sorting() -> None:
    async with fake_dashboard() as (app, pilot):
        await select(app, "btc_arbitrage")
        await press(pilot, "o")  # by state: fatal first
        await until(lambda: app.query_one(StrategyTable).sort_column == "state")
        await pilot.pause(0.2)
        assert app.selected == "btc_arbitrage"


async def test_cpu_and_memory_show_as_soon_as_the_metrics_arrive() -> None:
    slow = FeedSettings(snapshot_every=3600, health_every=3600, logs_every=0.02)
    async with fake_dashboard(feed=slow) as (app, pilot):
        await pilot.pause()
        table = app.query_one(StrategyTable)
        assert table.get_cell("btc_arbitrage", "cpu").plain == "12.5"


class ManyView(FakeView):
    """200 strategies whose uptimes move a minute on every snapshot (one stays wider)."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0

    async def snapshot(self) -> dict[str, Any]:
        self.snapshots += 1
        snap = await super().snapshot()
        snap["strategies"] = [
            fakeview._strategy(
                f"s{i:03d}",
                "running",
                pid=1000 + i,
                uptime=86_000.0 if i == 0 else 3600.0 + 60 * self.snapshots,
                heartbeat_timeout=0.0,
            )
            for i in range(200)
        ]
        snap["jobs"] = []
        return snap


async def test_200_rows_are_updated_without_measuring_every_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = ManyView()
    slow = FeedSettings(snapshot_every=3600, health_every=3600, logs_every=3600)
    async with fake_dashboard(view=view, feed=slow, rows=200) as (app, pilot):
        table = app.query_one(StrategyTable)
        await pilot.pause()
        measured = 0
        measure = data_table.measure

        def counting(*args: Any, **kwargs: Any) -> int:
            nonlocal measured
            measured += 1
            return measure(*args, **kwargs)

        monkeypatch.setattr(data_table, "measure", counting)
        shown = table.get_cell("s001", "uptime").plain
        app.feed.refresh_soon()  # one more snapshot: 199 uptimes a minute on
        await until(lambda: table.get_cell("s001", "uptime").plain != shown)
        await pilot.pause()  # the table re-measures on idle
        await pilot.pause()
        assert measured < 1000  # it is ~40,000


async def test_the_footer_is_not_rebuilt_when_nothing_changed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rebuilt = 0
    recompose = Footer.recompose

    async def counting(self: Footer) -> None:
        nonlocal rebuilt
        rebuilt += 1
        await recompose(self)

    monkeypatch.setattr(Footer, "recompose", counting)
    snapshots = 0

    def hook(message: Any) -> None:
        nonlocal snapshots
        if isinstance(message, SnapshotArrived | HealthArrived):
            snapshots += 1

    fast = FeedSettings(snapshot_every=0.05, health_every=0.05, logs_every=0.05)
    async with fake_dashboard(feed=fast, message_hook=hook) as (_app, pilot):
        await until(lambda: snapshots >= 6)  # settled: the first data is in, the footer built
        await pilot.pause(0.2)
        before, seen = rebuilt, snapshots
        await until(lambda: snapshots >= seen + 10)  # the same data, ten times over
        await pilot.pause()
        assert rebuilt == before


# ---- the command line does not import Textual ---------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["status", "--help"]])
def test_the_command_line_does_not_import_textual(argv: list[str]) -> None:
    entry = Path(sys.executable).parent / "tui-monitor"
    command = [str(entry), *argv] if entry.exists() else [PYTHON, "-m", "tui_monitor.cli", *argv]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},  # = python -X importtime
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "tui_monitor.cli" in imported  # the profile is really there
    assert not [m for m in imported if m.split(".")[0] in ("textual", "rich")]
