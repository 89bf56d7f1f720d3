"""What every scenario shares: sizes for full and smoke runs, statistics, ratios, table formatting,
the section a scenario returns, and small waiting helpers."""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CHILDREN = BENCH_DIR / "children"
PYTHON = sys.executable


@dataclass(frozen=True)
class Mode:
    smoke: bool

    def pick(self, full: int | float, smoke: int | float) -> int | float:
        return smoke if self.smoke else full


@dataclass
class Goal:
    """One goal of the issue, judged from this run's numbers. `met` None: not measured."""

    text: str
    met: bool | None
    evidence: str
    recorded: bool = False  # a figure the issue asks for without a bar to clear

    @property
    def verdict(self) -> str:
        if self.recorded and self.met is None:
            return "recorded"
        return {True: "**met**", False: "**missed**", None: "not measured"}[self.met]


@dataclass
class Section:
    title: str
    body: str
    goals: list[Goal] = field(default_factory=list)

    def markdown(self) -> str:
        text = f"## {self.title}\n\n{self.body.rstrip()}\n"
        if self.goals:
            text += "\n" + "\n".join(
                f"- Goal: {g.text} — {g.verdict}: {g.evidence}" for g in self.goals
            )
            text += "\n"
        return text


# ---- statistics -------------------------------------------------------------------------------


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000 if samples else float("nan")


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of the samples (NaN when there are none)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def ratio(a: float | None, b: float | None) -> float:
    """a / b, NaN when either is missing or b is zero."""
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b == 0:
        return float("nan")
    return a / b


def fmt(v: object) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "–"
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) >= 0.01 else f"{v:.2g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def fmt_ratio(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.2f}×"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio_table(
    measures: Sequence[str], values: Mapping[str, Sequence[float | None]], subject: str
) -> str:
    """How `subject` compares with every other tool, measure by measure: subject ÷ other."""
    others = [tool for tool in values if tool != subject]
    if subject not in values or not others:
        return ""
    header = ["measure", *(f"{subject} ÷ {tool}" for tool in others)]
    rows = []
    for i, measure in enumerate(measures):
        rows.append(
            [measure, *(fmt_ratio(ratio(values[subject][i], values[t][i])) for t in others)]
        )
    return table(header, rows)


# ---- the machine --------------------------------------------------------------------------------


def machine() -> str:
    freq = psutil.cpu_freq()
    mhz = f", {freq.current:.0f} MHz" if freq else ""
    mem = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, {cpu}, "
        f"{psutil.cpu_count()} cores{mhz}, {mem:.0f} GiB; Python {sys.version.split()[0]}"
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


# ---- waiting ------------------------------------------------------------------------------------


class BenchTimeout(Exception):
    """A bounded wait ran out: the scenario reports it instead of hanging."""


def wait_until(
    predicate: Callable[[], Any], timeout: float, step: float = 0.05, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchTimeout(f"{what}: not reached within {timeout:g} s")
        time.sleep(step)


def read_stamps(path: Path) -> list[tuple[str, float]]:
    """The (kind, time) lines a child appended to its stamp file ("S 1700000000.123456")."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    stamps = []
    for line in text.splitlines():
        kind, _, value = line.partition(" ")
        try:
            stamps.append((kind, float(value)))
        except ValueError:
            continue  # a line being written right now
    return stamps


def child(name: str) -> str:
    """Path of a child script in bench/children."""
    return str(CHILDREN / f"{name}.py")


def child_argv(name: str, *args: object, site: bool = False) -> list[str]:
    """The command of a child program. Children that need only the standard library run with
    `python -S` (no site import), so the floor is the interpreter's bare start-up and what a
    supervisor adds is not lost in it; `site=True` for those that import tui_monitor.client."""
    flags = [] if site else ["-S"]
    return [PYTHON, *flags, child(name), *map(str, args)]
