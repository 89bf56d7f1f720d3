"""Scenario 7, the dashboard and command start-up.

- 200 strategies printing 5 lines/s each (1,000 log lines/s) under a headless `tui-monitor run`,
  their live tails full (each prints 2,000 lines first, as after 400 s of that load).
  The dashboard (`MonitorApp`, attached through its control socket like `tui-monitor attach`)
  runs in this process under Textual's pilot: key press (cursor down/up in the strategy table) →
  the first frame the compositor produces with the cursor moved, encoded to terminal bytes as a
  real terminal write would be; and this process's CPU — the dashboard alone, the supervisor is
  another process — while the log lines flow. Twice: the log panel following the selected
  strategy, then following all strategies (key `a`), which asks the supervisor for every
  strategy's new lines 5 times a second. For both, the supervisor's CPU and the round trip of a
  control-socket `hello` while the dashboard follows: in `run` mode the supervisor's event loop
  is the screen's, so a busy loop there is a late key press.
- Flood, on the same supervisor: one more strategy (`zflood`, not started until then) printing
  ~100-byte lines at twice the 100,000 lines/s the issue names (it counts what it printed: the
  lines/s are reported), the dashboard attached as above, following that strategy (the cursor
  on `zflood`; each key press moves it off, then the cursor is put back without a key and the
  log follows `zflood` again for a feed tick before the next press), then following all
  strategies: the same key press and CPU measures. The supervisor's capture is another
  process's, so what is measured is what the flood costs the screen: the log tail must stay
  bounded and batched.
- Run mode: `tui-monitor run` with the screen — `MonitorApp` hosting the engine on its own event
  loop in this process (as `tui_monitor.dashboard.hosting_app` builds it) — over the same 200
  strategies and 1,000 lines/s with full tails, following the selected strategy: key press →
  screen updated, and this process's CPU, which is the engine's and the screen's together.
- Start-up of the commands operators type: `tui-monitor --help` and `tui-monitor status` against
  the running supervisor, next to `supervisorctl` and `pm2` against theirs with the same 200
  strategies, and the bare interpreter (`python -c pass`) as the floor. Median of N runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    PYTHON,
    Goal,
    Mode,
    Section,
    child,
    fmt,
    fmt_ratio,
    percentile,
    ratio,
    table,
    wait_until,
)
from bench.procs import MARK, Tracker, cpu_seconds
from bench.tools import (
    CLEANUP_LOG,
    TUI_POLICIES,
    Program,
    Toolbox,
    started_count,
    supervised,
    toml_value,
    tui_command,
    wait_started,
)

#: Issue 7: "a key press shows its effect within 100 ms and [the UI] uses well under half a
#: core". Judged on the 95th percentile, and "well under half" read as at most 35 %.
KEY_MS = 100.0
CPU_GOAL = 35.0
#: Issue 7: the log tail is "bounded and batched so a strategy printing 100,000 lines/s cannot
#: freeze the screen".
FLOOD_LINES = 100_000
#: The flood prints at twice that, paced: unpaced it reached ~1,000,000 lines/s, and it and the
#: supervisor's capture took 1.5 of this machine's 2 cores, which measured CPU starvation rather
#: than the dashboard.
FLOOD_RATE = 2 * FLOOD_LINES
FLOOD = "zflood"  # sorts last: the rows measured before the flood never select it
#: The strategy table. By id: `app.query_one(DataTable)` finds the jobs list, which comes first
#: breadth-first (the strategies table is inside a panel).
STRATEGIES = "#strategies"

#: `python -S prefill.py N chatty.py ARGS...`: print N lines in bursts the tail keeps whole (it
#: samples the last 16 KiB of a read), then become chatty.py with its own arguments. A file, not
#: `-c`: supervisord's `command` is one line.
PREFILL = """
import sys, time
n = int(sys.argv[1])
for start in range(0, n, 100):
    burst = range(start, min(n, start + 100))
    sys.stdout.write("".join(f"INFO warm-up {i} price 71200 qty 3\\n" for i in burst))
    sys.stdout.flush()
    time.sleep(0.02)
