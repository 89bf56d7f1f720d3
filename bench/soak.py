"""The accelerated soak: a real supervisor (`python -m tui_monitor run --no-ui`) under constant
churn for minutes — thousands of restarts, missed heartbeats, a heartbeat and checkpoint storm,
durable checkpoints, rotating output, a client polling the control socket — while its resident
memory, open file descriptors and threads are sampled. Goal: flat after warm-up.

    python -m bench.soak --seconds 300         # a table over time, a verdict (exit 1: not flat)
    python -m bench.soak --seconds 300 --json  # the samples, for plotting

`soak()` is what `tests/test_reliability_soak.py` calls for its five-second version; `run(mode)`
is the scenario entry point of `python -m bench` (5 s with --smoke, 5 minutes otherwise), once
"soak" is listed in bench/__main__.py's SCENARIOS.

Self-contained (standard library, psutil and tui_monitor only): it does not share the helpers of
the comparative benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
MARK_ENV = "TUI_MONITOR_SOAK_MARK"

#: The strategies. `crash*` restart as fast as the supervisor lets them (resume, a durable
#: checkpoint, exit 1); `beater` heartbeats and checkpoints in a storm; `hanger` stops
#: heartbeating now and then and is killed on its deadline; `talker` writes lines that rotate.
CRASHER = """
    import sys
    from tui_monitor import client
    state = client.resume_state() or {"n": 0}
    client.checkpoint({"n": state["n"] + 1}, durable=True)
    client.heartbeat("about to crash")
    sys.exit(1)
"""
BEATER = """
    import time
    from tui_monitor import client
    state = client.resume_state() or {"n": 0}
    n = state["n"]
    while True:
        n += 1
        client.heartbeat(f"n={n}", progress=(n % 1000) / 1000)
        client.checkpoint({"n": n, "pad": "b" * 500}, durable=n % 500 == 0)
        time.sleep(0.002)
"""
HANGER = """
    import time
    from tui_monitor import client
    for i in range(20):
        client.heartbeat(f"i={i}")
        time.sleep(0.02)
    time.sleep(3600)  # silent: killed at its deadline, restarted
"""
TALKER = """
    import sys, time
    i = 0
    while True:
        lines = (f"line {i + k} of the talker, some padding to rotate\\n" for k in range(100))
        sys.stdout.write("".join(lines))
        sys.stdout.flush()
        i += 100
        time.sleep(0.01)
