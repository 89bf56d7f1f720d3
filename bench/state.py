"""Scenario 6, state: checkpoints per second a strategy can save, and the history's write cost
with 10 and with 100,000 past runs recorded (it must be flat)."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench.common import Mode, median_ms, percentile, table
from tui_monitor.atomic import atomic_write_json
from tui_monitor.config import load_config
from tui_monitor.engine import Engine
from tui_monitor.history import SEGMENT_SIZE, History
from tui_monitor.jobs import JobRecord, JobStatus

STRATEGY = """
import time
from tui_monitor import client
n = 0
end = time.monotonic() + {seconds}
while time.monotonic() < end:
    n += 1
    client.checkpoint({{"n": n, "book": [[71200 + i, 10] for i in range(20)]}})
client.checkpoint({{"n": n, "final": True}}, durable=True)
print(n, flush=True)
"""


def _atomic_write_cost(rounds: int, folder: Path) -> list[float]:
    record = JobRecord("strategy_x", "x", JobStatus.RUNNING, checkpoint={"book": list(range(50))})
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        atomic_write_json(folder / "strategy_x.json", record.to_dict())
        samples.append(time.perf_counter() - began)
    return samples


async def _checkpoint_rate(folder: Path, seconds: float) -> tuple[int, int, dict]:
    script = folder / "cp.py"
    script.write_text(textwrap.dedent(STRATEGY.format(seconds=seconds)))
    config = folder / "tui-monitor.toml"
    config.write_text(
        f"[strategies.cp]\ncommand = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]\n"
        'kind = "task"\nheartbeat_timeout = 0\n'
    )
    engine = Engine(load_config(config))
    await engine.start()
    writes = 0
    job_path = folder / "state" / "strategy_cp.json"
    last_mtime = 0
    try:
        while engine.runners["cp"].state.value not in ("exited", "fatal"):
            await asyncio.sleep(0.01)
            try:
                mtime = job_path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if mtime != last_mtime:
                writes += 1
                last_mtime = mtime
    finally:
        await engine.shutdown()
    sent = int((folder / "logs" / "strategies" / "cp.log").read_text().split()[-1])
    final = json.loads(job_path.read_text())["checkpoint"]
    return sent, writes, final


async def _history_flush_cost(folder: Path, past: int, rounds: int) -> list[float]:
    history = History(folder, limit=5000, on_problem=print)
    history.start()
    run = {"strategy": "a", "exit_code": 1, "reason": "crashed", "checkpoint": {"n": 1}}
    for i in range(past):
        history.add("runs", {**run, "i": i})
        if i % 5000 == 4999:
            await history.flush()
    await history.flush()
    samples = []
    for _ in range(rounds):
        for _ in range(10):
            history.add("runs", run)
        began = time.perf_counter()
        await history.flush()
        samples.append(time.perf_counter() - began)
    await history.close()
    return samples


def run(mode: Mode) -> str:
    seconds = mode.pick(3.0, 0.5)
    rounds = int(mode.pick(200, 10))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        writes = _atomic_write_cost(rounds, folder)
        sent, disk_writes, final = asyncio.run(_checkpoint_rate(folder, seconds))
    assert final.get("final") is True, "the durable last checkpoint must be on disk"
    hist = {}
    for past in (10, int(mode.pick(100_000, 2_000))):
        with tempfile.TemporaryDirectory() as tmp:
            hist[past] = asyncio.run(_history_flush_cost(Path(tmp), past, rounds))
    small, big = hist.values()
    ratio = median_ms(big) / median_ms(small)
    rows = [
        ["job file write (atomic, 2 fsyncs), median ms", median_ms(writes)],
        ["job file write p95 ms", percentile(writes, 95) * 1000],
        ["checkpoints/s sent by one strategy (coalesced)", sent / seconds],
        ["job-file writes/s that took (coalescing)", disk_writes / seconds],
    ]
    for past, samples in hist.items():
        rows.append(
            [f"history write of 10 runs with {past:,} past runs, median ms", median_ms(samples)]
        )
    rows.append(["ratio big/small history write (flat = ~1)", ratio])
    return (
        "## 6. State: checkpoints and history\n\n"
        f"A strategy checkpoints a 20-level book as fast as it can for {seconds:g} s, through a "
        "real engine; the last checkpoint is durable and checked on disk. History writes are "
        f"batches of 10 run records; TinyDB is kept in segments of {SEGMENT_SIZE:,} records "
        "(retention 5,000), so a write rewrites one small segment whatever the history's "
        "size.\n\n" + table(["measure", "value"], rows) + "\n"
    )
