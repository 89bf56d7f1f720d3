"""Run every benchmark scenario side by side and rewrite docs/benchmarks.md (print it with --smoke).

python -m bench              # everything, full sizes (several minutes); writes the doc
python -m bench --smoke      # tiny sizes, well under a minute; prints the doc
python -m bench --only restart idle
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import shlex
import signal
import sys
import time
import traceback
from pathlib import Path

from bench.common import Mode, Section, load_average, machine
from bench.tools import CLEANUP_LOG, TOOLS, Toolbox

#: module name → what it measures, in the issue's order.
SCENARIOS = {
    "restart": "1. Restart latency",
    "heartbeat": "2. Heartbeat-miss detection",
    "idle": "3. Idle cost",
    "logcapture": "4. Log capture",
    "crashloop": "5. Crash loop with default settings",
    "state": "6. State: checkpoints and history",
    "dashboard": "7. Dashboard and command start-up",
    "sweep": "Metrics sweep cost",
    "soak": "8. Soak: memory, descriptors and threads over time",
}
DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def quieter_machine(limit: float) -> float:
    """Wait (bounded) until the 1-minute load is below the core count: the machine is shared
    with other work. Returns the seconds waited."""
    began = time.monotonic()
    cores = os.cpu_count() or 1
    while os.getloadavg()[0] >= cores and time.monotonic() - began < limit:
        time.sleep(1.0)
    return time.monotonic() - began if time.monotonic() - began > 1.5 else 0.0


def run_scenario(name: str, mode: Mode, tools: Toolbox) -> Section:
    module = importlib.import_module(f"bench.{name}")
    params = inspect.signature(module.run).parameters
    result = module.run(mode, tools) if len(params) > 1 else module.run(mode)
    if isinstance(result, str):  # a scenario that returns its markdown whole
        title, _, body = result.partition("\n")
        return Section(title.lstrip("# ").strip(), body.strip())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds; print only")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="only these scenarios")
    parser.add_argument("--no-pm2", action="store_true", help="leave pm2 out")
    parser.add_argument(
        "--install-pm2",
        action="store_true",
        help="install pm2 with npm even in smoke mode (full runs always do)",
    )
    parser.add_argument(
        "--tools", nargs="*", choices=list(TOOLS), help="only these tools (default: all)"
    )
    parser.add_argument("--output", type=Path, help=f"where to write the doc (default {DOC})")
    args = parser.parse_args(argv)
    # SIGTERM (a `kill` of the run) unwinds like Ctrl-C: every scenario's cleanup still runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mode = Mode(smoke=args.smoke)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    load_before = load_average()
    began = time.monotonic()
    wanted = set(args.tools or TOOLS)
    tools = Toolbox(
        mode,
        pm2=not args.no_pm2 and "pm2" in wanted,
        install_pm2=True if args.install_pm2 else None,
    )
    for tool in TOOLS:
        if tool not in wanted:
            tools.skipped[tool] = "left out of this run (--tools)"
    for tool, why in tools.skipped.items():
        print(f"bench: {tool} skipped: {why}", file=sys.stderr)
    sections: list[Section] = []
    failed = []
    for name in args.only or SCENARIOS:
        if not mode.smoke:
            waited = quieter_machine(limit=45.0)
            if waited:
                print(f"bench: waited {waited:.0f} s for the load to drop", file=sys.stderr)
        start = time.monotonic()
        load_start = os.getloadavg()[0]
        print(f"bench: {name} ... (load {load_start:.2f})", file=sys.stderr, flush=True)
        try:
            section = run_scenario(name, mode, tools)
            section.body += (
                f"\nLoad average (1 min) when this scenario started / ended: {load_start:.2f} / "
                f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} cores).\n"
            )
            sections.append(section)
        except Exception:
            failed.append(name)
            sections.append(
                Section(
                    SCENARIOS[name],
                    "The scenario failed in this run:\n\n```\n" + traceback.format_exc() + "```\n",
                )
            )
            traceback.print_exc()
        print(f"bench: {name} done in {time.monotonic() - start:.1f} s", file=sys.stderr)
    total = time.monotonic() - began
    versions = "\n".join(f"  - {tool}: {v}" for tool, v in tools.versions.items())
    skipped = "".join(f"\n  - {tool}: skipped — {why}" for tool, why in tools.skipped.items())
    if mode.smoke:  # tiny sizes: the harness runs, the numbers judge nothing
        for section in sections:
            for goal in section.goals:
                goal.met = None
                goal.evidence = "smoke sizes, no verdict: " + goal.evidence
    goals = [(s.title, g) for s in sections for g in s.goals]
    summary = "\n".join(
        f"| {title} | {g.text} | {g.verdict} | {g.evidence} |" for title, g in goals
    )
    cleanup = (
        "\n".join(f"- {line}" for line in CLEANUP_LOG)
        or "- nothing: every supervisor stopped its children itself"
    )
    text = (
        "# Benchmarks\n\n"
        "Generated by `make bench` (`python -m bench`); do not edit by hand.\n\n"
        f"- Machine: {machine()}\n"
        f"- Load average (1/5/15 min) before: {load_before}; after: {load_average()} — the "
        "machine is shared with other work, so read ratios measured in the same run, not "
        "absolute times\n"
        f"- Command: `{command.strip()}` ({total / 60:.1f} min)\n"
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
        f"- Versions:\n{versions}{skipped}\n\n"
        "Every scenario runs each tool in turn on the same child programs (bench/children/), "
        "started by the tool's real command line on generated configuration, in a temporary "
        "folder; every process started carries a marker in its environment and is killed and "
        "checked gone (psutil) at the end of the scenario. Times come from the children's own "
        "`time.time()` stamps. Medians and ratios are the claims; single absolute times are "
        "not.\n\n"
        "## Goals\n\n| scenario | goal | verdict | numbers |\n|---|---|---|---|\n"
        + summary
        + "\n\n"
        + "\n".join(s.markdown() for s in sections)
        + "\n## Clean-up\n\nProcesses that had to be killed after a tool's graceful stop "
        "(none of them remained afterwards):\n\n" + cleanup + "\n"
    )
    if args.smoke and args.output is None:
        print(text)
    else:
        out = args.output or DOC
        out.write_text(text)
        print(f"bench: wrote {out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