sys.argv = sys.argv[2:]
exec(compile(open(sys.argv[0]).read(), sys.argv[0], "exec"))
"""

#: `python -S flood.py STAMPS RATE`: 100-byte lines at RATE lines/s, forever; every 0.2 s, once
#: what it printed is in the pipe, "C <lines printed> <time>" to STAMPS.
FLOOD_SCRIPT = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
os.write(fd, b"S %.6f\\n" % time.time())
out = os.fdopen(1, "wb", buffering=1 << 16)
pad = "x" * 60
rate = float(sys.argv[2])
n, mark = 0, time.monotonic()
began = mark
while True:
    out.write("".join([f"INFO flood {i:09d} price 71200 qty 3 {pad}\\n"
                       for i in range(n, n + 1000)]).encode())
    n += 1000
    now = time.monotonic()
    ahead = n / rate - (now - began)
    if ahead > 0:
        time.sleep(ahead)
    if now - mark >= 0.2:
        out.flush()
        os.write(fd, b"C %d %.6f\\n" % (n, time.time()))
        mark = now
"""


def timed_runs(tracker: Tracker, argv: list[str], cwd: Path, runs: int, env=None) -> list[float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        done = tracker.run(argv, cwd=cwd, env=env, timeout=60)
        samples.append(time.perf_counter() - began)
        if done.returncode not in (0, 1, 2):  # --help exits 0 or 2 depending on the tool
            raise RuntimeError(f"{argv}: exit {done.returncode}: {done.stderr[-500:]}")
    return samples


def chatty_programs(folder: Path, stamps: Path, count: int, prefill: int, period: float):
    """The 200 strategies: full tails first, then 5 lines/s each."""
    return [
        Program(
            f"s{i:03d}",
            [
                *(PYTHON, "-S", str(folder / "prefill.py"), str(prefill), child("chatty")),
                *map(str, (stamps / f"s{i:03d}.txt", period)),
            ],
            {"tui-monitor": {"heartbeat_timeout": 0}},
        )
        for i in range(count)
    ]


def write_tui_config(folder: Path, programs: list[Program]) -> Path:
    """The configuration `supervised` writes for tui-monitor under the "defaults" policy (see
    `bench.tools.start_tui`), for the supervisor this process hosts in run mode."""
    lines = ["[monitor]"]
    for p in programs:
        keys = {"command": p.argv, **TUI_POLICIES["defaults"], **p.extra.get("tui-monitor", {})}
        lines.append(f"\n[strategies.{p.name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tui-monitor.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class PilotRun:
    """One pilot measurement: what the dashboard waits for, what it follows, the keys."""

    rows: int  # the strategy table's rows once loaded
    presses: int
    window: float
    follow_all: bool = False
    #: The log follows this strategy (the cursor on it, the last row): each press moves the
    #: cursor off it; then the cursor is put back (no key press, not measured) and the log
    #: follows it again for 0.2-0.4 s (a feed tick) before the next press.
    pin: str | None = None
    supervisor: list[psutil.Process] = field(default_factory=list)
    #: Run mode: every strategy has started printing (then `settle` s for the tails to fill).
    started: Callable[[], bool] | None = None
    settle: float = 0.0


async def _pilot(make_app: Callable[[], Any], sock: Path, run: PilotRun) -> dict[str, Any]:
    from textual.widgets import DataTable

    app = make_app()
    frames: list[tuple[float, int]] = []
    original = app._display

    def display(screen: Any, renderable: Any) -> None:
        original(screen, renderable)
        if renderable is None:
            return
        encode = getattr(renderable, "render_segments", None)
        if encode is not None:  # what a real terminal write costs (headless skips it)
            encode(app.console)
        found = app.screen.query(STRATEGIES)
        table = found.first(DataTable) if found else None
        frames.append((time.perf_counter(), table.cursor_row if table is not None else -1))

    app._display = display  # type: ignore[method-assign]
    result: dict[str, Any] = {}
    try:
        await _drive(app, frames, run, result, sock)
    except Exception as exc:
        if "cpu_keys" not in result:
            raise
        # Measured already; the dashboard failed on the way out (its owner's to fix).
        result["exit_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    finally:
        if app.host is not None:  # run mode: stop every strategy, as quitting would
            try:
                await asyncio.wait_for(app.host.stop("bench over"), 60)
            except Exception as exc:  # the tracker kills whatever is left
                result.setdefault("exit_error", f"stopping: {type(exc).__name__}: {exc}"[:250])
    return result


async def _drive(
    app: Any, frames: list[tuple[float, int]], run: PilotRun, result: dict[str, Any], sock: Path
) -> None:
    from textual.widgets import DataTable

    from tui_monitor.view import SocketView

    me = [psutil.Process()]
    async with app.run_test(size=(200, 60)) as pilot:
        table = app.query_one(STRATEGIES, DataTable)
        log = app.query_one("#log")
        deadline = time.monotonic() + (180 if run.started else 60)
        while table.row_count < run.rows:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the table shows {table.row_count} of {run.rows} strategies")
            await pilot.pause(0.1)
        if run.started is not None:
            while not run.started():
                if time.monotonic() > deadline:
                    raise TimeoutError("the strategies did not all start")
                await pilot.pause(0.2)
            await pilot.pause(run.settle)
        if run.pin is not None:
            table.move_cursor(row=table.get_row_index(run.pin))
            while getattr(log, "following", "?") != run.pin:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the log panel does not follow {run.pin}")
                await pilot.pause(0.05)
        if run.follow_all:
            await pilot.press("a")
            while getattr(log, "following", "?") is not None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the log panel does not follow all strategies")
                await pilot.pause(0.05)
        await pilot.pause(1.0)
        round_trips: list[float] = []
        probe = asyncio.create_task(_probe(SocketView(sock), round_trips))
        main0 = _main_thread_cpu()
        cpu0, sup0, t0 = cpu_seconds(me), cpu_seconds(run.supervisor), time.monotonic()
        await asyncio.sleep(run.window)
        elapsed = time.monotonic() - t0
        cpu_idle = (cpu_seconds(me) - cpu0) / elapsed * 100
        cpu_main = (_main_thread_cpu() - main0) / elapsed * 100
        sup_idle = (cpu_seconds(run.supervisor) - sup0) / elapsed * 100
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        latencies: list[float] = []
        cpu0, t0 = cpu_seconds(me), time.monotonic()
        for i in range(run.presses):
            # Pinned: up, off the pinned strategy (the last row); else 10 down, 10 up.
            key = "up" if run.pin is not None or (i // 10) % 2 else "down"
            before = table.cursor_row
            mark = len(frames)
            began = time.perf_counter()
            await pilot.press(key)
            limit = began + 5
            while time.perf_counter() < limit:
                hit = next((t for t, row in frames[mark:] if row != before), None)
                if hit is not None:
                    latencies.append(hit - began)
                    break
                await asyncio.sleep(0.001)
            await asyncio.sleep(random.uniform(0.1, 0.3))
            if run.pin is not None:
                table.move_cursor(row=table.get_row_index(run.pin))
                while getattr(log, "following", "?") != run.pin:
                    if time.perf_counter() > limit + 5:
                        raise TimeoutError(f"the log panel does not follow {run.pin} again")
                    await asyncio.sleep(0.01)
                await asyncio.sleep(random.uniform(0.2, 0.4))
        cpu_keys = (cpu_seconds(me) - cpu0) / (time.monotonic() - t0) * 100
        result.update(
            latencies=latencies,
            cpu_idle=cpu_idle,
            cpu_main=cpu_main,
            cpu_keys=cpu_keys,
            sup_idle=sup_idle,
            round_trips=round_trips,
            # following one strategy the count starts over at every switch: not kept
            skipped=None if run.pin else getattr(log, "skipped", 0),
        )
        await app.stop_feed()  # before the pilot tears the app down


def _main_thread_cpu() -> float:
    """User + system CPU of this process's main thread (the event loop's)."""
    for thread in psutil.Process().threads():
        if thread.id == os.getpid():  # Linux: the main thread's id is the pid
            return thread.user_time + thread.system_time
    return float("nan")


async def _probe(view: Any, round_trips: list[float]) -> None:
    """A control-socket `hello` every 50 ms: how long the supervisor's loop takes to answer."""
    try:
        while True:
            began = time.perf_counter()
            await view.info()
            round_trips.append(time.perf_counter() - began)
            await asyncio.sleep(0.05)
    finally:
        await view.close()


def pilot_measure(make_app: Callable[[], Any], sock: Path, run: PilotRun) -> dict[str, Any] | str:
    # The app sets its own SIGTERM/SIGINT/SIGHUP handlers and leaves the defaults behind: the
    # bench's (a SIGTERM unwinds, so every cleanup runs) are put back.
    handlers = {
        sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    }
    try:
        return asyncio.run(_pilot(make_app, sock, run))
    except Exception as exc:  # the dashboard is being finished by its owner
        return f"not measured yet ({type(exc).__name__}: {str(exc)[:200]})"
    finally:
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)


def attach_app(sock: Path) -> Callable[[], Any]:
    def make() -> Any:
        from tui_monitor.tui.app import MonitorApp
        from tui_monitor.view import SocketView

        return MonitorApp(SocketView(sock), mode="attach")

    return make


def flood_counts(path: Path) -> list[tuple[int, float]]:
    """The flood's own count: (lines printed, time) pairs."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "C":
                with contextlib.suppress(ValueError):
                    found.append((int(words[1]), float(words[2])))
    return found


def flood_measure(sock: Path, counts: Path, run: PilotRun) -> dict[str, Any] | str:
    """A pilot while the flood prints, and the lines/s it printed meanwhile."""
    first = flood_counts(counts)[-1]
    got = pilot_measure(attach_app(sock), sock, run)
    last = flood_counts(counts)[-1]
    if not isinstance(got, str):
        got["flood_rate"] = (last[0] - first[0]) / max(last[1] - first[1], 1e-9)
    return got


def run_mode_measure(
    folder: Path, count: int, prefill: int, period: float, run: PilotRun
) -> dict[str, Any] | str:
    """`tui-monitor run` with the screen: the engine on the dashboard's loop, in this process.
    Its strategies carry the tracker's marker (they inherit this process's environment), so
    whatever outlives the supervisor's stop is killed."""
    from tui_monitor.config import load_config
    from tui_monitor.dashboard import hosting_app

    stamps = folder / "stamps"
    stamps.mkdir(parents=True)
    programs = chatty_programs(folder.parent, stamps, count, prefill, period)
    config = load_config(write_tui_config(folder, programs))
    run.started = lambda: started_count(stamps) >= count
    tracker = Tracker()
    previous = os.environ.get(MARK)
    os.environ[MARK] = tracker.token
    try:
        return pilot_measure(
            lambda: hosting_app(config, subreaper=False), config.monitor.control_socket, run
        )
    finally:
        if previous is None:
            os.environ.pop(MARK, None)
        else:
            os.environ[MARK] = previous
        killed = tracker.cleanup()
        if killed:
            CLEANUP_LOG.append(
                f"dashboard, tui-monitor (run mode, in the bench's process): killed after the "
                f"graceful stop: {', '.join(killed)}"
            )


def _ms(samples: list[float], p: float) -> float | None:
    return percentile(samples, p) * 1000 if samples else None


def _pilot_rows(
    results: list[dict[str, Any]], window: float, *, hosted: bool = False
) -> list[list[object]]:
    """One row per measure, one column per pilot run. `hosted`: run mode, the supervisor is this
    process."""

    def row(what: str, value: Any) -> list[object]:
        return [what, *(value(r) for r in results)]

    who = "this process's CPU (engine + screen)" if hosted else "dashboard CPU"
    rows = [
        row("key presses measured", lambda r: len(r["latencies"])),
        row("key press → screen updated, p50 ms", lambda r: _ms(r["latencies"], 50)),
        row("key press → screen updated, p95 ms", lambda r: _ms(r["latencies"], 95)),
        row("key press → screen updated, max ms", lambda r: _ms(r["latencies"], 100)),
        row(f"{who}, logs flowing, no keys ({window:g} s), % of a core", lambda r: r["cpu_idle"]),
        row(f"{who} while keys are pressed, % of a core", lambda r: r["cpu_keys"]),
    ]
    if hosted:
        rows += [
            row(
                "… of which the main thread (the event loop: engine and screen), % of a core",
                lambda r: r["cpu_main"],
            ),
            row(
                "… of which the other threads (log capture, job writer, Textual's), % of a core",
                lambda r: r["cpu_idle"] - r["cpu_main"],
            ),
            row(
                "`hello` round trip on its control socket (the same loop), p50 ms",
                lambda r: _ms(r["round_trips"], 50),
            ),
            row(
                "`hello` round trip on its control socket (the same loop), p95 ms",
                lambda r: _ms(r["round_trips"], 95),
            ),
        ]
    else:
        rows += [
            row(
                "supervisor CPU meanwhile (logs flowing, no keys), % of a core",
                lambda r: r["sup_idle"],
            ),
            row(
                "supervisor `hello` round trip meanwhile, p50 ms",
                lambda r: _ms(r["round_trips"], 50),
            ),
            row(
                "supervisor `hello` round trip meanwhile, p95 ms",
                lambda r: _ms(r["round_trips"], 95),
            ),
        ]
    return rows


def _key_goal(text: str, got: dict[str, Any] | str, extra: str = "") -> Goal:
    """Key press p95 within KEY_MS and the measured process within CPU_GOAL (logs flowing)."""
    if isinstance(got, str):
        return Goal(text, None, got)
    lat = got["latencies"]
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    cpu = got["cpu_idle"]
    return Goal(
        text,
        bool(lat) and p95 <= KEY_MS and cpu <= CPU_GOAL,
        f"p50 {fmt(p50)} ms, p95 {fmt(p95)} ms over {len(lat)} presses; CPU {fmt(cpu)} % of a "
        f"core with logs flowing, {fmt(got['cpu_keys'])} % while keys are pressed" + extra,
    )


def _run_mode_goal(hosted: dict[str, Any], pilot: dict[str, Any] | str, load: str) -> Goal:
    """Run mode hosts the engine: the process's CPU is the supervisor's own work (a headless
    supervisor under the same load, measured in the attached rows) plus the screen's. The goal
    is the screen's, so it is judged on the difference; the total is shown beside it."""
    lat = hosted["latencies"]
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    total = hosted["cpu_idle"]
    engine = None if isinstance(pilot, str) else pilot["sup_idle"]
    screen = None if engine is None else total - engine
    return Goal(
        f"`tui-monitor run` (the dashboard hosting the engine): a key press within {KEY_MS:g} ms "
        f"(p95), and the screen ≤ {CPU_GOAL:g} % of a core (the process's CPU less a headless "
        f"supervisor's under the same load) with {load}",
        bool(lat) and p95 <= KEY_MS and screen is not None and screen <= CPU_GOAL,
        f"p50 {fmt(p50)} ms, p95 {fmt(p95)} ms over {len(lat)} presses; the process "
        f"{fmt(total)} % of a core with logs flowing (main thread {fmt(hosted['cpu_main'])} %), "
        + (
            f"a headless supervisor {fmt(engine)} %, so the screen ≈ {fmt(screen)} %"
            if screen is not None
            else "no headless reference measured"
        ),
    )


def progress(what: str, got: dict[str, Any] | str, began: float) -> None:
    outcome = got if isinstance(got, str) else "ok"
    print(
        f"bench: dashboard pilot ({what}): {outcome} in {time.monotonic() - began:.0f} s",
        flush=True,
    )


def run(mode: Mode, tools: Toolbox) -> Section:
    count = int(mode.pick(200, 6))
    period = mode.pick(0.2, 0.2)
    runs = int(mode.pick(20, 2))
    presses = int(mode.pick(60, 3))
    window = mode.pick(15.0, 0.5)
    prefill = int(mode.pick(2000, 200))  # the live tail's size: full tails from the start
    # The flood and run-mode rows: shorter, so that the three add ~90 s to the scenario.
    xpresses = int(mode.pick(24, 3))
    xwindow = mode.pick(5.0, 0.5)
    settle = mode.pick(3.0, 0.2)
    startup: dict[str, list[float]] = {}
    pilot: dict[str, Any] | str = "not measured yet"
    pilot_all: dict[str, Any] | str = "not measured yet"
    flood: dict[str, Any] | str = "not measured yet"
    flood_all: dict[str, Any] | str = "not measured yet"
    hosted: dict[str, Any] | str = "not measured yet"
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        folder = Path(tmp)
        (folder / "prefill.py").write_text(PREFILL)
        (folder / "flood.py").write_text(FLOOD_SCRIPT)
        helper = Tracker()
        try:
            startup["python -c pass (floor)"] = timed_runs(
                helper, [PYTHON, "-c", "pass"], folder, runs
            )
            startup["tui-monitor --help"] = timed_runs(
                helper, [*tui_command(), "--help"], folder, runs
            )
        finally:
            helper.cleanup()
        for tool in tools.use(("tui-monitor", "supervisord", "pm2")):
            sub = folder / tool
            stamps = sub / "stamps"
            stamps.mkdir(parents=True)
            programs = chatty_programs(folder, stamps, count, prefill, period)
            counts = sub / "flood.txt"
            if tool == "tui-monitor":  # started only for the flood rows, after the others
                programs.append(
                    Program(
                        FLOOD,
                        [PYTHON, "-S", str(folder / "flood.py"), str(counts), str(FLOOD_RATE)],
                        {"tui-monitor": {"heartbeat_timeout": 0, "autostart": False}},
                    )
                )
            with supervised(
                tools, tool, sub / "run", programs, "defaults", scenario="dashboard"
            ) as sup:
                wait_started(stamps, count, timeout=mode.pick(180, 30))
                time.sleep(settle)
                status = sup.status_argv()
                env = getattr(sup, "env", None)
                if tool == "tui-monitor":
                    wait_until(sup.ready, 30, what="control socket")  # type: ignore[attr-defined]
                elif tool == "supervisord":
                    startup["supervisorctl --help"] = timed_runs(
                        sup.tracker,
                        [*sup.ctl()[:1], "--help"],
                        sub,
                        runs,  # type: ignore[attr-defined]
                    )
                elif tool == "pm2":
                    startup["pm2 --help"] = timed_runs(
                        sup.tracker, [status[0], "--help"], sub, runs, env
                    )
                label = {
                    "tui-monitor": "tui-monitor status",
                    "supervisord": "supervisorctl status",
                    "pm2": "pm2 status",
                }[tool]
                startup[f"{label} ({count} strategies)"] = timed_runs(
                    sup.tracker, status, sub, runs, env
                )
                if tool == "tui-monitor":
                    sock = sub / "run" / "state" / "control.sock"
                    rows = count + 1  # the flood strategy is in the table, stopped
                    make = attach_app(sock)
                    began = time.monotonic()
                    pilot = pilot_measure(
                        make, sock, PilotRun(rows, presses, window, supervisor=sup.procs())
                    )
                    progress("selected", pilot, began)
                    began = time.monotonic()
                    pilot_all = pilot_measure(
                        make, sock, PilotRun(rows, presses, window, True, supervisor=sup.procs())
                    )
                    progress("all", pilot_all, began)
                    began = time.monotonic()
                    config = str(sup.config)  # type: ignore[attr-defined]
                    done = sup.tracker.run(
                        [*tui_command(), "start", FLOOD, "--config", config], cwd=sub, timeout=60
                    )
                    if done.returncode != 0:
                        flood = flood_all = (
                            f"not measured: `tui-monitor start {FLOOD}` failed: "
                            f"{done.stderr.strip()[-300:]}"
                        )
                    else:
                        wait_until(partial(flood_counts, counts), 30, what="the flood printing")
                        time.sleep(settle / 3)
                        flood = flood_measure(
                            sock,
                            counts,
                            PilotRun(rows, xpresses, xwindow, pin=FLOOD, supervisor=sup.procs()),
                        )
                        progress("flood, following it", flood, began)
                        began = time.monotonic()
                        flood_all = flood_measure(
                            sock,
                            counts,
                            PilotRun(rows, xpresses, xwindow, True, supervisor=sup.procs()),
                        )
                        progress("flood, following all", flood_all, began)
        if tools.has("tui-monitor"):
            began = time.monotonic()
            hosted = run_mode_measure(
                folder / "run-mode",
                count,
                prefill,
                period,
                PilotRun(count, xpresses, xwindow, settle=settle),
            )
            progress("run mode, start to clean-up", hosted, began)
    floor = statistics.median(startup["python -c pass (floor)"]) * 1000
    rows_out = [
        [
            what,
            len(xs),
            statistics.median(xs) * 1000,
            percentile(xs, 95) * 1000,
            fmt_ratio(ratio(statistics.median(xs) * 1000, floor)),
        ]
        for what, xs in startup.items()
    ]
    body = (
        f"Start-up: median of {runs} runs of each command, wall time from spawn to exit; the "
        f"`status` commands run against a supervisor of {count} strategies printing "
        f"{1 / period:g} lines/s each.\n\n"
        + tools.skipped_note(("supervisord", "pm2"))
        + table(["command", "runs", "median ms", "p95 ms", "÷ floor"], rows_out)
        + "\n\n"
    )
    goals = []
    load = f"{count} strategies and {count / period:,.0f} log lines/s"
    measured = {
        what: got
        for what, got in (("the selected strategy", pilot), ("all strategies (`a`)", pilot_all))
        if not isinstance(got, str)
    }
    for what, got in (("selected strategy", pilot), ("all strategies", pilot_all)):
        if isinstance(got, str):
            body += f"Dashboard key press and CPU, log following the {what}: {got}.\n\n"
            goals.append(Goal(f"dashboard following the {what}: key press and CPU", None, got))
    if measured:
        body += (
            f"Dashboard (`MonitorApp` attached over the control socket, Textual pilot, 200×60 "
            f"cells) with {load}, every strategy's live tail full; the log panel following:\n\n"
            + table(["measure", *measured], _pilot_rows(list(measured.values()), window))
            + "\n\n"
        )
    if not isinstance(pilot, str):
        goals.append(
            _key_goal(
                f"dashboard: a key press shows its effect within {KEY_MS:g} ms (p95) and the "
                f"dashboard uses well under half a core (≤ {CPU_GOAL:g} %) with {load}",
                pilot,
            )
        )
    if not isinstance(pilot_all, str):
        lat, trips = pilot_all["latencies"], pilot_all["round_trips"]
        p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
        trip95 = percentile(trips, 95) * 1000
        cpu = pilot_all["cpu_idle"]
        goals.append(
            Goal(
                f"dashboard following all strategies' logs: a key press within {KEY_MS:g} ms "
                f"(p95), the dashboard ≤ {CPU_GOAL:g} % of a core, and the supervisor's loop "
                f"(the screen's in `run` mode) answering within {KEY_MS:g} ms (p95)",
                bool(lat) and bool(trips) and max(p95, trip95) <= KEY_MS and cpu <= CPU_GOAL,
                f"p50 {fmt(p50)} ms, p95 {fmt(p95)} ms over {len(lat)} presses; CPU {fmt(cpu)} % "
                f"of a core; supervisor {fmt(pilot_all['sup_idle'])} % of a core, `hello` "
                f"round trip p95 {fmt(trip95)} ms",
            )
        )
    # ---- the flood
    floods = {
        what: got
        for what, got in ((f"following `{FLOOD}`", flood), ("following all (`a`)", flood_all))
        if not isinstance(got, str)
    }
    if floods:
        results = list(floods.values())
        body += (
            f"Flood: the same supervisor and dashboard, and one more strategy, `{FLOOD}`, "
            f"printing 100-byte lines at {FLOOD_RATE:,} lines/s; the log panel following "
            f"`{FLOOD}` (the "
            "cursor on it; each key press, measured, moves the cursor off it, then the bench puts "
            f"it back and lets the log follow `{FLOOD}` for 0.2-0.4 s before the next press), "
            "then following all:"
            "\n\n"
            + table(
                ["measure", *floods],
                [
                    [f"`{FLOOD}` printed, lines/s (its own count)"]
                    + [r["flood_rate"] for r in results],
                    ["lines the log panel skipped to keep up, in all (its title)"]
                    + [r["skipped"] for r in results],
                    *_pilot_rows(results, xwindow),
                ],
            )
            + "\n\n"
        )
    for what, got in ((f"`{FLOOD}`", flood), ("all strategies", flood_all)):
        if isinstance(got, str):
            body += f"Flood, the log following {what}: {got}.\n\n"
            goals.append(Goal(f"dashboard under a flood, following {what}", None, got))
            continue
        rate = got["flood_rate"]
        short = (
            f" (short of the {FLOOD_LINES:,} lines/s the issue names)" if rate < FLOOD_LINES else ""
        )
        goals.append(
            _key_goal(
                f"dashboard following {what} while `{FLOOD}` prints {FLOOD_RATE:,} "
                f"lines/s (twice the {FLOOD_LINES:,} of the issue): a key press within "
                f"{KEY_MS:g} ms (p95), the "
                f"dashboard ≤ {CPU_GOAL:g} % of a core",
                got,
                f"; `{FLOOD}` printed {fmt(rate)} lines/s{short}; the supervisor "
                f"{fmt(got['sup_idle'])} % of a core",
            )
        )
    # ---- run mode
    if isinstance(hosted, str):
        body += f"Run mode (the dashboard hosting the engine): {hosted}.\n\n"
        goals.append(Goal("`tui-monitor run` with the screen: key press and CPU", None, hosted))
    else:
        body += (
            "Run mode: `tui-monitor run` with the screen — `MonitorApp` hosting the engine on "
            f"its own event loop in this process (`hosting_app`) — with {load}, every "
            "strategy's live tail full, the log following the selected strategy. The CPU is the "
            "engine's and the screen's together (one process); the headless supervisor above, "
            "with the same load and an attached dashboard, is the engine's share for reference."
            "\n\n"
            + table(["measure", "run mode"], _pilot_rows([hosted], xwindow, hosted=True))
            + "\n\n"
        )
        goals.append(_run_mode_goal(hosted, pilot, load))
    for got in (pilot, pilot_all, flood, flood_all, hosted):
        if not isinstance(got, str) and got.get("exit_error"):
            body += (
                "Note: the dashboard raised an error while the pilot closed it, after the "
                f"measurement: `{got['exit_error']}`.\n\n"
            )
    help_ms = statistics.median(startup["tui-monitor --help"]) * 1000
    status_key = next(k for k in startup if k.startswith("tui-monitor status"))
    status_ms = statistics.median(startup[status_key]) * 1000
    peers = {
        k: statistics.median(v) * 1000
        for k, v in startup.items()
        if "status" in k and not k.startswith("tui")
    }
    body += (
        "What the numbers mean: a command's start-up is the interpreter's (the floor) plus its "
        "imports and, for `status`, one round trip on the control socket; the dashboard's "
        "latency is one Textual event → compositor frame, measured with the log panel busy. "
        "Under the flood the supervisor writes every line to the strategy's file on its capture "
        "thread and keeps a sampled tail; the dashboard asks for at most one batch of lines per "
        f"tick (the oldest new ones of `{FLOOD}`, or the newest of all), so its cost must not "
        "follow the flood's rate — the lines it skipped are counted in the log panel's title. "
        "The flood and the supervisor take a core or more of the machine meanwhile, so the "
        "latencies there include waiting for a CPU. In run mode the engine (its capture thread, "
        "timers, control socket) and the screen share one process and one event loop: the "
        "process's CPU is judged against the dashboard's goal, and a key press waits behind "
        "whatever the engine does on the loop. No peer has a comparable dashboard (supervisord "
        "has none; `pm2 monit` is a separate program). The tui-monitor table lists "
        f"`{FLOOD}` (stopped until the flood rows) besides the {count} strategies.\n"
    )
    goals.append(
        Goal(
            "`tui-monitor --help` and `status` start-up (recorded, compared)",
            None,
            f"--help {fmt(help_ms)} ms = {fmt_ratio(ratio(help_ms, floor))} the bare interpreter; "
            f"status {fmt(status_ms)} ms"
            + "".join(
                f"; {k} {fmt(v)} ms ({fmt_ratio(ratio(status_ms, v))})" for k, v in peers.items()
            ),
            recorded=True,
        )
    )
    return Section("7. Dashboard and command start-up", body, goals)
