"""Scenario 3, idle cost: 50 strategies that sleep and print a line every 10 s. The supervisor's
own CPU (user + system of its process, all threads, not its children) as % of one core over 60 s,
and its memory: RSS and PSS (psutil memory_full_info; PSS shares common pages out fairly).
tui-monitor headless, also with every strategy heartbeating once a second, supervisord, pm2's
daemon, and the floor (one thread per child blocked in wait())."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import (
    Goal,
    Mode,
    Section,
    child_argv,
    fmt,
    fmt_ratio,
    ratio,
    ratio_table,
    table,
)
from bench.procs import cpu_seconds, memory_mib, thread_count
from bench.tools import TOOLS, Program, Toolbox, supervised, wait_started

#: Rows: (label, tool, heartbeat interval)
VARIANTS = [
    ("floor", "floor", 0.0),
    ("tui-monitor", "tui-monitor", 0.0),
    ("tui-monitor, heartbeats 1/s", "tui-monitor", 1.0),
    ("supervisord", "supervisord", 0.0),
    ("pm2", "pm2", 0.0),
]
#: Where a dashboard owner plugs the attached measurement in (see dashboard.py for the pilot).
DASHBOARD_ATTACHED = "dashboard attached"


def measure(
    tools: Toolbox, tool: str, beat: float, mode: Mode
) -> tuple[float, float, float, int, float]:
    count = int(mode.pick(50, 3))
    every = mode.pick(10.0, 1.0)
    window = mode.pick(60.0, 0.5)
    settle = mode.pick(5.0, 0.1)
    with tempfile.TemporaryDirectory(prefix=f"bench-idle-{tool}-") as tmp:
        folder = Path(tmp)
        stamps = folder / "stamps"
        stamps.mkdir()
        programs = [
            Program(
                f"i{i:02d}",
                child_argv("idle", stamps / f"i{i:02d}.txt", every, beat, site=beat > 0),
                {"tui-monitor": {"heartbeat_timeout": 30 if beat else 0}},
            )
            for i in range(count)
        ]
        with supervised(tools, tool, folder / "run", programs, "defaults", scenario="idle") as sup:
            wait_started(stamps, count, timeout=mode.pick(60, 20))
            time.sleep(settle)
            procs = sup.procs()
            cpu0, t0 = cpu_seconds(procs), time.monotonic()
            time.sleep(window)
            cpu1, t1 = cpu_seconds(procs), time.monotonic()
            rss, pss = memory_mib(procs)
            threads = thread_count(procs)
        return (cpu1 - cpu0) / (t1 - t0) * 100, rss, pss, threads, t1 - t0


def run(mode: Mode, tools: Toolbox) -> Section:
    results: dict[str, tuple[float, float, float, int, float]] = {}
    for label, tool, beat in VARIANTS:
        if not tools.has(tool):
            continue
        results[label] = measure(tools, tool, beat, mode)
        print(f"bench: idle {label}: {results[label][0]:.2f} % CPU", flush=True)
    rows = [
        [label, cpu, rss, pss, threads, f"{window:.0f}"]
        for label, (cpu, rss, pss, threads, window) in results.items()
    ]
    rows.append([DASHBOARD_ATTACHED, "not measured yet", "", "", "", ""])
    values = {label: r[:3] for label, r in results.items()}
    count = int(mode.pick(50, 3))
    body = (
        f"{count} strategies sleep and print a line every {mode.pick(10.0, 1.0):g} s (with "
        "`flush=True`); each tool with its default settings (tui-monitor: `heartbeat_timeout = 0` "
        "for the plain children, `30` for the heartbeating ones). CPU over the window after a "
        f"{mode.pick(5.0, 0.1):g} s settle, as % of one core; memory at the end of the window "
        "(pm2: its daemon, Node).\n\n"
        + tools.skipped_note(TOOLS)
        + table(
            ["supervisor", "CPU % of a core", "RSS MiB", "PSS MiB", "threads", "window s"], rows
        )
        + "\n\n"
        + ratio_table(["CPU", "RSS", "PSS"], values, "tui-monitor")
        + "\n\nWhat the numbers mean: an idle supervisor should cost close to nothing — any "
        "polling tick or per-child thread shows up here. The dashboard-attached row is a hook "
        "for the dashboard's owner (`DASHBOARD_ATTACHED` in bench/idle.py).\n"
    )
    goals = []
    if "tui-monitor" in values:
        cpu, rss, pss = values["tui-monitor"]
        if "supervisord" in values:
            scpu, srss, spss = values["supervisord"]
            ok = cpu <= scpu and rss <= srss and pss <= spss
            goals.append(
                Goal(
                    "headless: CPU and memory no higher than supervisord's",
                    ok,
                    f"tui-monitor {fmt(cpu)} % CPU, {fmt(rss)} MiB RSS, {fmt(pss)} MiB PSS; "
                    f"supervisord {fmt(scpu)} %, {fmt(srss)} MiB, {fmt(spss)} MiB (CPU "
                    f"{fmt_ratio(ratio(cpu, scpu))}, RSS {fmt_ratio(ratio(rss, srss))}, PSS "
                    f"{fmt_ratio(ratio(pss, spss))})",
                )
            )
        else:
            goals.append(
                Goal(
                    "headless: CPU and memory no higher than supervisord's", None, "no supervisord"
                )
            )
        goals.append(
            Goal(
                "with the dashboard attached",
                None,
                "not measured yet (hook: DASHBOARD_ATTACHED in bench/idle.py)",
            )
        )
    return Section("3. Idle cost", body, goals)
