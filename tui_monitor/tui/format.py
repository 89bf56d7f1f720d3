"""Formatting for the dashboard: ages, sizes, bars, colours — and untrusted text made into Rich
`Text` that is never parsed for markup. Plain functions, tested without a screen."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from tui_monitor.text import safe_text

#: Colours for text on the dashboard's dark background, light enough to read in greyscale too:
#: under NO_COLOR Textual turns every colour into the grey of its luminance, and its own red and
#: magenta (#f4005f) become a grey of 59 — unreadable on the backgrounds, greys of 18 to 51. These
#: keep a contrast of at least 4.5:1 (WCAG AA) on all of them, and each is a colour of the
#: 256-colour palette (shown as is there). Yellow, green and cyan are light enough already.
RED = "#ff8787"  # xterm 210; grey 161
BLUE = "#87afff"  # xterm 111; grey 172
MAGENTA = "#d787ff"  # xterm 177; grey 161
#: The most severe states are a block (white on red), whatever the colours.
ALARM = "bold white on red"

STATE_STYLES = {
    "running": "bold green",
    "starting": "cyan",
    "backoff": "bold yellow",
    "stopping": MAGENTA,
    "stopped": "dim",
    "exited": BLUE,
    "fatal": ALARM,
}
JOB_STYLES = {
    "running": "green",
    "paused": "yellow",
    "interrupted": "bold yellow",
    "failed": f"bold {RED}",
    "completed": BLUE,
}
HEALTH_STYLES = {
    "healthy": "bold black on green",
    "degraded": "bold black on yellow",
    "unhealthy": ALARM,
}
LEVEL_STYLES = {
    "DEBUG": "dim",
    "INFO": "",
    "WARNING": "yellow",
    "ERROR": f"bold {RED}",
    "CRITICAL": ALARM,
}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def literal(value: Any, limit: int = 200, style: str = "") -> Text:
    """Untrusted text as Rich Text: markup never interpreted, control characters made visible."""
    return Text(safe_text("" if value is None else str(value), limit), style=style)


#: A table cell before it becomes Rich `Text`: its characters and its style. Rows are built and
#: compared as these, and a `Text` is made only for a cell that changed: Text() strips control
#: codes from every string it is given, and 200 rows of 11 cells a second made that the largest
#: cost of the dashboard's snapshot. (Rich's `Text ==` also ignores the base style.)
Cell = tuple[str, str]


def text_cell(value: Any, limit: int = 200, style: str = "") -> Cell:
    """Untrusted text as a cell: control characters made visible, never markup."""
    return safe_text("" if value is None else str(value), limit), style


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(0.0, seconds))
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G", "T"):
        if abs(n) < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"


def bar(fraction: float | None, width: int = 10) -> str:
    if fraction is None:
        return " " * width
    f = min(1.0, max(0.0, fraction))
    full = int(f * width)
    return "█" * full + "░" * (width - full)


def percent_style(value: float, threshold: float = 90.0) -> str:
    if value >= threshold:
        return f"bold {RED}"
    if value >= threshold * 0.8:
        return "yellow"
    return "green"


def heartbeat_cell(age_s: float | None, timeout: float, state: str) -> Cell:
    """Heartbeat age coloured by how close it is to the timeout."""
    if state not in ("running", "starting", "stopping"):
        return "-", "dim"
    if timeout <= 0:
        return (age(age_s) if age_s is not None else "live"), "dim"
    if age_s is None:
        return "none yet", "yellow"
    ratio = age_s / timeout
    style = "green" if ratio < 0.5 else "yellow" if ratio < 0.8 else f"bold {RED}"
    return f"{age(age_s)}/{age(timeout)}", style


def last_exit_cell(code: int | None, sig: str | None) -> Cell:
    if sig:
        return sig, RED
    if code is None:
        return "-", "dim"
    return str(code), "green" if code == 0 else RED


def level_at_least(level: str, minimum: str) -> bool:
    try:
        return LEVELS.index(level) >= LEVELS.index(minimum)
    except ValueError:
        return True


def sparkline(values: list[float], width: int = 30, top: float = 100.0) -> str:
    """A one-line sparkline of the last `width` values (0..top)."""
    ticks = "▁▂▃▄▅▆▇█"
    values = values[-width:]
    if not values:
        return ""
    out = []
    for v in values:
        f = min(1.0, max(0.0, v / top if top else 0.0))
        out.append(ticks[min(len(ticks) - 1, int(f * (len(ticks) - 1) + 0.5))])
    return "".join(out)
