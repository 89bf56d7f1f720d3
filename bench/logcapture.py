"""Scenario 4, log capture: 4 strategies × 1,000,000 lines of 100 bytes as fast as they can
(Python, normal buffered stdout). Seconds from the first writer's start until every byte is in
the files (rotated ones included), MB/s, lines lost or damaged (each line carries its writer and
sequence number, checked one by one), the supervisor's CPU. tui-monitor with rotation on
(50 MiB × 20 backups), supervisord with the same, pm2 (no rotation without its logrotate module),
and the floor: plain shell redirection (`sh -c 'exec python writer.py > file'`)."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import (
    BenchTimeout,
    Goal,
    Mode,
    Section,
    child_argv,
    fmt,
    fmt_ratio,
    ratio,
    ratio_table,
    read_stamps,
    table,
)
from bench.procs import cpu_seconds
from bench.tools import TOOLS, Program, Running, Toolbox, supervised

LINE = 100
ROTATION = {"max_bytes": 50 * 2**20, "backups": 20}
LABELS = {"floor": "shell redirection (floor)"}


def total_bytes(running: Running, names: list[str]) -> int:
    total = 0
    for name in names:
        for path in running.log_files(name):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                pass  # renamed by a rotation between listing and stat: seen on the next poll
    return total


def verify(running: Running, names: list[str], count: int) -> tuple[int, int, int]:
    """(lines found, lines lost, lines damaged or duplicated), checked line by line."""
    found = damaged = 0
    seen: dict[str, Counter[int]] = {name: Counter() for name in names}
    for name in names:
        for path in running.log_files(name):
            with open(path, "rb") as file:
                data = file.read()
            lines = data.split(b"\n")
            if lines and lines[-1] == b"":
                lines.pop()
            found += len(lines)
            for line in lines:
                tag, _, rest = line.partition(b" ")
                if len(line) != LINE - 1 or tag.decode(errors="replace") != name:
                    damaged += 1
                    continue
                seen[name][int(rest[:9])] += 1
    lost = 0
    for name in names:
        counter = seen[name]
        lost += sum(1 for i in range(count) if i not in counter)
        damaged += sum(n - 1 for n in counter.values() if n > 1)
    return found, lost, damaged


def measure(tools: Toolbox, tool: str, mode: Mode) -> dict[str, float | int | str]:
    writers = 4
    count = int(mode.pick(1_000_000, 10_000))
    limit = mode.pick(300, 30)
    names = [f"w{i}" for i in range(writers)]
    expected = writers * count * LINE
    with tempfile.TemporaryDirectory(prefix=f"bench-logs-{tool}-") as tmp:
        folder = Path(tmp)
        stamps = folder / "stamps"
        stamps.mkdir()
        programs = [
            Program(
                name,
                child_argv("writer", stamps / f"{name}.txt", count, name),
                {
                    "tui-monitor": {
                        "log_max_bytes": ROTATION["max_bytes"],
                        "log_backups": ROTATION["backups"],
                    },
                    "supervisord": {
                        "stdout_logfile_maxbytes": ROTATION["max_bytes"],
                        "stdout_logfile_backups": ROTATION["backups"],
                    },
                    "floor": {"shell": True},
                },
            )
            for name in names
        ]
        note = ""
        with supervised(tools, tool, folder / "run", programs, "once", scenario="logs") as sup:
            deadline = time.monotonic() + limit
            cpu0 = None
            done_at = None
            while time.monotonic() < deadline:
                if cpu0 is None and any(read_stamps(p) for p in stamps.glob("*.txt")):
                    cpu0 = cpu_seconds(sup.procs())
                if total_bytes(sup, names) >= expected:
                    done_at = time.time()
                    break
                time.sleep(0.005)
            cpu1 = cpu_seconds(sup.procs())
            if done_at is None:
                note = f"not complete after {limit:g} s"
                done_at = time.time()
            starts = [t for p in stamps.glob("*.txt") for k, t in read_stamps(p) if k == "S"]
            ends = [t for p in stamps.glob("*.txt") for k, t in read_stamps(p) if k == "E"]
            found, lost, damaged = verify(sup, names, count)
            files = sum(len(sup.log_files(n)) for n in names)
        if not starts:
            raise BenchTimeout(f"{tool}: no writer started")
        seconds = done_at - min(starts)
        writer_s = (max(ends) - min(starts)) if len(ends) == writers else float("nan")
        return {
            "seconds": seconds,
            "mbps": expected / 1e6 / seconds,
            "writers_done": writer_s,
            "found": found,
            "lost": lost,
            "damaged": damaged,
            "files": files,
            "cpu_s": cpu1 - (cpu0 or 0.0),
            "cpu_pct": (cpu1 - (cpu0 or 0.0)) / seconds * 100,
            "note": note,
        }


#: Rounds per tool, taking turns (in alternating order): one 7-second sample per tool put
#: supervisord above plain shell redirection in one run and below it in the next.
ROUNDS = 3


def run(mode: Mode, tools: Toolbox) -> Section:
    rounds = int(mode.pick(ROUNDS, 1))
    chosen = tools.use(TOOLS)
    samples: dict[str, list[dict[str, float | int | str]]] = {LABELS.get(t, t): [] for t in chosen}
    for n in range(rounds):
        for tool in chosen if n % 2 == 0 else list(reversed(chosen)):
            label = LABELS.get(tool, tool)
            r = measure(tools, tool, mode)
            samples[label].append(r)
            print(
                f"bench: logs round {n + 1}/{rounds} {label}: {r['mbps']:.0f} MB/s, "
                f"lost {r['lost']}",
                flush=True,
            )
    # Each tool's row is its median round by throughput; lines lost are summed over all rounds.
    results: dict[str, dict[str, float | int | str]] = {}
    for label, runs in samples.items():
        row = dict(sorted(runs, key=lambda r: float(r["mbps"]))[len(runs) // 2])
        row["lost"] = sum(int(r["lost"]) for r in runs)
        row["damaged"] = sum(int(r["damaged"]) for r in runs)
        if len(runs) > 1:
            each = ", ".join(fmt(r["mbps"]) for r in runs)
            row["note"] = "; ".join(x for x in (str(row["note"]), f"MB/s by round: {each}") if x)
        results[label] = row
    floor = results.get(LABELS["floor"], {})
    rows = [
        [
            label,
            r["seconds"],
            r["mbps"],
            fmt_ratio(ratio(r["mbps"], floor.get("mbps"))),  # type: ignore[arg-type]
            r["writers_done"],
            r["found"],
            r["lost"],
            r["damaged"],
            r["files"],
            r["cpu_s"],
            r["cpu_pct"],
            r["note"],
        ]
        for label, r in results.items()
    ]
    count = int(mode.pick(1_000_000, 10_000))
    values = {label: (r["seconds"], r["mbps"], r["cpu_s"]) for label, r in results.items()}
    body = (
        f"4 writers × {count:,} lines × {LINE} B = {4 * count * LINE / 1e6:,.0f} MB, as fast as "
        "Python's buffered stdout goes. Seconds from the first writer's start until the files "
        "hold every byte; MB = 10⁶ bytes. tui-monitor and supervisord rotate at 50 MiB with 20 "
        "backups; pm2 does not rotate. Lost/damaged are checked line by line (writer tag and "
        "sequence number). "
        + (
            f"Each tool ran {rounds} times, taking turns; its row is its median round by "
            "throughput, and lost/damaged count every round.\n\n"
            if rounds > 1
            else "\n\n"
        )
        + tools.skipped_note(TOOLS)
        + table(
            [
                "tool",
                "seconds",
                "MB/s",
                "÷ shell",
                "writers done s",
                "lines in files",
                "lost",
                "damaged/dup",
                "files",
                "supervisor CPU s",
                "CPU % of a core",
                "note",
            ],
            rows,
        )
        + "\n\n"
        + ratio_table(["seconds", "MB/s", "supervisor CPU s"], values, "tui-monitor")
        + "\n\nWhat the numbers mean: with shell redirection the children write straight into "
        "the file, so its time is the writers' own; a supervisor copies every byte from a pipe "
        "into the file and can only match that if the copy keeps ahead of the writers. "
        "'writers done' shows whether a slow reader made the writers block on a full pipe.\n"
    )
    goals = []
    if "tui-monitor" in results:
        r = results["tui-monitor"]
        goals.append(
            Goal(
                "zero lines lost",
                r["lost"] == 0 and r["damaged"] == 0,
                f"{fmt(r['found'])} lines in {r['files']} files, {r['lost']} lost, "
                f"{r['damaged']} damaged",
            )
        )
        shell = floor.get("mbps")
        sup = results.get("supervisord", {}).get("mbps")
        ok_shell = shell is not None and r["mbps"] >= 0.8 * shell  # type: ignore[operator]
        ok_sup = sup is None or r["mbps"] >= sup  # type: ignore[operator]
        goals.append(
            Goal(
                "throughput at least supervisord's and at least 80 % of shell redirection",
                ok_shell and ok_sup,
                f"tui-monitor {fmt(r['mbps'])} MB/s = {fmt_ratio(ratio(r['mbps'], shell))} "  # type: ignore[arg-type]
                f"shell's {fmt(shell)} MB/s"
                + (f", {fmt_ratio(ratio(r['mbps'], sup))} supervisord's {fmt(sup)}" if sup else ""),  # type: ignore[arg-type]
            )
        )
    return Section("4. Log capture", body, goals)
