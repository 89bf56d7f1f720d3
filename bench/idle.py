"""Scenario 3, idle cost: 50 strategies that sleep and print a line every 10 s. The supervisor's
own CPU (user + system of its process, all threads, not its children) as % of one core over 60 s,
and its memory: RSS and PSS (psutil memory_full_info; PSS shares common pages out fairly).
tui-monitor headless, also with every strategy heartbeating once a second and with the dashboard
attached (`tui-monitor attach` on a 200x50 pseudo-terminal: the supervisor's cost, and the
dashboard's own in its row), supervisord, pm2's daemon, and the floor (one thread per child
blocked in wait()). A last row is the memory floor of tui-monitor's stack: an interpreter that
only imports asyncio, psutil, loguru and tinydb and sleeps."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psutil

from bench.common import (
    PYTHON,
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
from bench.procs import Tracker, cpu_seconds, memory_mib, thread_count
from bench.tools import TOOLS, Program, Toolbox, supervised, tui_command, wait_started

#: Rows: (label, tool, heartbeat interval, dashboard attached)
VARIANTS = [
    ("floor", "floor", 0.0, False),
    ("tui-monitor", "tui-monitor", 0.0, False),
    ("tui-monitor, heartbeats 1/s", "tui-monitor", 1.0, False),
    ("tui-monitor, dashboard attached", "tui-monitor", 0.0, True),
    ("supervisord", "supervisord", 0.0, False),
    ("pm2", "pm2", 0.0, False),
]
DASHBOARD = "the attached dashboard itself"
STACK_FLOOR = "import floor: asyncio, psutil, loguru, tinydb"
Measured = tuple[float, float, float, int, float]


def measure_stack_floor(mode: Mode) -> Measured:
    """What the interpreter with tui-monitor's libraries costs before it does anything."""
    with Tracker() as tracker, tempfile.TemporaryDirectory(prefix="bench-idle-stack-") as tmp:
        code = "import asyncio, psutil, loguru, tinydb, time; time.sleep(600)"
        popen = tracker.spawn([PYTHON, "-c", code], cwd=tmp)
        time.sleep(mode.pick(2.0, 0.5))
        procs = [psutil.Process(popen.pid)]
        rss, pss = memory_mib(procs)
        return 0.0, rss, pss, thread_count(procs), 0.0


def measure(
    tools: Toolbox, tool: str, beat: float, mode: Mode, attach: bool = False
) -> tuple[Measured, Measured | None]:
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
            dashboard: list[psutil.Process] = []
            if attach:
                config = sup.config  # type: ignore[attr-defined]
                ui = sup.tracker.spawn_in_terminal(
                    [*tui_command(), "attach", "--config", str(config)], cwd=folder
                )
                dashboard = [psutil.Process(ui.pid)]
            time.sleep(settle)
            procs = sup.procs()
            cpu0, ui0, t0 = cpu_seconds(procs), cpu_seconds(dashboard), time.monotonic()
            time.sleep(window)
            cpu1, ui1, t1 = cpu_seconds(procs), cpu_seconds(dashboard), time.monotonic()
            rss, pss = memory_mib(procs)
            threads = thread_count(procs)
            ui_row = None
            if attach:
                if dashboard[0].status() == psutil.STATUS_ZOMBIE or not dashboard[0].is_running():
                    raise RuntimeError("the attached dashboard exited during the window")
                ui_rss, ui_pss = memory_mib(dashboard)
                ui_cpu = (ui1 - ui0) / (t1 - t0) * 100
                ui_row = (ui_cpu, ui_rss, ui_pss, thread_count(dashboard), t1 - t0)
                ui.terminate()  # an SSH session closing
                ui.wait(10)
        return ((cpu1 - cpu0) / (t1 - t0) * 100, rss, pss, threads, t1 - t0), ui_row


def run(mode: Mode, tools: Toolbox) -> Section:
    results: dict[str, Measured] = {}
    for label, tool, beat, attach in VARIANTS:
        if not tools.has(tool):
            continue
        try:
            results[label], ui_row = measure(tools, tool, beat, mode, attach)
        except Exception as exc:  # a failed row is reported, not fatal
            print(f"bench: idle {label}: failed: {exc}", flush=True)
            continue
        if ui_row is not None:
            results[DASHBOARD] = ui_row
        print(f"bench: idle {label}: {results[label][0]:.2f} % CPU", flush=True)
    results[STACK_FLOOR] = measure_stack_floor(mode)
    rows = [
        [label, cpu, rss, pss, threads, f"{window:.0f}"]
        for label, (cpu, rss, pss, threads, window) in results.items()
    ]
    values = {label: r[:3] for label, r in results.items() if label != DASHBOARD}
    count = int(mode.pick(50, 3))
    body = (
        f"{count} strategies sleep and print a line every {mode.pick(10.0, 1.0):g} s (with "
        "`flush=True`); each tool with its default settings (tui-monitor: `heartbeat_timeout = 0` "
        "for the plain children, `30` for the heartbeating ones). CPU over the window after a "
        f"{mode.pick(5.0, 0.1):g} s settle, as % of one core; memory at the end of the window "
        "(tui-monitor: the supervisor and its guardian shell; pm2: its daemon, Node).\n\n"
        + tools.skipped_note(TOOLS)
        + table(
            ["supervisor", "CPU % of a core", "RSS MiB", "PSS MiB", "threads", "window s"], rows
        )
        + "\n\n"
        + ratio_table(["CPU", "RSS", "PSS"], values, "tui-monitor")
        + "\n\nWhat the numbers mean: an idle supervisor should cost close to nothing — any "
        "polling tick or per-child thread shows up here. tui-monitor samples system metrics "
        "every 2 s and each strategy's CPU and memory every 20 s while no view is watching "
        "(every 2 s while one is: the attached-dashboard row). Memory: the import-floor row is "
        "what Python with tui-monitor's required libraries (asyncio, psutil, loguru, tinydb) "
        "holds before supervising anything; tui-monitor's own state is the difference.\n"
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
        attached = results.get("tui-monitor, dashboard attached")
        ui = results.get(DASHBOARD)
        goals.append(
            Goal(
                "with the dashboard attached (recorded)",
                None,
                "not measured (see the log)"
                if attached is None or ui is None
                else f"supervisor {fmt(attached[0])} % CPU (headless {fmt(cpu)} %); the "
                f"dashboard itself {fmt(ui[0])} % CPU, {fmt(ui[1])} MiB RSS",
                recorded=attached is not None and ui is not None,
            )
        )
        floor = results[STACK_FLOOR]
        goals.append(
            Goal(
                "memory above the import floor of its libraries (recorded)",
                None,
                f"RSS {fmt(rss - floor[1])} MiB, PSS {fmt(pss - floor[2])} MiB above "
                f"{fmt(floor[1])} / {fmt(floor[2])} MiB for asyncio, psutil, loguru and tinydb "
                "alone",
                recorded=True,
            )
        )
    return Section("3. Idle cost", body, goals)
