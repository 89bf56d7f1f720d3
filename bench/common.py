"""What every scenario shares: sizes for full and smoke runs, statistics and table formatting."""

from __future__ import annotations

import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Mode:
    smoke: bool

    def pick(self, full: int | float, smoke: int | float) -> int | float:
        return smoke if self.smoke else full


def median_ms(samples: Sequence[float]) -> float:
    return statistics.median(samples) * 1000


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    freq = psutil.cpu_freq()
    mhz = f", {freq.current:.0f} MHz" if freq else ""
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.release()} {platform.machine()}, "
        f"{psutil.cpu_count()} cores{mhz}, {mem:.0f} GiB; Python {sys.version.split()[0]}"
    )
