"""Plain-text tables for people: `tui-monitor status`, `jobs` and `health`.

Input is the plain data every view returns (snapshot and health dicts). Every string that came
from a strategy or a file goes through `safe_text` (promise 4: no escape sequence reaches the
terminal raw), and long cells are cut so a row stays one line. No Rich, no Textual.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tui_monitor.text import safe_text

MESSAGE_WIDTH = 60
CELL_WIDTH = 40
NONE = "-"


def cell(value: Any, limit: int = CELL_WIDTH) -> str:
    if value is None or value == "":
        return NONE
    return safe_text(str(value), limit)


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal (wide East Asian characters take two)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def render_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns aligned on display width, two spaces apart, no trailing blanks."""
    rows = [list(r) for r in rows]
    widths = [display_width(h) for h in headers]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], display_width(value))

    def line(values: Sequence[str]) -> str:
        parts = [v + " " * (widths[i] - display_width(v)) for i, v in enumerate(values)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def duration(seconds: float | None) -> str:
    """`0.4s`, `12s`, `4m05s`, `2h03m`, `3d04h`."""
    if seconds is None:
        return NONE
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f}s"
    whole = int(s)
    if whole < 60:
        return f"{whole}s"
    minutes, sec = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def ago(when: float | None, now: float | None = None) -> str:
    if when is None:
        return NONE
    return duration((now if now is not None else time.time()) - when) + " ago"


def last_exit(s: Mapping[str, Any]) -> str:
    if s.get("last_exit_signal"):
        return cell(s["last_exit_signal"])
    if s.get("last_exit_code") is not None:
        return f"code {s['last_exit_code']}"
    return NONE


def strategy_message(s: Mapping[str, Any]) -> str:
    """What an operator wants to read: the heartbeat message while it runs, else why it is in
    the state it is in (and the last error, if any)."""
    state = s.get("state")
    if state in ("running", "starting") and s.get("heartbeat_message"):
        text = str(s["heartbeat_message"])
    else:
        text = str(s.get("state_reason") or "")
        if state == "backoff" and s.get("next_start_in") is not None:
            text = f"{text}; next start in {duration(s['next_start_in'])}"
        error = str(s.get("last_error") or "")
        if state in ("fatal", "exited") and error and error not in text:
            text = f"{text} ({error})" if text else error
    return cell(text, MESSAGE_WIDTH)


def status_table(snapshot: Mapping[str, Any]) -> str:
    rows = []
    for s in snapshot.get("strategies", []):
        rows.append(
            [
                cell(s.get("name"), 64),
                cell(s.get("state")),
                cell(s.get("pid")),
                duration(s.get("uptime")) if s.get("uptime") is not None else NONE,
                (duration(s["heartbeat_age"]) + " ago")
                if s.get("heartbeat_age") is not None
                else NONE,
                f"{s.get('restarts', 0)}/{s.get('max_restarts', 0)}",
                last_exit(s),
                strategy_message(s),
            ]
        )
    headers = ["NAME", "STATE", "PID", "UPTIME", "HEARTBEAT", "RESTARTS", "LAST EXIT", "MESSAGE"]
    if not rows:
        return "no strategies configured"
    return render_table(headers, rows)


def supervisor_line(snapshot: Mapping[str, Any]) -> str:
    return (
        f"supervisor pid {snapshot.get('pid')}, up {duration(snapshot.get('uptime'))}, "
        f"version {cell(snapshot.get('version'))}, config {cell(snapshot.get('config_path'), 200)}"
    )


def progress(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value * 100:.0f}%" if 0 <= value <= 1 else f"{value:g}"
    return NONE


def jobs_table(snapshot: Mapping[str, Any], now: float | None = None) -> str:
    rows = []
    for j in snapshot.get("jobs", []):
        rows.append(
            [
                cell(j.get("job_id"), 80),
                cell(j.get("strategy"), 64),
                cell(j.get("status")),
                progress(j.get("progress")),
                cell(j.get("restart_count")),
                ago(j.get("updated_at"), now),
                cell(j.get("last_error"), MESSAGE_WIDTH),
            ]
        )
    if not rows:
        return "no jobs yet"
    headers = ["JOB", "STRATEGY", "STATUS", "PROGRESS", "RESTARTS", "UPDATED", "LAST ERROR"]
    return render_table(headers, rows)


def health_text(report: Mapping[str, Any]) -> str:
    lines = [f"health: {cell(report.get('status'))}"]
    reasons = report.get("reasons") or []
    if reasons:
        lines.append(
            render_table(
                ["SEVERITY", "CODE", "REASON"],
                [
                    [
                        cell(r.get("severity")),
                        cell(r.get("code")),
                        cell(r.get("message"), 200),
                    ]
                    for r in reasons
                ],
            )
        )
    counts = report.get("counts") or {}
    if counts:
        lines.append("jobs: " + ", ".join(f"{cell(v)} {cell(k)}" for k, v in counts.items()))
    if "strategies" in report:
        lines.append("")
        lines.append(status_table({"strategies": report["strategies"]}))
    return "\n".join(lines)
