"""The dashboard. It talks to one `SupervisorView` only — a `LocalView` of an engine it hosts
itself (`tui-monitor run`, `demo`) or a `SocketView` of one running elsewhere (`attach`)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from rich.theme import Theme
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input

from tui_monitor.errors import TuiMonitorError
from tui_monitor.host import SupervisorHost
from tui_monitor.tui.feed import Feed, FeedSettings
from tui_monitor.tui.messages import (
    ConnectionLost,
    EventArrived,
    HealthArrived,
    LogLinesArrived,
    ResumeRequested,
    SnapshotArrived,
)
from tui_monitor.tui.screens.confirm import ConfirmScreen
from tui_monitor.tui.screens.detail import DetailScreen
from tui_monitor.tui.screens.info import InfoScreen, health_body, help_body
from tui_monitor.tui.widgets.header import HeaderBar
from tui_monitor.tui.widgets.jobs import JobList
from tui_monitor.tui.widgets.logtail import LogTail, event_line
from tui_monitor.tui.widgets.strategies import StrategyTable
from tui_monitor.tui.widgets.system import SystemPanel
from tui_monitor.view import LocalView, SupervisorView

WidgetT = TypeVar("WidgetT", bound=Widget)

ACTIVE = {"starting", "running", "backoff", "stopping", "fatal"}
STARTABLE = {"stopped", "exited", "fatal", "backoff"}
COMMAND_COOLDOWN = 0.5  # seconds after a command before the same key acts on that row again
#: Actions on the selected strategy: greyed out while it cannot take them.
ROW_ACTIONS = ("restart", "stop", "start", "resume", "detail")
JOBS_PANEL_KEYS = ("resume", "detail")  # what the jobs panel's enter and u stand for there
#: Actions of the main screen's panels: hidden while another screen (the detail) is on top, where
#: they would act on panels that cannot be seen.
MAIN_SCREEN_ACTIONS = frozenset(
    {"detail", "filter", "follow", "all_logs", "level", "type", "sort", "zoom"}
)

LOG_THEME = Theme(
    {
        "log.time": "dim",
        "log.debug": "dim",
        "log.warning": "yellow",
        "log.error": "bold red",
        "log.critical": "bold white on red",
        "log.order": "bold cyan",
        "log.system": "magenta",
    }
)


class Panel(Vertical):
    """A bordered box around one widget: `z` on the widget zooms the whole box, title included."""

    ALLOW_MAXIMIZE = True


def _dropped_while_closing(
    handler: Callable[[MonitorApp, Any], None],
) -> Callable[[MonitorApp, Any], None]:
    """The feed's messages still queued when the app exits find the screen's widgets gone: drop
    them then (and only then; a missing widget at any other time is a bug and raises)."""

    @functools.wraps(handler)
    def handle(app: MonitorApp, message: Any) -> None:
        try:
            handler(app, message)
        except NoMatches:
            if app.is_running and app.return_code is None:
                raise

    return handle


class MonitorApp(App[int]):
    TITLE = "tui-monitor"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restart", "restart", id="restart"),
        Binding("s", "stop", "stop", id="stop"),
        Binding("t", "start", "start", id="start"),
        Binding("u", "resume", "resume", id="resume"),
        Binding("enter", "detail", "detail", id="detail"),
        Binding("slash", "filter", "filter", id="filter"),
        Binding("f", "follow", "follow/pause", id="follow"),
        Binding("a", "all_logs", "all/selected log", id="all_logs", show=False),
        Binding("l", "level", "level", id="level", show=False),
        Binding("y", "type", "type", id="type", show=False),
        Binding("o", "sort", "sort", id="sort", show=False),
        Binding("z", "zoom", "zoom", id="zoom", show=False),
        Binding("h", "health", "health", id="health"),
        Binding("question_mark", "help", "help", id="help"),
        Binding("q", "quit_app", "quit", id="quit"),
    ]
    HELP: ClassVar[list[tuple[str, str]]] = [
        ("r", "restart the selected strategy (asks first)"),
        ("s", "stop the selected strategy; its job is paused (asks first)"),
        ("t", "start the selected strategy (from its checkpoint)"),
        ("u", "resume the selected strategy's job from its checkpoint"),
        ("enter", "details: events, restarts, checkpoint, log"),
        ("esc / q", "back from the details; close this help or the health reasons"),
        ("/", "filter the log by text (empty: no filter)"),
        ("f", "follow or pause the log"),
        ("a", "log of the selected strategy / of all strategies"),
        ("l / y", "minimum level / type (system, strategy, order) of log lines"),
        ("o", "sort the strategies (or click a column header)"),
        ("tab", "next panel"),
        ("z", "zoom the focused panel"),
        ("h", "health: the reasons behind the badge"),
        ("q", "quit (in run mode: asks whether to stop every strategy)"),
    ]

    def __init__(
        self,
        view: SupervisorView | None = None,
        *,
        host: SupervisorHost | None = None,
        mode: str = "attach",
        clock: Callable[[], float] = time.time,
        feed_settings: FeedSettings | None = None,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        if view is None and host is None:
            raise ValueError("a view or a host is needed")
        self.host = host
        self.view: SupervisorView = view or LocalView(host.engine)  # type: ignore[union-attr]
        self.mode = mode
        self.clock = clock
        self.feed = Feed(self, self.view, feed_settings)
        self.health_report: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None
        self._inflight: dict[str, float] = {}
        self._follow_all = False
        self._notice = notice
        self._stopping = False
        self._availability: tuple[bool | None, ...] = ()

    # ---- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept at hand: finding them by query walks every widget (thousands with 200 jobs), and
        # both are needed on every snapshot, log batch and availability check.
        self._table = StrategyTable(id="strategies")
        self._log = LogTail(id="log")
        self._jobs = JobList(self.clock, id="jobs")
        header = HeaderBar(self.clock, id="header")
        header.mode = self.mode
        yield header
        yield SystemPanel(id="system")
        with Panel(id="strategies-box") as box:
            box.border_title = "strategies"
            yield self._table
        yield self._log
        yield self._jobs
        yield Input(placeholder="filter the log by text; Enter applies, Esc cancels", id="filter")
        yield Footer()

    async def on_mount(self) -> None:
        self.console.push_theme(LOG_THEME)
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._terminal_gone)
        self.table.focus()
        if self._notice:
            self.notify(self._notice, markup=False, timeout=8)
        if self.host is not None:
            self._start_host()
        else:
            self._start_feed()

    @work(exclusive=True, group="host")
    async def _start_host(self) -> None:
        assert self.host is not None
        try:
            await self.host.start()
        except TuiMonitorError as exc:
            self.exit(getattr(exc, "exit_code", 1), message=str(exc))
            return
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._terminal_gone)
        self._start_feed()

    def _start_feed(self) -> None:
        for job in (self.feed.snapshots, self.feed.health, self.feed.events, self.feed.logs):
            self.run_worker(job(), group="feed", exit_on_error=False)

    def _terminal_gone(self) -> None:
        """SIGHUP (the SSH connection dropped) or SIGTERM: stop strategies gracefully, save their
        jobs, and leave — without the screen, which is gone (Textual would wait on it forever)."""
        self._stop_everything("terminal closed (SIGHUP or SIGTERM)", hard_exit=True)

    # ---- data -----------------------------------------------------------------------------------

    @_dropped_while_closing
    def on_snapshot_arrived(self, message: SnapshotArrived) -> None:
        self.snapshot = message.snapshot
        self.table.apply(message.snapshot["strategies"])
        self._jobs.apply(message.snapshot["jobs"], message.snapshot["job_counts"])
        self._selection_changed()
        self._refresh_availability()

    @_dropped_while_closing
    def on_health_arrived(self, message: HealthArrived) -> None:
        report = message.report
        self.health_report = report
        self.query_one(HeaderBar).apply_health(report)
        self.query_one(SystemPanel).apply(report)
        metrics = report.get("metrics") or {}
        self.table.set_usage(metrics.get("strategies") or {})

    @_dropped_while_closing
    def on_event_arrived(self, message: EventArrived) -> None:
        self.log_tail.add([event_line(message.event)])

    @_dropped_while_closing
    def on_log_lines_arrived(self, message: LogLinesArrived) -> None:
        self.log_tail.add(message.lines, message.skipped)

    @_dropped_while_closing
    def on_connection_lost(self, message: ConnectionLost) -> None:
        self.query_one(HeaderBar).lost(message.reason)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._selection_changed()
        self._refresh_availability()

    @on(DataTable.RowSelected, "#strategies")
    async def _row_selected(self, _event: DataTable.RowSelected) -> None:
        """enter (or a click) on a row: the table takes enter for itself, so it opens the detail
        here — through run_action, which asks check_action first."""
        await self.run_action("detail")

    def _selection_changed(self) -> None:
        name = None if self._follow_all else self.selected
        self.feed.follow_strategy(name)
        self.log_tail.follow(name)

    # ---- selection and availability -------------------------------------------------------------

    @property
    def selected(self) -> str | None:
        """The strategy under the cursor (None before the table is mounted and after it is gone:
        actions are checked then too)."""
        table = getattr(self, "_table", None)
        return table.selected if table is not None and table.is_attached else None

    @property
    def log_tail(self) -> LogTail:
        """The main screen's log (the detail screen has one too)."""
        return self._mounted(self._log)

    @property
    def table(self) -> StrategyTable:
        return self._mounted(self._table)

    @staticmethod
    def _mounted(widget: WidgetT) -> WidgetT:
        if not widget.is_attached:  # the app is closing (see _dropped_while_closing)
            raise NoMatches(f"#{widget.id} is gone")
        return widget

    def _selected_strategy(self) -> dict[str, Any] | None:
        name = self.selected
        if name is None or self.snapshot is None:
            return None
        return next((s for s in self.snapshot["strategies"] if s["name"] == name), None)

    def _selected_job(self) -> dict[str, Any] | None:
        s = self._selected_strategy()
        if s is None or self.snapshot is None:
            return None
        return next((j for j in self.snapshot["jobs"] if j["job_id"] == s["job_id"]), None)

    def _busy(self, name: str) -> bool:
        return self._inflight.get(name, 0.0) > time.monotonic()

    def _on_main_screen(self) -> bool:
        return len(self.screen_stack) <= 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ACTIONS and not self._on_main_screen():
            return False
        if action in JOBS_PANEL_KEYS and self.screen_stack and isinstance(self.focused, JobList):
            # The jobs panel has its own enter and u (resume the job under its cursor); where
            # that job cannot resume, the key must not fall through to the strategies' actions.
            return False
        if action in ROW_ACTIONS:
            s = self._selected_strategy()
            if s is None or self._busy(s["name"]):
                return None
            if action == "stop":
                return True if s["state"] in ACTIVE else None
            if action == "start":
                return True if s["state"] in STARTABLE else None
            if action == "resume":
                job = self._selected_job()
                return True if job and job["resumable"] else None
        return True

    def _refresh_availability(self) -> None:
        """Refresh the footer only when an action's availability changed: every refresh makes
        the Footer rebuild all its keys (CPU, and a footer that blinks)."""
        if not self.screen_stack:  # a cooldown timer firing while the app closes
            return
        availability = tuple(self.check_action(action, ()) for action in ROW_ACTIONS)
        if availability != self._availability:
            self._availability = availability
            self.refresh_bindings()

    # ---- commands -------------------------------------------------------------------------------

    def _command(self, name: str, verb: str, call: Callable[[], Any]) -> None:
        if self._busy(name):
            return  # a key held down does not restart a strategy five times
        self._inflight[name] = time.monotonic() + 600  # until it completes
        self._refresh_availability()
        self._run_command(name, verb, call)

    @work(group="commands")
    async def _run_command(self, name: str, verb: str, call: Callable[[], Any]) -> None:
        try:
            await call()
        except TuiMonitorError as exc:
            self.notify(f"{verb} {name}: {exc}", severity="error", markup=False, timeout=8)
        else:
            self.notify(f"{name}: {verb} done", markup=False, timeout=3)
        finally:
            self._inflight[name] = time.monotonic() + COMMAND_COOLDOWN
            self.feed.refresh_soon()
            self._refresh_availability()
            self.set_timer(COMMAND_COOLDOWN, self._refresh_availability)  # keys usable again

    def _confirm_then(self, question: str, yes: str, then: Callable[[], None]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(question, yes=yes), answered)

    def action_restart(self) -> None:
        name = self.selected
        if name is None or self._busy(name):
            return
        self._confirm_then(
            f"Restart {name}? It resumes from its last checkpoint.",
            "Restart",
            lambda: self._command(name, "restart", lambda: self.view.restart(name)),
        )

    def action_stop(self) -> None:
        name = self.selected
        if name is None or self._busy(name):
            return
        self._confirm_then(
            f"Stop {name}? Its job is paused until you start or resume it.",
            "Stop",
            lambda: self._command(name, "stop", lambda: self.view.stop(name)),
        )

    def action_start(self) -> None:
        name = self.selected
        if name is not None:
            self._command(name, "start", lambda: self.view.start(name))

    def action_resume(self) -> None:
        job = self._selected_job()
        if job is not None:
            self._resume(job["job_id"], job["strategy"])

    def on_resume_requested(self, message: ResumeRequested) -> None:
        self._resume(message.job_id, message.strategy)

    def _resume(self, job_id: str, strategy: str) -> None:
        self._command(strategy, "resume", lambda: self.view.resume(job_id))

    def action_detail(self) -> None:
        name = self.selected
        if name is not None:
            self.push_screen(DetailScreen(self.view, name))

    # ---- the log and the panels -----------------------------------------------------------------

    def action_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = self.log_tail.text_filter
        field.add_class("visible")
        field.focus()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.log_tail.set_text_filter(event.value)
        self._close_filter()

    def _close_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("visible")
        self.table.focus()

    def on_key(self, event: Any) -> None:
        if event.key == "escape" and self.query_one("#filter", Input).has_focus:
            self._close_filter()
            event.stop()

    def action_follow(self) -> None:
        paused = self.log_tail.toggle_pause()
        self.feed.paused = False  # keep fetching into the buffer; the tail shows it on resume
        self.notify("log paused" if paused else "log following", timeout=2)

    def action_all_logs(self) -> None:
        self._follow_all = not self._follow_all
        self._selection_changed()

    def action_level(self) -> None:
        self.log_tail.cycle_level()

    def action_type(self) -> None:
        self.log_tail.cycle_type()

    def action_sort(self) -> None:
        column = self.table.cycle_sort()
        self.notify(f"sorted by {column}", timeout=2)

    def action_zoom(self) -> None:
        """The focused widget's panel fills the screen (see `Panel`); z again restores it."""
        if self.screen.maximized is not None:
            self.screen.minimize()
        else:
            self.screen.action_maximize()

    def action_health(self) -> None:
        self.push_screen(InfoScreen("health", health_body(self.health_report)))

    def action_help(self) -> None:
        self.push_screen(InfoScreen("help", help_body(self.HELP)))

    # ---- quitting -------------------------------------------------------------------------------

    def action_quit_app(self) -> None:
        if isinstance(self.screen, ConfirmScreen):
            return
        if self.host is None:
            self.exit(0)  # attached: quitting stops nothing
            return
        count = len(self.snapshot["strategies"]) if self.snapshot else 0
        self._confirm_then(
            f"Quit and stop all {count} strategies? Their jobs are saved as interrupted and "
            "resumed at the next start. (To keep them running, run headless and attach.)",
            "Stop all & quit",
            lambda: self._stop_everything("supervisor shutting down (operator quit the dashboard)"),
        )

    @work(group="shutdown")
    async def _stop_everything(self, reason: str, hard_exit: bool = False) -> None:
        if self._stopping and not hard_exit:
            return
        self._stopping = True
        if not hard_exit:
            self.notify("stopping every strategy…", timeout=30)
        if self.host is not None:
            await self.host.stop(reason)
        if hard_exit:
            os._exit(0)  # state, jobs and logs are saved; nothing is left to draw on
        self.exit(0)
