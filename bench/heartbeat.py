"""Scenario 2, heartbeat-miss detection (tui-monitor only: supervisord and pm2 have no application
heartbeats, only process liveness). Strategies heartbeat through `tui_monitor.client` for a random
while, then hang. The deadline is the child's own time of its last heartbeat + heartbeat_timeout;
measured: deadline → SIGTERM caught by the child, and deadline → the replacement's first
statement."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    BenchTimeout,
    Goal,
    Mode,
    Section,
    child_argv,
    fmt,
    percentile,
    read_stamps,
    table,
    wait_until,
)
from bench.tools import Program, Toolbox, supervised

SLACK = 0.002  # a heartbeat stamped this late after the send is still "before the deadline"


def misses_so_far(stamps: Path) -> int:
    return sum(sum(1 for k, _ in read_stamps(p) if k == "T") for p in stamps.glob("*.txt"))


def samples(stamps: Path, timeout: float, cutoff: float) -> tuple[list[float], list[float], int]:
    """(deadline → stop signal, deadline → replacement running, early stops)."""
    to_term: list[float] = []
    to_start: list[float] = []
    early = 0
    for path in stamps.glob("*.txt"):
        last_hb = None
        deadline = None
        for kind, t in read_stamps(path):
            if kind == "S":
                if deadline is not None and t <= cutoff:
                    to_start.append(t - deadline)
                last_hb = deadline = None
            elif kind == "H":
                last_hb = t
            elif kind == "T" and last_hb is not None and t <= cutoff:
                deadline = last_hb + timeout
                if t + SLACK < deadline:
                    early += 1  # stopped before its deadline: would be a false kill
                to_term.append(t - deadline)
    return to_term, to_start, early


def run(mode: Mode, tools: Toolbox) -> Section:
    count = int(mode.pick(20, 3))
    timeout = mode.pick(1.0, 0.3)
    beat = mode.pick(0.1, 0.05)
    lo, hi = mode.pick(0.2, 0.05), mode.pick(1.0, 0.2)
    target = int(mode.pick(300, 5))
    limit = mode.pick(120, 20)
    note = ""
    with tempfile.TemporaryDirectory(prefix="bench-heartbeat-") as tmp:
        folder = Path(tmp)
        stamps = folder / "stamps"
        stamps.mkdir()
        programs = [
            Program(
                f"h{i:02d}",
                child_argv("hbstop", stamps / f"h{i:02d}.txt", beat, lo, hi, site=True),
                {"tui-monitor": {"heartbeat_timeout": timeout, "start_seconds": 0.1}},
            )
            for i in range(count)
        ]
        with supervised(
            tools, "tui-monitor", folder / "run", programs, "immediate", scenario="heartbeat"
        ):
            try:
                wait_until(lambda: misses_so_far(stamps) >= target, limit, step=0.25)
            except BenchTimeout:
                note = f" (stopped at the {limit:g} s limit)"
            cutoff = time.time() - 0.01
        to_term, to_start, early = samples(stamps, timeout, cutoff)
    print(f"bench: heartbeat: {len(to_term)} misses", flush=True)
    ms = [
        [
            what,
            len(xs),
            percentile(xs, 50) * 1000,
            percentile(xs, 95) * 1000,
            percentile(xs, 99) * 1000,
            max(xs) * 1000 if xs else float("nan"),
        ]
        for what, xs in (
            ("deadline → stop signal (SIGTERM caught)", to_term),
            ("deadline → replacement running", to_start),
        )
    ]
    body = (
        f"{count} strategies heartbeat every {beat:g} s (`client.heartbeat`) for a random "
        f"{lo:g}–{hi:g} s, then hang; `heartbeat_timeout = {timeout:g}`, `restart_delay = 0`. The "
        "deadline is the child's stamp after its last heartbeat + the timeout; the stop is "
        "stamped by the child's SIGTERM handler, the replacement by its first statement"
        f"{note}. supervisord and pm2 are not in this table: they have no application "
        "heartbeats (only process liveness), so a hung strategy runs on forever under them.\n\n"
        + table(["interval", "misses", "p50 ms", "p95 ms", "p99 ms", "max ms"], ms)
        + f"\n\nStrategies stopped before their deadline (false kills): {early}.\n\n"
        "What the numbers mean: the first row is how late the supervisor acts on a missed "
        "deadline (timer precision plus the work before the signal); the second adds the "
        "child's exit, the bookkeeping before a restart and the new interpreter's start-up "
        "(the floor of scenario 1).\n"
    )
    p99 = ms[0][4]
    goals = [
        Goal(
            "p99 under 50 ms past the deadline (to the stop signal)",
            (p99 < 50 and early == 0) if to_term else None,
            f"p50 {fmt(ms[0][2])} / p95 {fmt(ms[0][3])} / p99 {fmt(p99)} ms over {len(to_term)} "
            f"misses; replacement running p99 {fmt(ms[1][4])} ms; {early} false kills",
        )
    ]
    return Section("2. Heartbeat-miss detection (tui-monitor only)", body, goals)
