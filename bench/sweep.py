"""The metrics sweep's own cost (issue 6): one sweep over the system, the supervisor and 200
strategies' process trees — the work the supervisor does every `metrics_interval`, in a thread."""

from __future__ import annotations

import statistics
import subprocess
import time

from bench.common import Mode, table
from tui_monitor.metrics import Sampler


def run(mode: Mode) -> str:
    count = int(mode.pick(200, 20))
    sweeps = int(mode.pick(30, 3))
    children = [subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL) for _ in range(count)]
    try:
        sampler = Sampler(["/"])
        roots = {f"s{i}": child.pid for i, child in enumerate(children)}
        sampler.sample(roots)  # the first sweep creates the Process objects
        costs, cpu = [], time.process_time()
        for _ in range(sweeps):
            costs.append(sampler.sample(roots).sweep_seconds)
        cpu = time.process_time() - cpu
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
    median_ms = statistics.median(costs) * 1000
    per_2s = median_ms / 2000 * 100
    rows = [
        [f"sweep with {count} strategies, median ms", median_ms],
        ["sweep max ms", max(costs) * 1000],
        ["CPU ms per sweep (process time)", cpu / sweeps * 1000],
        ["share of one core at the default 2 s interval, %", per_2s],
    ]
    return (
        "## Metrics sweep cost\n\n"
        f"One `Sampler.sample()` over the system, the supervisor and {count} strategy process "
        "trees (one scan of the process table, `Process` objects kept between sweeps), run "
        f"{sweeps} times. The supervisor runs it in a thread every `metrics_interval` (2 s).\n\n"
        + table(["measure", "value"], rows)
        + "\n"
    )


if __name__ == "__main__":
    print(run(Mode(smoke=False)))
