"""System metrics at a glance: CPU (per core), memory, swap, disks with their thresholds, load,
sparklines of the recent history, and the supervisor process itself.

The thresholds are the supervisor's own (`[monitor] memory_threshold` and `disk_threshold`, in
the metrics of the health report, attach included): the panel turns red where health degrades."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui_monitor.tui.format import MAGENTA, literal, percent_style, size, sparkline

HISTORY = 300  # points kept for sparklines (10 minutes at the default 2 s interval)
DEFAULT_THRESHOLD = 90.0  # a supervisor that does not send its thresholds uses the defaults


def disk_label(path: str, folders: dict[str, list[str]]) -> str:
    """What a disk holds ("state+logs"), or its folder's name."""
    return "+".join(str(name) for name in folders.get(path) or ()) or Path(path).name or path


def threshold(thresholds: dict[str, Any], key: str) -> float:
    """A threshold the supervisor sent (a percentage), or the default."""
    value = thresholds.get(key)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 100
    return float(value) if ok else DEFAULT_THRESHOLD  # type: ignore[arg-type]


class SystemPanel(Static):
    DEFAULT_CSS = """
    SystemPanel { height: 5; padding: 0 1; border: round $primary-darken-2; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("waiting for metrics…", **kwargs)
        self.border_title = "system"
        self.cpu: deque[float] = deque(maxlen=HISTORY)
        self.mem: deque[float] = deque(maxlen=HISTORY)
        self.memory_threshold = DEFAULT_THRESHOLD
        self.disk_threshold = DEFAULT_THRESHOLD
        self.disk_folders: dict[str, list[str]] = {}

    def apply(self, report: dict[str, Any]) -> None:
        latest = report.get("metrics")
        if not latest or "system" not in latest:
            return
        history = report.get("metrics_history")
        if history:  # the supervisor's own ten minutes (attach sees them too)
            self.cpu = deque((p["cpu_percent"] for p in history), maxlen=HISTORY)
            self.mem = deque((p["memory_percent"] for p in history), maxlen=HISTORY)
        else:
            self.cpu.append(latest["system"]["cpu_percent"])
            self.mem.append(latest["system"]["memory_percent"])
        thresholds = latest.get("thresholds") or {}
        self.memory_threshold = threshold(thresholds, "memory_percent")
        self.disk_threshold = threshold(thresholds, "disk_percent")
        self.disk_folders = latest.get("disk_folders") or {}
        # Three lines that never wrap, in a panel of fixed height: no layout of the whole screen
        # (and repaint of every table) every time the numbers change.
        self.update(self.render_metrics(latest), layout=False)

    def render_metrics(self, m: dict[str, Any]) -> Text:
        """Three lines, so the strategies keep the room at 80x24; sparklines grow with width."""
        s, sup = m["system"], m["supervisor"]
        spark = max(8, min(60, (self.size.width or 80) - 60))
        t = Text(no_wrap=True, overflow="ellipsis")
        cpu = s["cpu_percent"]
        t.append("CPU ", style="bold")
        t.append(f"{cpu:5.1f}% ", style=percent_style(cpu))
        t.append(sparkline(list(self.cpu), spark), style="cyan")
        t.append(" cores ")
        for core in s["per_cpu"][:64]:
            t.append(sparkline([core], 1), style=percent_style(core))
        load = s["load"]
        t.append(f"  load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
        mem = s["memory_percent"]
        t.append("MEM ", style="bold")
        t.append(f"{mem:5.1f}% ", style=percent_style(mem, self.memory_threshold))
        t.append(sparkline(list(self.mem), spark), style=MAGENTA)
        used, total = size(s["memory_used"]), size(s["memory_total"])
        t.append(f" {used}/{total} (alert {self.memory_threshold:g}%)")
        t.append("  swap ")
        t.append(f"{s['swap_percent']:.0f}%\n", style=percent_style(s["swap_percent"]))
        t.append("DISK", style="bold")
        for d in s["disks"]:
            t.append(" ")
            t.append_text(literal(disk_label(d["path"], self.disk_folders), 20))
            t.append(
                f" {d['percent']:.0f}%/{self.disk_threshold:g}%",
                style=percent_style(d["percent"], self.disk_threshold),
            )
        t.append("  SUP ", style="bold")
        t.append(
            f"pid {sup['pid']} {sup['threads']}thr {size(sup['rss'])} "
            f"{sup['cpu_percent']:.0f}%cpu {sup['open_files']}fds"
        )
        return t