"""


@dataclass
class Sample:
    at: float  # seconds since the supervisor answered
    rss_mb: float
    fds: int
    threads: int
    restarts: int  # total automatic restarts so far (all strategies)
    checkpoint: int  # the beater's newest checkpoint on disk


@dataclass
class Result:
    seconds: float
    warmup: float
    samples: list[Sample] = field(default_factory=list)
    exit_code: int | None = None
    requests: int = 0
    leftovers: int = 0

    def after_warmup(self) -> list[Sample]:
        return [s for s in self.samples if s.at >= self.warmup]

    def growth(self) -> dict[str, float]:
        """How much each measure rose from the first third after warm-up to the last third: the
        floor (minimum) for descriptors and threads, which transients only ever add to; the mean
        for memory. Zero or less is flat."""
        later = self.after_warmup()
        third = len(later) // 3
        if third < 1:
            return {"rss_mb": 0.0, "fds": 0.0, "threads": 0.0}
        early, late = later[:third], later[-third:]

        def mean(xs: list[float]) -> float:
            return sum(xs) / len(xs)

        return {
            "rss_mb": round(mean([s.rss_mb for s in late]) - mean([s.rss_mb for s in early]), 2),
            "fds": min(s.fds for s in late) - min(s.fds for s in early),
            "threads": min(s.threads for s in late) - min(s.threads for s in early),
        }

    @property
    def restarts(self) -> int:
        return self.samples[-1].restarts if self.samples else 0


def _toml(value: Any) -> str:
    return json.dumps(value)  # strings, numbers, lists, booleans: JSON spells them like TOML


def write_config(folder: Path) -> Path:
    common = {
        "start_seconds": 0.01,
        "stop_timeout": 2,
        "restart_window": 1,
        "max_restarts": 1_000_000,
    }
    rotating = {"log_max_bytes": 256 * 1024, "log_backups": 3}
    strategies = {
        "crash1": {**common, "restart_delay": 0, "heartbeat_timeout": 0},
        "crash2": {**common, "restart_delay": 0, "heartbeat_timeout": 0},
        "beater": {**common, "restart_delay": 0.1, "heartbeat_timeout": 2},
        "hanger": {**common, "restart_delay": 0, "heartbeat_timeout": 0.3},
        "talker": {**common, "restart_delay": 0.1, "heartbeat_timeout": 0, **rotating},
    }
    sources = {
        "crash1": CRASHER,
        "crash2": CRASHER,
        "beater": BEATER,
        "hanger": HANGER,
        "talker": TALKER,
    }
    lines = ["[monitor]", "metrics_interval = 0.5", "history_limit = 2000"]
    for name, keys in strategies.items():
        program = folder / f"{name}.py"
        program.write_text(textwrap.dedent(sources[name]))
        lines.append(f"\n[strategies.{name}]")
        lines.append(f"command = {_toml([sys.executable, str(program)])}")
        lines += [f"{key} = {_toml(value)}" for key, value in keys.items()]
    path = folder / "tui-monitor.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _request(path: Path, op: str, **args: Any) -> Any:
    """One request on the control socket (a fresh connection each time, like the CLI)."""
    from tui_monitor.control.sockaddr import unix_address

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        with unix_address(path) as address:
            sock.connect(address)
        sock.sendall(json.dumps({"v": 1, "id": 1, "op": op, **args}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    answer = json.loads(data)
    if not answer.get("ok"):
        raise RuntimeError(f"{op}: {answer}")
    return answer["result"]


def _marked(mark: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            mine = proc.pid != os.getpid() and proc.environ().get(MARK_ENV) == mark
            if mine and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def soak(
    seconds: float,
    *,
    interval: float = 1.0,
    warmup: float | None = None,
    folder: Path | None = None,
    report: Any = None,
) -> Result:
    """Soak a real supervisor for `seconds`; `report(sample)` is called as samples come."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="tui-monitor-soak-")) if own else folder
    assert folder is not None
    config = write_config(folder)
    socket_path = folder / "state" / "control.sock"
    mark = os.urandom(8).hex()
    env = {**os.environ, "PYTHONPATH": str(ROOT), MARK_ENV: mark}
    result = Result(seconds, warmup if warmup is not None else min(60.0, seconds * 0.4))
    err = open(folder / "supervisor.err", "wb")  # noqa: SIM115 - closed in the finally
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_monitor", "run", "--no-ui", "--config", str(config)],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
        start_new_session=True,
    )
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _request(socket_path, "hello")
                break
            except (OSError, ValueError, RuntimeError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the supervisor did not start") from None
                time.sleep(0.05)
        me = psutil.Process(proc.pid)
        began = time.monotonic()

        def poll_control() -> None:  # a client asking what views ask, all the time
            ops = [
                ("snapshot", {}),
                ("health", {"detailed": True}),
                ("events", {"limit": 100}),
                ("log_lines", {"name": "talker", "limit": 200}),
                ("runs", {"limit": 20}),
            ]
            i = 0
            while not stop.wait(0.05):
                op, args = ops[i % len(ops)]
                i += 1
                with contextlib.suppress(OSError, ValueError, RuntimeError):
                    _request(socket_path, op, **args)
                    result.requests += 1

        poller = threading.Thread(target=poll_control, daemon=True)
        poller.start()
        while True:
            now = time.monotonic() - began
            snapshot = _request(socket_path, "snapshot")
            restarts = sum(s["total_restarts"] for s in snapshot["strategies"])
            try:
                beater = json.loads((folder / "state" / "strategy_beater.json").read_bytes())
                checkpoint = (beater.get("checkpoint") or {}).get("n", 0)
            except (OSError, ValueError):
                checkpoint = -1
            fds, threads = [], []
            for _ in range(3):  # the least of three readings: descriptors in flight pass
                fds.append(me.num_fds())
                threads.append(me.num_threads())
                time.sleep(0.01)
            sample = Sample(
                round(now, 2),
                round(me.memory_info().rss / 2**20, 2),
                min(fds),
                min(threads),
                restarts,
                checkpoint,
            )
            result.samples.append(sample)
            if report is not None:
                report(sample)
            if now >= seconds:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - began - now)))
        stop.set()
        poller.join(timeout=15)
        proc.send_signal(signal.SIGTERM)
        result.exit_code = proc.wait(timeout=60)
        time.sleep(0.2)
        result.leftovers = len(_marked(mark))
        return result
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for leftover in _marked(mark):
            with contextlib.suppress(psutil.Error):
                leftover.kill()
        err.close()
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def flat(result: Result, *, rss_mb: float = 10.0, fds: int = 4, threads: int = 2) -> bool:
    growth = result.growth()
    return growth["rss_mb"] <= rss_mb and growth["fds"] <= fds and growth["threads"] <= threads


