"""System metrics at a glance: CPU (per core), memory, swap, disks with their thresholds, load,
sparklines of the recent history, and the supervisor process itself."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui_monitor.tui.format import bar, literal, percent_style, size, sparkline

HISTORY = 300  # points kept for sparklines (10 minutes at the default 2 s interval)


class SystemPanel(Static):
    DEFAULT_CSS = """
    SystemPanel { height: auto; padding: 0 1; border: round $primary-darken-2; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("waiting for metrics…", **kwargs)
        self.border_title = "system"
        self.cpu: deque[float] = deque(maxlen=HISTORY)
        self.mem: deque[float] = deque(maxlen=HISTORY)
        self.memory_threshold = 90.0
        self.disk_threshold = 90.0

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
        self.update(self.render_metrics(latest))

    def render_metrics(self, m: dict[str, Any]) -> Text:
        s, sup = m["system"], m["supervisor"]
        width = max(10, (self.size.width or 80) - 40)
        t = Text()
        cpu = s["cpu_percent"]
        t.append("CPU  ", style="bold")
        t.append(f"{cpu:5.1f}% ", style=percent_style(cpu))
        t.append(sparkline(list(self.cpu), min(width, 40)), style="cyan")
        t.append("  cores ")
        for core in s["per_cpu"][:32]:
            t.append(sparkline([core], 1), style=percent_style(core))
        t.append("\n")
        mem = s["memory_percent"]
        t.append("MEM  ", style="bold")
        t.append(f"{mem:5.1f}% ", style=percent_style(mem, self.memory_threshold))
        t.append(f"{size(s['memory_used'])}/{size(s['memory_total'])} ")
        t.append(sparkline(list(self.mem), min(width, 30)), style="magenta")
        t.append(f"  (alert {self.memory_threshold:g}%)", style="dim")
        t.append("   SWAP ", style="bold")
        t.append(f"{s['swap_percent']:.0f}%", style=percent_style(s["swap_percent"]))
        t.append("\n")
        t.append("DISK ", style="bold")
        for d in s["disks"]:
            t.append_text(literal(d["path"], 40))
            t.append(
                f" {bar(d['percent'] / 100, 8)} ",
                style=percent_style(d["percent"], self.disk_threshold),
            )
            t.append(f"{d['percent']:.0f}%/{self.disk_threshold:g}%  ")
        t.append("\n")
        load = s["load"]
        t.append("LOAD ", style="bold")
        t.append(f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}   ")
        t.append("SUPERVISOR ", style="bold")
        t.append(
            f"pid {sup['pid']} · {sup['threads']} thr · {size(sup['rss'])} · "
            f"{sup['cpu_percent']:.1f}% cpu · {sup['open_files']} fds"
        )
        return t
