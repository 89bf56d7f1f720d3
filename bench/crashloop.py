"""Scenario 5, crash loop with each tool's DEFAULT settings: one strategy that exits with status 1
at once. Restarts in the window (counted from the child's own start stamps), the final state as
the tool reports it (`tui-monitor status --json`, `supervisorctl status`, `pm2 jlist`), and the
supervisor's CPU over the window. One more tui-monitor row with only `restart_delay = 1` changed
shows the documented give-up (`max_restarts = 5` within `restart_window`) inside the window."""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path

from bench.common import Goal, Mode, Section, child_argv, fmt, read_stamps, table
from bench.procs import cpu_seconds
from bench.tools import Program, Toolbox, supervised, wait_started

#: (label, tool, per-tool overrides of the defaults, window share)
VARIANTS = [
    ("tui-monitor (defaults)", "tui-monitor", {}),
    ("tui-monitor (defaults, restart_delay = 1)", "tui-monitor", {"restart_delay": 1}),
    ("supervisord (defaults)", "supervisord", {}),
    ("pm2 (defaults)", "pm2", {}),
]
#: What tui-monitor's documentation promises (README, [strategies.NAME] defaults).
DOC_DELAY, DOC_MAX = 60.0, 5


def measure(tools: Toolbox, tool: str, extra: dict, mode: Mode) -> dict:
    window = mode.pick(60.0, 1.0)
    with tempfile.TemporaryDirectory(prefix=f"bench-crash-{tool}-") as tmp:
        folder = Path(tmp)
        stamps = folder / "stamps"
        stamps.mkdir()
        stamp = stamps / "crash.txt"
        programs = [Program("crash", child_argv("exit_now", stamp), {tool: extra})]
        with supervised(tools, tool, folder / "run", programs, "defaults", scenario="crash") as sup:
            wait_started(stamps, 1, timeout=mode.pick(60, 20))
            first = read_stamps(stamp)[0][1]
            procs = sup.procs()
            cpu0 = cpu_seconds(procs)
            time.sleep(max(0.0, first + window - time.time()))
            cpu1 = cpu_seconds(procs)
            starts = [t for k, t in read_stamps(stamp) if k == "S" and t <= first + window]
            asked = time.time()
            state = sup.state("crash")
            answered = time.time()
            # The state is of the moment it was asked: a start just after the window counts there.
            before = [t for k, t in read_stamps(stamp) if k == "S" and t <= answered]
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        return {
            "restarts": len(starts) - 1,
            "per_min": (len(starts) - 1) / window * 60,
            "last_start_s": starts[-1] - first,
            "min_gap": min(gaps) if gaps else None,
            "state": state,
            "cpu_pct": (cpu1 - cpu0) / window * 100,
            "cpu_s": cpu1 - cpu0,
            "window": window,
            "since_last_start": (asked + answered) / 2 - before[-1],
        }


def run(mode: Mode, tools: Toolbox) -> Section:
    results: dict[str, dict] = {}
    for label, tool, extra in VARIANTS:
        if tools.has(tool):
            results[label] = measure(tools, tool, extra, mode)
            r = results[label]
            print(f"bench: crash {label}: {r['restarts']} restarts, {r['state']}", flush=True)
    rows = []
    for label, r in results.items():
        state = r["state"]
        shown = state.get("state")
        if state.get("next_start_in") is not None:
            shown += f" (next start in {state['next_start_in']:.1f} s)"
        rows.append(
            [
                label,
                r["restarts"],
                r["per_min"],
                r["last_start_s"],
                r["min_gap"],
                shown,
                r["cpu_s"],
                r["cpu_pct"],
            ]
        )
    window = mode.pick(60.0, 1.0)
    body = (
        "A strategy that prints one line and exits with status 1 at once; every tool with its own "
        f"defaults. Window: {window:g} s from the first start. 'last start' is when the last "
        "start in the window happened, counted from the first; 'min gap' the shortest time "
        "between two starts. State as the tool reports it at the end of the window.\n\n"
        + tools.skipped_note(("supervisord", "pm2"))
        + table(
            [
                "tool",
                "restarts",
                "per minute",
                "last start s",
                "min gap s",
                "state at the end",
                "supervisor CPU s",
                "CPU % of a core",
            ],
            rows,
        )
        + "\n\nWhat the numbers mean: supervisord gives up after `startretries = 3` (`startsecs = "
        "1` is never reached) and pm2 after its `max_restarts` of fast (< `min_uptime`) "
        "restarts; tui-monitor's defaults wait a minute between restarts (`restart_delay = 60`) "
        "and give up after 5 within 600 s, so in a one-minute window it starts once and is in "
        "`backoff`. With `restart_delay = 1` the same policy plays out in seconds: 5 restarts, "
        "then `fatal`.\n"
    )
    goals = []
    default = results.get("tui-monitor (defaults)")
    fast = results.get("tui-monitor (defaults, restart_delay = 1)")
    if default is not None:
        st = default["state"]
        waited = default["since_last_start"]
        next_in = st.get("next_start_in")
        # Documented: restart DOC_DELAY after the exit. The child exits right after its start.
        consistent = next_in is not None and abs(waited + next_in - DOC_DELAY) < 2.0
        policy_ok = default["restarts"] == 0 and st.get("state") == "backoff" and consistent
        if fast is not None:
            policy_ok = (
                policy_ok
                and fast["restarts"] == DOC_MAX
                and fast["state"].get("state") == "fatal"
                and (fast["min_gap"] or 0) >= 0.95
            )
        cheap = default["cpu_pct"] < 0.5
        sup = results.get("supervisord (defaults)")
        evidence = (
            f"defaults: {default['restarts']} restarts in {fmt(default['window'])} s, "
            f"`{st.get('state')}`, next start in {fmt(next_in)} s (documented: "
            f"{DOC_DELAY:g} s after the exit); "
        )
        if fast is not None:
            evidence += (
                f"restart_delay = 1: {fast['restarts']} restarts then `"
                f"{fast['state'].get('state')}` (documented: {DOC_MAX}, then fatal), shortest gap "
                f"{fmt(fast['min_gap'])} s; "
            )
        evidence += f"CPU while waiting {fmt(default['cpu_pct'])} % of a core"
        if sup is not None:
            evidence += f" (supervisord {fmt(sup['cpu_pct'])} %)"
        goals.append(
            Goal(
                "does what its documented policy says and costs next to nothing while it waits "
                "(< 0.5 % of a core)",
                policy_ok and cheap,
                evidence,
            )
        )
    return Section("5. Crash loop with default settings", body, goals)