def table(result: Result, every: int = 1) -> str:
    """The samples as a markdown table (every `every`-th, and the last)."""
    rows = ["| t (s) | RSS (MB) | open fds | threads | restarts | checkpoint on disk |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    picked = result.samples[::every]
    if result.samples and picked[-1] is not result.samples[-1]:
        picked.append(result.samples[-1])
    for s in picked:
        rows.append(f"| {s.at:.0f} | {s.rss_mb:.1f} | {s.fds} | {s.threads} | {s.restarts:,} "
                    f"| {s.checkpoint:,} |")  # fmt: skip
    return "\n".join(rows)


def verdict(result: Result) -> str:
    growth = result.growth()
    ok = flat(result) and result.exit_code == 0 and result.leftovers == 0
    return (
        f"{result.restarts:,} restarts and {result.requests:,} control requests in "
        f"{result.seconds:g} s; from the first to the last third after {result.warmup:g} s of "
        f"warm-up: RSS {growth['rss_mb']:+.1f} MB, open fds {growth['fds']:+.0f}, threads "
        f"{growth['threads']:+.0f} (floors); exit code {result.exit_code}, processes left "
        f"{result.leftovers}: **{'flat' if ok else 'NOT FLAT'}**"
    )


def run(mode: Any) -> str:
    """`python -m bench` scenario: a markdown section."""
    seconds = 5.0 if getattr(mode, "smoke", False) else 300.0
    result = soak(seconds, interval=max(0.5, seconds / 60))
    return (
        "## 8. Soak: memory, descriptors and threads over time\n\n"
        "A real supervisor under constant churn (bench/soak.py; `python -m bench.soak --seconds N` "
        "runs it alone).\n\n" + verdict(result) + "\n\n" + table(result, every=5) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=300, help="how long (default 300)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=None, help="seconds not judged")
    parser.add_argument("--dir", type=Path, default=None, help="keep state and logs here")
    parser.add_argument("--json", action="store_true", help="print the samples as JSON")
    args = parser.parse_args(argv)
    interval = args.interval or max(1.0, args.seconds / 60)
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
    header = f"{'t (s)':>8} {'RSS MB':>8} {'fds':>5} {'threads':>7} {'restarts':>9} {'ckpt':>9}"

    def show(s: Sample) -> None:
        if not args.json:
            print(f"{s.at:8.1f} {s.rss_mb:8.1f} {s.fds:5d} {s.threads:7d} {s.restarts:9d} "
                  f"{s.checkpoint:9d}", flush=True)  # fmt: skip

    if not args.json:
        print(f"soak: {args.seconds:g} s, a sample every {interval:g} s", flush=True)
        print(header, flush=True)
    result = soak(args.seconds, interval=interval, warmup=args.warmup, folder=args.dir, report=show)
    ok = flat(result) and result.exit_code == 0 and result.leftovers == 0
    if args.json:
        print(json.dumps({**asdict(result), "growth": result.growth(), "flat": ok}, indent=1))
    else:
        print("\n" + verdict(result).replace("**", ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
