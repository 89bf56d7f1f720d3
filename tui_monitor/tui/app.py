"""The dashboard. It talks to one `SupervisorView` only — a `LocalView` of an engine it hosts
itself (`tui-monitor run`, `demo`) or a `SocketView` of one running elsewhere (`attach`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

from rich.theme import Theme
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.keys import key_to_character
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.errors import TuiMonitorError
from tui_monitor.host import SupervisorHost
from tui_monitor.tui.feed import Feed, FeedSettings
from tui_monitor.tui.format import LEVEL_STYLES, MAGENTA
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
from tui_monitor.tui.widgets.footer import KeyFooter
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
#: The jobs panel binds these keys (remapped or not) itself: they resume the job under its cursor.
JOBS_PANEL_KEYS = ("resume", "detail")
#: Actions of the main screen's panels: hidden while another screen (the detail) is on top, where
#: they would act on panels that cannot be seen.
MAIN_SCREEN_ACTIONS = frozenset(
    {"detail", "filter", "follow", "all_logs", "level", "type", "sort", "zoom"}
)
#: The dashboard's actions in the command palette (ctrl+p): action, title, what it does. Each is
#: offered only while its key would act, and runs the key's code (with its questions).
PALETTE: tuple[tuple[str, str, str], ...] = (
    ("restart", "Restart {name}", "restart the selected strategy from its checkpoint (asks)"),
    ("stop", "Stop {name}", "stop the selected strategy; its job is paused (asks)"),
    ("start", "Start {name}", "start the selected strategy from its checkpoint"),
    ("resume", "Resume {name}", "resume the selected strategy's job from its checkpoint"),
    ("detail", "Details of {name}", "events, restarts, checkpoint and log of the strategy"),
    ("filter", "Filter the log", "show only the log lines with a text"),
    ("follow", "Pause / follow the log", "stop or go on scrolling the log"),
    ("all_logs", "Log: all strategies / selected", "everyone's log or the selected one's"),
    ("level", "Log level", "the next minimum level of the log lines shown"),
    ("type", "Log type", "the next type of log lines shown: system, strategy, order"),
    ("sort", "Sort the strategies", "by the next column"),
    ("zoom", "Zoom the focused panel", "fill the screen with it (again: restore)"),
    ("health", "Health reasons", "why the health badge says what it says"),
    ("help", "Help", "every key of the dashboard"),
)
#: Signals that end a dashboard: SIGHUP means the terminal is gone (nothing can be drawn any
#: more); SIGTERM and SIGINT ask for a normal exit (the terminal is restored).
EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


def key_label(keys: str) -> str:
    """Keys as the help and the palette show them: "question_mark" is "?", "escape,q" is
    "esc / q"."""
    labels = []
    for key in keys.split(","):
        char = None if key == "space" else key_to_character(key)
        labels.append("esc" if key == "escape" else char if char and char.isprintable() else key)
    return " / ".join(labels)


LOG_THEME = Theme(
    {
        "log.time": "dim",
        "log.debug": LEVEL_STYLES["DEBUG"],
        "log.warning": LEVEL_STYLES["WARNING"],
        "log.error": LEVEL_STYLES["ERROR"],
        "log.critical": LEVEL_STYLES["CRITICAL"],
        "log.order": "bold cyan",
        "log.system": MAGENTA,
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
    # The keys are the configuration's defaults; `[dashboard] keys` remaps them by id (the app's
    # keymap). ctrl+q (Textual's) and ctrl+c quit too: in run mode they ask first, as q does.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(DASHBOARD_KEYS["restart"], "restart", "restart", id="restart"),
        Binding(DASHBOARD_KEYS["stop"], "stop", "stop", id="stop"),
        Binding(DASHBOARD_KEYS["start"], "start", "start", id="start"),
        Binding(DASHBOARD_KEYS["resume"], "resume", "resume", id="resume"),
        Binding(DASHBOARD_KEYS["detail"], "detail", "detail", id="detail"),
        Binding(DASHBOARD_KEYS["filter"], "filter", "filter", id="filter"),
        Binding(DASHBOARD_KEYS["follow"], "follow", "follow/pause", id="follow"),
        Binding(
            DASHBOARD_KEYS["all_logs"], "all_logs", "all/selected log", id="all_logs", show=False
        ),
        Binding(DASHBOARD_KEYS["level"], "level", "level", id="level", show=False),
        Binding(DASHBOARD_KEYS["type"], "type", "type", id="type", show=False),
        Binding(DASHBOARD_KEYS["sort"], "sort", "sort", id="sort", show=False),
        Binding(DASHBOARD_KEYS["zoom"], "zoom", "zoom", id="zoom", show=False),
        Binding(DASHBOARD_KEYS["health"], "health", "health", id="health"),
        Binding(DASHBOARD_KEYS["help"], "help", "help", id="help"),
        Binding(DASHBOARD_KEYS["quit"], "quit", "quit", id="quit"),
        Binding("ctrl+c", "quit", "quit", show=False, system=True),
    ]
    #: The help screen: keys (by action id, filled in from the keymap) and what they do.
    HELP: ClassVar[list[tuple[str, str]]] = [
        ("{restart}", "restart the selected strategy (asks first)"),
        ("{stop}", "stop the selected strategy; its job is paused (asks first)"),
        ("{start}", "start the selected strategy (from its checkpoint)"),
        ("{resume}", "resume the selected strategy's job from its checkpoint"),
        ("{detail}", "details: events, restarts, checkpoint, log"),
        ("{back}", "back from the details; close this help or the health reasons"),
        ("{filter}", "filter the log by text (empty: no filter)"),
        ("{follow}", "follow or pause the log"),
        ("{all_logs}", "log of the selected strategy / of all strategies"),
        ("{level} / {type}", "minimum level / type (system, strategy, order) of log lines"),
        ("{sort}", "sort the strategies (or click a column header)"),
        ("tab", "next panel"),
        ("{zoom}", "zoom the focused panel"),
        ("{health}", "health: the reasons behind the badge"),
        ("{quit}", "quit (in run mode: asks whether to stop every strategy); ctrl+q too"),
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
        keymap: Mapping[str, str] | None = None,
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
        #: Remapped keys (`[dashboard] keys`): binding id -> keys.
        self.keymap = dict(keymap or {})
        self._hard_exit = False  # SIGHUP: the terminal is gone
        self._host_ready = asyncio.Event()  # the hosted supervisor's start is over (or failed)
        self._start_failed = False
        self._signals: tuple[signal.Signals, ...] = ()

    # ---- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept at hand: finding them by query walks every widget (thousands with 200 jobs), and
        # both are needed on every snapshot, log batch and availability check.
        self._table = StrategyTable(id="strategies")
        self._log = LogTail(id="log")
        self._jobs = JobList(self.clock, id="jobs")
        header = HeaderBar(self.clock, id="header")
        header.mode = self.mode
        header.health_key = self.first_key("health")
        yield header
        yield SystemPanel(id="system")
        with Panel(id="strategies-box") as box:
            box.border_title = "strategies"
            yield self._table
        yield self._log
        yield self._jobs
        yield Input(placeholder="filter the log by text; Enter applies, Esc cancels", id="filter")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.console.push_theme(LOG_THEME)
        if self.keymap:
            self.set_keymap(self.keymap)
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig)
        self._signals = EXIT_SIGNALS
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
        started = False
        try:
            await self.host.start()
            started = True
        except TuiMonitorError as exc:
            code = getattr(exc, "exit_code", 1)
            if self._hard_exit:
                os._exit(code)
            self.exit(code, message=str(exc))
            return
        finally:
            self._start_failed = not started
            self._host_ready.set()
        if not self._stopping:
            self._start_feed()

    def _start_feed(self) -> None:
        for job in (self.feed.snapshots, self.feed.health, self.feed.events, self.feed.logs):
            self.run_worker(job(), group="feed", exit_on_error=False)

    async def stop_feed(self, timeout: float = 5.0) -> None:
        """Cancel the feed's workers and wait until none is left, for a harness (Textual's pilot)
        that removes the screens while the app still handles messages: a feed message handled in
        between would find no widget. A worker may need more than one cancel: on Python 3.11
        `asyncio.wait_for` (the control client's reads) swallows a cancellation that arrives as
        its read completes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            feed = [w for w in self.workers if w.group == "feed" and not w.is_finished]
            if not feed:
                return
            for worker in feed:
                worker.cancel()
            await asyncio.sleep(0.01)

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = ()

    def _on_signal(self, sig: signal.Signals) -> None:
        """SIGTERM or SIGINT: in run mode stop every strategy gracefully (their jobs saved as
        `interrupted`), then exit normally, which restores the terminal. SIGHUP (the SSH
        connection dropped): the same without the screen, which is gone — Textual would wait on
        it forever — so the process ends with a hard exit once everything is saved."""
        name = signal.Signals(sig).name
        if sig == signal.SIGHUP:
            self._hard_exit = True
            self._forget_the_terminal()
        if self.host is None:  # attached: nothing to stop
            if self._hard_exit:
                os._exit(0)
            self.exit(0)
            return
        why = f"{name}: the terminal closed" if sig == signal.SIGHUP else name
        self._stop_everything(f"supervisor shutting down ({why})")

    def _forget_the_terminal(self) -> None:
        """Draw nothing more: writes to a hung-up terminal fail, Textual's writer thread dies
        of it, and the next frames would block the event loop (and the shutdown) for good."""
        driver = self._driver
        if driver is None:
            return
        driver.write = lambda _data: None  # type: ignore[method-assign]
        with contextlib.suppress(Exception):
            driver.disable_input()  # its thread would spin on the dead terminal's EOF

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._action_state(action, self.screen if self.screen_stack else None)

    def _action_state(self, action: str, screen: Screen[Any] | None) -> bool | None:
        """Whether `action` acts with `screen` on top: True, None (greyed out: not now) or False
        (hidden: not on this screen)."""
        on_main = screen is None or screen is self.screen_stack[0]
        if action in MAIN_SCREEN_ACTIONS and not on_main:
            return False
        if action in JOBS_PANEL_KEYS and screen is not None and isinstance(screen.focused, JobList):
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

        keys = (self.first_key("yes"), self.first_key("no"))
        self.push_screen(ConfirmScreen(question, yes=yes, keys=keys), answered)

    # ---- keys and the command palette -----------------------------------------------------------

    def key_text(self, action: str) -> str:
        """The key(s) of an action as they are now (remapped or not), for people to read."""
        return key_label(self.keymap.get(action, DASHBOARD_KEYS[action]))

    def first_key(self, action: str) -> str:
        """The first key of an action, for a hint that names one ("press h")."""
        return self.key_text(action).split(" / ")[0]

    def get_key_display(self, binding: Binding) -> str:
        """A footer names every key of a dashboard action, as it is mapped now: the detail
        screen's way back is "esc/q back" (Textual's footer would show the first key only), or
        "b back" where `[dashboard.keys]` says so."""
        keys = self.keymap.get(binding.id or "", DASHBOARD_KEYS.get(binding.id or ""))
        if binding.key_display or not keys or "," not in keys:
            return super().get_key_display(binding)
        return "/".join(
            super(MonitorApp, self).get_key_display(binding.with_key(key, key_display=None))
            for key in keys.split(",")
        )

    def help_rows(self) -> list[tuple[str, str]]:
        keys = {action: self.key_text(action) for action in DASHBOARD_KEYS}
        return [(template.format(**keys), text) for template, text in self.HELP]

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The palette (ctrl+p): Textual's own commands, and every dashboard action that would
        act now on `screen` (the one the palette was opened on). A command runs its action
        through `run_action` — the same path, checks and questions as its key."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":  # Textual's quits at once; ours asks in run mode
                yield command
        name = self.selected or ""
        for action, title, text in PALETTE:
            if self._action_state(action, screen) is True:
                yield SystemCommand(
                    title.format(name=name),
                    f"{text} — key {self.key_text(action)}",
                    functools.partial(self._palette, action),
                )
        if self.host is None:
            text = "leave the dashboard; the supervisor and its strategies keep running"
        else:
            text = "asks whether to stop every strategy, then quits"
        quit_keys = f"{self.key_text('quit')}, ctrl+q"
        yield SystemCommand("Quit", f"{text} — key {quit_keys}", self.action_quit)

    async def _palette(self, action: str) -> None:
        await self.run_action(action)

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
        self.push_screen(InfoScreen("help", help_body(self.help_rows())))

    # ---- quitting -------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Every way of quitting — q, Textual's ctrl+q, ctrl+c, the palette's Quit — comes here.
        Attached, it leaves and stops nothing; hosting the supervisor, it asks first whether to
        stop every strategy (the default answer is no)."""
        if self._stopping or any(isinstance(s, ConfirmScreen) for s in self.screen_stack):
            return  # one question at a time; and a shutdown under way ends by itself
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
    async def _stop_everything(self, reason: str) -> None:
        """Stop every strategy (jobs saved as `interrupted`), then leave: normally, so Textual
        restores the terminal — or, after SIGHUP, with a hard exit (there is no terminal)."""
        if self._stopping:
            return  # already under way (a SIGHUP meanwhile makes it end with the hard exit)
        self._stopping = True
        code = 0
        try:
            if not self._hard_exit:
                self.notify("stopping every strategy…", timeout=30)
            if self.host is not None:
                await self._host_ready.wait()  # a signal during the start: stop what started
                if self._start_failed:
                    return  # the app is already leaving with the start's error
                await self.host.stop(reason)
        except Exception:
            code = 1
            raise
        finally:
            if self._hard_exit:
                os._exit(code)  # state, jobs and logs are saved; nothing is left to draw on
            if not self._start_failed:
                self.exit(code)
