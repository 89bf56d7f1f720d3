"""Controlling the dashboard itself: every way of quitting (q, ctrl+q, ctrl+c, the command
palette's Quit, the mouse on the question's buttons), the dashboard's actions in the command
palette, keys remapped by `[dashboard] keys`, and the real `tui-monitor run` under a
pseudo-terminal receiving SIGTERM, SIGINT and SIGHUP (or losing its terminal), or finding a
supervisor already running.

Pilot tests drive the real app over real strategies (see tests/test_dashboard.py, whose harness
they share); the command-line tests run the real command and find every process it caused by the
marker in its environment (see tests/test_headless_cli.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import termios
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from tests.conftest import PYTHON, alive, wait_for_sync, write_config
from tests.test_dashboard import (
    FEED,
    Dash,
    _no_idle_waits,  # noqa: F401 - the pilot's harness (an autouse fixture)
    dashboard,
    quiet,
    until,
    worker_config,
)
from tests.test_headless_cli import (
    EXIT_TIMEOUT,
    MODULE,
    START_TIMEOUT,
    base_env,
    kill_marked,
    marked,
    run_cli,
    started,
    strategy_keys,
    supervisor,
)
from tui_monitor.config import DASHBOARD_KEYS, Config, load_config
from tui_monitor.dashboard import hosting_app
from tui_monitor.errors import ConfigError
from tui_monitor.tui.app import MonitorApp
from tui_monitor.tui.screens.confirm import ConfirmScreen
from tui_monitor.tui.screens.detail import DetailScreen
from tui_monitor.tui.screens.info import InfoScreen
from tui_monitor.tui.widgets.jobs import JobList

pytestmark = pytest.mark.timeout(120)


# ---- helpers ----------------------------------------------------------------------------------


def commands(app: MonitorApp) -> list[str]:
    """The titles the command palette offers on the screen on top."""
    return [command.title for command in app.get_system_commands(app.screen)]


async def palette(app: MonitorApp, pilot: Pilot, query: str, pick: str) -> None:
    """ctrl+p, type `query`, pick the command titled `pick` from the list with the keyboard."""
    await pilot.press("ctrl+p")
    screen = await until(lambda: isinstance(app.screen, CommandPalette) and app.screen)
    await pilot.press(*query)
    hits = screen.query_one(CommandList)

    def position() -> int | None:
        """Where `pick` is, once the palette has searched for the whole query."""
        searching = [w for w in app.workers if w.group == CommandPalette._GATHER_COMMANDS_GROUP]
        if screen.query_one(Input).value != query or not all(w.is_finished for w in searching):
            return None
        titles = [
            str(hits.get_option_at_index(i).prompt).split("\n")[0] for i in range(hits.option_count)
        ]
        return titles.index(pick) if pick in titles else None

    target = await until(lambda: (i := position()) is not None and i + 1) - 1
    for _ in range(hits.option_count + 1):  # down to it (the list may start unhighlighted)
        if hits.highlighted == target:
            break
        await pilot.press("down" if hits.highlighted is None or hits.highlighted < target else "up")
    assert hits.highlighted == target
    await pilot.press("enter")
    await until(lambda: not isinstance(app.screen, CommandPalette))


def interrupted(d: Dash, *names: str) -> bool:
    statuses = {j.job_id: j.status for j in d.engine.snapshot().jobs}
    return all(statuses.get(f"strategy_{name}") == "interrupted" for name in names)


@contextlib.asynccontextmanager
async def hosted(config: Config) -> AsyncIterator[Dash]:
    """The run-mode dashboard exactly as `tui-monitor run` builds it (`hosting_app`: keys
    remapped from the configuration), waited until every strategy runs; nothing left behind."""
    app = hosting_app(config, subreaper=False, feed_settings=FEED)
    assert app.host is not None
    host = app.host
    pids: set[int] = set()

    def record(event: Any) -> None:
        if pid := getattr(event, "pid", None):
            pids.add(pid)

    host.engine.bus.add_listener(record)
    app.animation_level = "none"
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            d = Dash(app, pilot, host.engine, config.path.parent)
            try:
                for name in config.strategies:
                    await d.shows(name, "running")
                yield d
            finally:
                await quiet(app, pilot)
    finally:
        await host.stop("test over")
        await until(lambda: not any(alive(p) for p in pids), timeout=10)


# ---- 1. quitting ------------------------------------------------------------------------------


async def test_every_way_of_quitting_in_run_mode_asks_first(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, "run", running=("alpha", "beta")) as d:
        app, pilot = d.app, d.pilot
        pids = {name: d.pid(name) for name in ("alpha", "beta")}

        # ctrl+q (Textual's own priority binding) asks; a mouse click on Cancel keeps everything
        await d.press("ctrl+q")
        await d.on(ConfirmScreen)
        await d.sees("stop all 2 strategies")
        await pilot.click("#no")
        await d.on(None)
        # ctrl+c (Textual's "press ctrl+q to quit" hint) asks the same; escape cancels
        await d.press("ctrl+c")
        await d.on(ConfirmScreen)
        await d.press("escape")
        await d.on(None)
        # the palette's Quit asks too (Textual's would quit at once)
        assert commands(app).count("Quit") == 1
        await palette(app, pilot, "quit", "Quit")
        await d.on(ConfirmScreen)
        await d.press("n")
        await d.on(None)

        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        assert {name: d.pid(name) for name in pids} == pids
        assert all(alive(pid) for pid in pids.values())
        assert {j.status for j in d.engine.snapshot().jobs} == {"running"}

        # ctrl+q, then a click on "Stop all & quit": stopped, saved, the app ends with 0
        await d.press("ctrl+q")
        await d.on(ConfirmScreen)
        await pilot.click("#yes")
        await d.wait(lambda: not app.is_running)
        assert app.return_code == 0
        assert not any(alive(pid) for pid in pids.values())
        assert interrupted(d, "alpha", "beta")  # what q then y does (test_dashboard.py)


@pytest.mark.parametrize("how", ["ctrl+q", "ctrl+c", "palette"])
async def test_quitting_an_attached_dashboard_stops_nothing(tmp_path: Path, how: str) -> None:
    config = worker_config(tmp_path, ["alpha"])
    async with dashboard(config, "attach", running=("alpha",)) as d:
        pid = d.pid("alpha")
        if how == "palette":
            await palette(d.app, d.pilot, "quit", "Quit")
        else:
            await d.press(how)
        await d.wait(lambda: not d.app.is_running)
        assert d.app.return_code == 0
        assert d.pid("alpha") == pid and alive(pid) and d.state("alpha") == "running"
        assert d.job("alpha").status == "running"
    # the app's signal handlers went with it (they are the loop's, which outlives the app)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL


# ---- 6. the command palette -------------------------------------------------------------------


async def test_the_palette_offers_what_the_keys_can_do_and_asks_like_them(tmp_path: Path) -> None:
    config = worker_config(tmp_path, ["alpha", "beta"])
    async with dashboard(config, "run", running=("alpha", "beta")) as d:
        app = d.app
        await d.select("alpha")
        offered = commands(app)
        for title in ("Restart alpha", "Stop alpha", "Details of alpha", "Filter the log"):
            assert title in offered
        assert "Sort the strategies" in offered and "Health reasons" in offered
        # alpha runs: it cannot be started, its job is not resumable — not offered
        assert "Start alpha" not in offered and "Resume alpha" not in offered

        # "restart" typed in the palette and picked: the same question as r; yes restarts
        pid = d.pid("alpha")
        await palette(app, d.pilot, "restart", "Restart alpha")
        screen = await d.wait(lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        await d.sees("Restart alpha?")
        assert screen.keys == ("y", "n")
        await d.press("y")
        await d.on(None)
        # while the restart is under way the palette does not offer it again (a key would not act)
        await d.wait(lambda: app._busy("alpha"))
        assert "Restart alpha" not in commands(app)
        await d.wait(lambda: d.pid("alpha") not in (None, pid))
        await d.shows("alpha", "running")
        assert d.resumes("alpha")[-1] is not None  # the key's path: from its checkpoint

        # stopped (through the palette, with its question): now Start and Resume are offered
        await d.idle("alpha")
        await palette(app, d.pilot, "stop", "Stop alpha")
        await d.on(ConfirmScreen)
        await d.press("y")
        await d.wait(lambda: d.state("alpha") == "stopped" and d.job("alpha").status == "paused")
        await d.idle("alpha")
        await d.wait(lambda: "Start alpha" in commands(app))
        assert "Resume alpha" in commands(app) and "Stop alpha" not in commands(app)

        # on the detail screen: the strategy's commands, not the main screen's panels
        await d.detail("alpha")
        offered = commands(app)
        assert "Start alpha" in offered and "Quit" in offered
        assert "Filter the log" not in offered and "Sort the strategies" not in offered
        await palette(app, d.pilot, "start", "Start alpha")
        await d.wait(lambda: d.state("alpha") == "running")
        assert isinstance(app.screen, DetailScreen)


# ---- 7. remapped keys -------------------------------------------------------------------------


def remapped_config(folder: Path, keys: str) -> Config:
    config = worker_config(folder, ["alpha"])
    config.path.write_text(config.path.read_text() + f"\n[dashboard.keys]\n{keys}\n")
    return load_config(config.path)


async def test_remapped_keys_act_and_the_old_ones_do_not(tmp_path: Path) -> None:
    keys = 'restart = "R"\nyes = "j"\nhelp = ["f1", "question_mark"]\n'
    keys += 'detail = "d"\nresume = "U"\nback = "b"'
    config = remapped_config(tmp_path, keys)
    assert config.dashboard.keys == {
        **{"restart": "R", "yes": "j", "help": "f1,question_mark"},
        **{"detail": "d", "resume": "U", "back": "b"},
    }
    async with hosted(config) as d:
        app = d.app
        bound = {key: b.binding.action for key, b in app.screen.active_bindings.items()}
        assert bound["R"] == "restart" and "r" not in bound
        # the strategies table's own detail key (it had enter) and the resume key
        assert bound["d"] == "select_cursor" and "enter" not in bound
        assert bound["U"] == "resume" and "u" not in bound
        pid = d.pid("alpha")
        # r does nothing now: had it asked, "?" would have answered the question, not helped
        await d.press("r", "question_mark")
        await d.on(InfoScreen)
        await d.sees("R           restart the selected strategy")
        await d.sees("b           back from the details; close this help")
        await d.press("b")  # the remapped way back closes it, as the help says
        await d.on(None)
        await d.press("f1")  # a second key for help
        await d.on(InfoScreen)
        await d.press("escape")  # and esc always
        await d.on(None)

        # R asks; the question names the remapped answer key, y no longer answers, j does
        await d.press("R")
        await d.on(ConfirmScreen)
        await d.sees("Restart (j)")
        await d.press("y")
        await d.pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        await d.press("j")
        await d.on(None)
        await d.wait(lambda: d.pid("alpha") not in (None, pid))
        await d.shows("alpha", "running")
        assert d.pid("alpha") != pid

        # d opens the detail (enter on the table no longer does); its footer names the way back
        # as remapped, and the detail screen's copy of the restart key is remapped too
        await d.idle("alpha")
        await d.press("enter")
        await d.pilot.pause(0.1)
        assert len(app.screen_stack) == 1
        await d.press("d")
        await d.on(DetailScreen)
        await d.sees("b back")
        assert "esc back" not in d.text()
        await d.press("R")
        await d.on(ConfirmScreen)
        await d.press("escape")
        await d.wait(lambda: isinstance(app.screen, DetailScreen))
        await d.press("b")
        await d.on(None)

        # the jobs panel's keys are the detail and resume keys as remapped: d or U resumes the
        # job under its cursor, enter and u do nothing
        await d.ask("s", "j")
        await d.shows("alpha", "stopped")
        jobs = app.query_one(JobList)
        jobs.focus()
        await d.wait(lambda: app.focused is jobs)
        await d.wait(lambda: jobs.jobs.get("strategy_alpha", {}).get("resumable"))
        bound = {key: b.binding.action for key, b in app.screen.active_bindings.items()}
        assert bound["d"] == bound["U"] == "resume_job"
        assert "enter" not in bound and "u" not in bound
        await d.idle("alpha")
        resumes = len(d.resumes("alpha"))
        await d.press("enter", "u")
        await d.pilot.pause(0.1)
        assert d.state("alpha") == "stopped" and len(app.screen_stack) == 1
        await d.press("U")
        await d.shows("alpha", "running")
        await d.wait(lambda: len(d.resumes("alpha")) == resumes + 1)
        assert d.resumes("alpha")[-1] is not None  # from its checkpoint


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ('restrat = "R"', 'dashboard.keys.restrat: unknown action (did you mean "restart"?)'),
        ("restart = 5", 'dashboard.keys.restart: expected a key such as "R"'),
        ('restart = ""', "dashboard.keys.restart: expected a key"),
        ('restart = "ctlr+r"', 'dashboard.keys.restart: "ctlr+r": unknown modifier "ctlr"'),
        ('restart = "entr"', 'dashboard.keys.restart: "entr": unknown key "entr"'),
        ('restart = "s"', 'dashboard.keys.restart: "s" is already the key of "stop"'),
        ('restart = "tab"', 'dashboard.keys.restart: "tab" is reserved'),
        ('help = "ctrl+q"', 'dashboard.keys.help: "ctrl+q" is reserved'),
    ],
)
def test_bad_keys_are_configuration_errors(tmp_path: Path, keys: str, problem: str) -> None:
    path = write_config(tmp_path, {"alpha": {"command": ["/bin/sleep", "1"]}})
    path.write_text(path.read_text() + f"\n[dashboard.keys]\n{keys}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{path}: {problem}")


def test_a_bad_key_starts_nothing_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha")})
    path.write_text(path.read_text() + '\n[dashboard]\nkeys = { restart = "R", stpo = "S" }\n')
    result = run_cli(["run", "--config", str(path)], tmp_path)
    assert result.returncode == 2
    assert f'{path}: dashboard.keys.stpo: unknown action (did you mean "stop"?)' in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "alpha.pids").exists()  # nothing started
    assert not (tmp_path / "state").exists()


def test_the_bindings_are_the_configuration_keys() -> None:
    """`[dashboard] keys` knows every binding id of the app and its screens, with its key."""
    ids = {
        b.id: b.key
        for cls in (MonitorApp, DetailScreen, ConfirmScreen)
        for b in cls.BINDINGS
        if not isinstance(b, tuple) and b.id
    }
    assert ids == DASHBOARD_KEYS


# ---- 2-4. the real command under a terminal: signals and a lost terminal ----------------------


class Terminal:
    """`tui-monitor ARGS` on a pseudo-terminal of 120x40 (the dashboard, since it has one)."""

    def __init__(self, args: list[str], cwd: Path, mark: str) -> None:
        self.output = bytearray()
        self.pid, self.master = pty.fork()
        if self.pid == 0:  # the child: it must never return into pytest
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
                os.chdir(cwd)
                env = base_env(mark, TERM="xterm-256color")
                env.pop("NO_COLOR", None)
                os.execve(PYTHON, [PYTHON, *MODULE[1:], *args], env)
            finally:
                os._exit(127)
        self.status: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the child and everything on the terminal is gone
                return
            if not data:
                return
            self.output.extend(data)

    def text(self) -> str:
        """What was written, without escape sequences."""
        raw = bytes(self.output).decode("utf-8", "replace")
        return re.sub(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]", "", raw)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def hang_up(self) -> None:
        """Close the terminal, as a dropped SSH connection does: the kernel sends SIGHUP."""
        os.close(self.master)
        self.master = -1

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        def ended() -> bool:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            return self.status is not None

        wait_for_sync(ended, timeout=timeout)
        assert self.status is not None
        return self.status

    def close(self) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, AssertionError):
                self.wait(timeout=5)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        self._reader.join(timeout=5)


@contextlib.contextmanager
def on_a_terminal(args: list[str], cwd: Path) -> Iterator[tuple[Terminal, str]]:
    mark = uuid.uuid4().hex
    term = Terminal(args, cwd, mark)
    try:
        yield term, mark
    finally:
        term.close()
        kill_marked(mark)


def job(folder: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((folder / "state" / f"strategy_{name}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def all_running(folder: Path, names: tuple[str, ...]) -> Callable[[], bool]:
    """The job files say running, with live pids (what `tui-monitor jobs` would say)."""

    def check() -> bool:
        jobs = [job(folder, name) for name in names]
        return all(j.get("status") == "running" and j.get("pid") and alive(j["pid"]) for j in jobs)

    return check


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGHUP", "hang-up"])
def test_the_dashboard_stops_everything_on_a_signal(tmp_path: Path, how: str) -> None:
    """SIGTERM and SIGINT: strategies stopped, jobs saved, a normal exit 0 that restores the
    terminal. SIGHUP (sent, or the terminal closed): the same, then a hard exit 0 (there is no
    terminal left to restore)."""
    names = ("alpha", "beta")
    path = write_config(tmp_path, {name: strategy_keys(tmp_path, name) for name in names})
    with on_a_terminal(["run", "--config", str(path)], tmp_path) as (term, mark):
        wait_for_sync(all_running(tmp_path, names), timeout=START_TIMEOUT)
        pids = started(tmp_path, *names)
        wait_for_sync(lambda: "[run]" in term.text(), timeout=START_TIMEOUT)  # on the screen
        assert "\x1b[?1049h" in term.output.decode("utf-8", "replace")  # the alternate screen
        before = len(term.output)

        if how == "hang-up":
            term.hang_up()
        else:
            os.kill(term.pid, getattr(signal, how))
        assert term.wait() == 0

        # the strategies were stopped before it exited, their jobs saved for the next start
        assert not any(alive(pid) for pid in pids)
        assert {job(tmp_path, name)["status"] for name in names} == {"interrupted"}
        wait_for_sync(lambda: not marked(mark), timeout=5)  # the guardian left too
        app_log = (tmp_path / "logs" / "app.log").read_text()
        signal_name = "SIGHUP" if how == "hang-up" else how
        assert f"supervisor shutting down ({signal_name}" in app_log
        if how in ("SIGTERM", "SIGINT"):  # exited normally: the terminal is given back
            term._reader.join(timeout=5)
            after = term.output[before:].decode("utf-8", "replace")
            assert "\x1b[?1049l" in after and "\x1b[?1000l" in after  # main screen, no mouse


# ---- 5. run finds a supervisor already running; attach finds none -----------------------------


@pytest.mark.parametrize("how", ["q", "SIGTERM"])
def test_run_attaches_to_the_supervisor_already_running(tmp_path: Path, how: str) -> None:
    """`run` (with a terminal) on a state folder a headless supervisor holds: it attaches, says
    so, and leaving it — q, or SIGTERM, which exits normally too — disturbs nothing."""
    path = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha")})
    with supervisor(["run", "--no-ui", "--config", str(path)], tmp_path) as headless:
        headless.wait_running("alpha")
        [pid] = started(tmp_path, "alpha")
        with on_a_terminal(["run", "--config", str(path)], tmp_path) as (term, _mark):
            wait_for_sync(lambda: "[attach]" in term.text(), timeout=START_TIMEOUT)
            wait_for_sync(lambda: "alpha" in term.text(), timeout=START_TIMEOUT)
            before = len(term.output)
            if how == "q":
                term.send(b"q")  # attached: q leaves at once, without a question
            else:
                os.kill(term.pid, signal.SIGTERM)
            assert term.wait() == 0
            term._reader.join(timeout=5)
            assert "\x1b[?1049l" in term.output[before:].decode("utf-8", "replace")
            text = term.text()
        assert "already running" in text and "attached to it instead" in text
        # the supervisor and its strategy were not disturbed
        assert headless.proc.poll() is None and alive(pid)
        assert job(tmp_path, "alpha")["status"] == "running"
        assert headless.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("where", ["--config", "--state"])
def test_attach_without_a_supervisor_exits_3(tmp_path: Path, where: str) -> None:
    path = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha")})
    target = str(path) if where == "--config" else str(tmp_path / "state")
    result = run_cli(["attach", where, target], tmp_path)
    assert result.returncode == 3
    socket = tmp_path / "state" / "control.sock"
    assert result.stderr.startswith("tui-monitor: ") and str(socket) in result.stderr
    assert "\x1b" not in result.stdout + result.stderr  # the screen never switched
    assert not (tmp_path / "alpha.pids").exists()
