"""One strategy up close (enter): its state, last error, recent events and restarts with their
reasons, its checkpoint, and its log."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from tui_monitor.config import DASHBOARD_KEYS
from tui_monitor.errors import TuiMonitorError
from tui_monitor.tui.format import LEVEL_STYLES, RED, STATE_STYLES, age, literal
from tui_monitor.tui.widgets.footer import KeyFooter
from tui_monitor.tui.widgets.logtail import LogTail
from tui_monitor.view import SupervisorView

#: How much of a checkpoint's JSON is shown.
CHECKPOINT_CHARS = 20_000


def _when(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "--:--:--"


def summary(s: dict[str, Any], job: dict[str, Any] | None) -> Text:
    t = Text()
    t.append_text(literal(s["name"], 64, "bold"))
    t.append("  ")
    t.append(f" {s['state']} ", style=STATE_STYLES.get(s["state"], "reverse"))
    t.append("  ")
    t.append_text(literal(s["state_reason"], 200, "italic"))
    t.append(f"\npid {s.get('pid') or '-'} · up {age(s.get('uptime'))} · ")
    t.append(
        f"heartbeat {age(s.get('heartbeat_age'))} ago (timeout {s['heartbeat_timeout']:g} s) · "
    )
    t.append(f"restarts {s['restarts']}/{s['max_restarts']} (total {s['total_restarts']})")
    if s.get("heartbeat_message"):
        t.append("\nlast message: ")
        t.append_text(literal(s["heartbeat_message"], 300))
    if s.get("last_error"):
        t.append("\nlast error: ", style=f"bold {RED}")
        t.append_text(literal(s["last_error"], 500, RED))
    if job:
        t.append(f"\njob {job['job_id']}: {job['status']}, {job.get('runs', 0)} runs")
    return t


def history_text(events: list[dict[str, Any]], runs: list[dict[str, Any]]) -> Text:
    t = Text()
    t.append("runs (newest last)\n", style="bold underline")
    for run in runs[-15:]:
        how = run.get("signal") or f"exit {run.get('exit_code')}"
        t.append(
            f"{_when(run.get('time'))} pid {run.get('pid')} {how} after {age(run.get('runtime'))}: "
        )
        t.append_text(literal(run.get("reason", ""), 120))
        t.append("\n")
    t.append("\nevents (newest last)\n", style="bold underline")
    for ev in events[-30:]:
        level = ev.get("level", "INFO")
        style = {"WARNING": LEVEL_STYLES["WARNING"], "ERROR": LEVEL_STYLES["ERROR"]}.get(level, "")
        t.append(f"{_when(ev.get('time'))} ", style="dim")
        t.append_text(literal(ev.get("text") or ev.get("kind", ""), 300, style))
        t.append("\n")
    return t


def checkpoint_text(record: dict[str, Any] | None) -> Text:
    """The checkpoint as pretty-printed JSON. Its line breaks are JSON's own (strings escape
    theirs), so it is made literal line by line: safe_text would show them as '␊'."""
    if not record or record.get("checkpoint") is None:
        return Text("no checkpoint", style="dim")
    body = json.dumps(record["checkpoint"], indent=2, ensure_ascii=False)
    cut = len(body) > CHECKPOINT_CHARS
    lines = body[:CHECKPOINT_CHARS].split("\n") + (["…"] if cut else [])
    header = Text(f"saved {_when(record.get('checkpoint_at'))}\n", style="dim")
    return header + Text("\n").join(literal(line, CHECKPOINT_CHARS) for line in lines)


class DetailScreen(Screen[None]):
    DEFAULT_CSS = """
    DetailScreen #summary { height: auto; padding: 0 1; border: round $primary; }
    DetailScreen #middle { height: 1fr; }
    DetailScreen #history { width: 2fr; border: round $primary-darken-2; }
    DetailScreen #checkpoint { width: 1fr; border: round $primary-darken-2; }
    DetailScreen LogTail { height: 1fr; }
    """
    BINDINGS = [  # noqa: RUF012
        # The same ids as the main screen's keys: `[dashboard] keys` remaps both.
        Binding(DASHBOARD_KEYS["back"], "app.pop_screen", "back", id="back"),
        Binding(DASHBOARD_KEYS["restart"], "app.restart", "restart", id="restart"),
        Binding(DASHBOARD_KEYS["stop"], "app.stop", "stop", id="stop"),
        Binding(DASHBOARD_KEYS["start"], "app.start", "start", id="start"),
        Binding(DASHBOARD_KEYS["resume"], "app.resume", "resume", id="resume"),
    ]

    def __init__(self, view: SupervisorView, name: str) -> None:
        super().__init__()
        self.view = view
        self.strategy = name
        self._seq = 0

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with Horizontal(id="middle"):
            with VerticalScroll(id="history") as history:
                history.border_title = "restarts and events"
                yield Static(id="history-text")
            with VerticalScroll(id="checkpoint") as ckpt:
                ckpt.border_title = "checkpoint"
                yield Static(id="checkpoint-text")
        with Vertical():
            yield LogTail(following=self.strategy, id="detail-log")
        yield KeyFooter()  # as the main screen's: fitted to the width, the way back always shown

    async def on_mount(self) -> None:
        await self.refresh_all()
        self.set_interval(1.0, self.refresh_all)

    async def refresh_all(self) -> None:
        try:
            snap = await self.view.snapshot()
            s = next((x for x in snap["strategies"] if x["name"] == self.strategy), None)
            if s is None:
                return
            job = next((j for j in snap["jobs"] if j["job_id"] == s["job_id"]), None)
            self.query_one("#summary", Static).update(summary(s, job))
            events = await self.view.recent_events(self.strategy, 50)
            runs = await self.view.runs(self.strategy, 20)
            self.query_one("#history-text", Static).update(history_text(events, runs))
            record = await self.view.job(s["job_id"]) if job else None
            self.query_one("#checkpoint-text", Static).update(checkpoint_text(record))
            lines = await self.view.log_lines(self.strategy, after=self._seq, limit=2000)
        except (TuiMonitorError, OSError) as exc:
            self.query_one("#summary", Static).update(literal(f"cannot refresh: {exc}", 200, RED))
            return
        if lines:
            self._seq = max(line["seq"] for line in lines)
            self.query_one(LogTail).add(lines[-500:], max(0, len(lines) - 500))
