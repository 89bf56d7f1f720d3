"""The supervision engine against real child processes: states, restarts, heartbeats, stopping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.conftest import PYTHON, alive, pids_in_file, running, script, wait_for, wait_for_sync
from tui_monitor import process
from tui_monitor.engine import Engine
from tui_monitor.errors import CommandRefused, UnknownName
from tui_monitor.events import HeartbeatMissed, Problem, ProcessExited, StateChanged
from tui_monitor.states import StrategyState as S


def state_of(engine: Engine, name: str) -> S:
    return engine.runners[name].state


SLEEPER = """
    import time
    while True:
        time.sleep(1)
"""

HEARTBEATER = """
    import time
    from tui_monitor import client
    i = 0
    while True:
        i += 1
        client.heartbeat(f"tick {i}", progress=0.5)
        time.sleep(0.02)
"""


async def test_start_runs_and_stop_stops(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "sleeper", SLEEPER)
    async with running(make_config({"a": {"command": cmd}})) as (engine, rec):
        await wait_for(lambda: state_of(engine, "a") is S.RUNNING)
        snap = engine.snapshot().strategy("a")
        assert snap is not None and snap.pid is not None and alive(snap.pid)
        assert snap.uptime is not None and snap.uptime >= 0
        pid = snap.pid
        await engine.stop_strategy("a")
        assert state_of(engine, "a") is S.STOPPED
        assert not alive(pid)
        assert rec.states("a") == [S.STARTING, S.RUNNING, S.STOPPING, S.STOPPED]
        exits = rec.of(ProcessExited)
        assert exits and exits[-1].expected and exits[-1].signal == "SIGTERM"


async def test_autostart_false_waits_for_an_operator(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "sleeper", SLEEPER)
    async with running(make_config({"a": {"command": cmd, "autostart": False}})) as (engine, _):
        await asyncio.sleep(0.2)
        assert state_of(engine, "a") is S.STOPPED
        await engine.start_strategy("a")
        await wait_for(lambda: state_of(engine, "a") is S.RUNNING)
        with pytest.raises(CommandRefused, match="already running"):
            await engine.start_strategy("a")


async def test_unknown_name_lists_the_known_ones(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "sleeper", SLEEPER)
    cfg = make_config({"alpha": {"command": cmd, "autostart": False}})
    async with running(cfg) as (engine, _):
        with pytest.raises(UnknownName, match=r"unknown strategy 'beta' \(known: alpha\)"):
            await engine.restart_strategy("beta")


async def test_crash_backoff_restart_then_fatal(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys, time; time.sleep(0.05); sys.exit(3)")
    cfg = make_config(
        {"a": {"command": cmd, "max_restarts": 3, "restart_delay": 0.05, "start_seconds": 0}}
    )
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: state_of(engine, "a") is S.FATAL)
        states = rec.states("a")
        assert states.count(S.BACKOFF) == 3
        assert states.count(S.STARTING) == 4  # the first start and three restarts
        snap = engine.snapshot().strategy("a")
        assert snap.last_exit_code == 3
        assert "restarted 3 times within 600 s; gave up" in snap.state_reason
        assert "exit code 3" in snap.state_reason
        assert snap.total_restarts == 3
        # Fatal stays fatal until an operator acts.
        await asyncio.sleep(0.3)
        assert state_of(engine, "a") is S.FATAL
        await engine.start_strategy("a")
        assert state_of(engine, "a") in (S.STARTING, S.RUNNING)


async def test_restarts_outside_the_window_do_not_count(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys, time; time.sleep(0.15); sys.exit(1)")
    cfg = make_config(
        {"a": {"command": cmd, "max_restarts": 2, "restart_window": 0.25, "restart_delay": 0}}
    )
    async with running(cfg) as (engine, rec):
        # Each run lasts 0.15 s, so at most ~2 restarts fall in any 0.25 s window... it never
        # reaches fatal within a second even though it restarts over and over.
        await wait_for(lambda: engine.runners["a"].total_restarts >= 4, timeout=10)
        assert S.FATAL not in rec.states("a")


async def test_immediate_restart_with_zero_delay(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys; sys.exit(1)")
    cfg = make_config({"a": {"command": cmd, "max_restarts": 2, "restart_delay": 0}})
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: state_of(engine, "a") is S.FATAL)
        assert S.BACKOFF not in rec.states("a")  # straight back to starting, no waiting
        # Each exit is told before the start that answers it (it is published after the spawn).
        kinds = [
            e.kind if e.kind != "state" else e.new.value
            for e in rec
            if getattr(e, "strategy", None) == "a"
        ]
        runs = "".join({"exit": "x", "starting": "s"}.get(k, "") for k in kinds)
        assert runs == "sxsxsx", kinds


async def test_exponential_backoff_grows(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys; sys.exit(1)")
    cfg = make_config(
        {
            "a": {
                "command": cmd,
                "max_restarts": 4,
                "restart_delay": 0.05,
                "backoff_factor": 2,
                "backoff_max": 0.15,
            }
        }
    )
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: state_of(engine, "a") is S.FATAL)
        reasons = [
            e.reason for e in rec.of(StateChanged) if e.strategy == "a" and e.new is S.BACKOFF
        ]
        assert [r.rsplit("restarting in ", 1)[1] for r in reasons] == [
            "0.05 s",
            "0.1 s",
            "0.15 s",
            "0.15 s",
        ]


async def test_task_exit_zero_is_done(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "task", "print('done')")
    async with running(make_config({"t": {"command": cmd, "kind": "task"}})) as (engine, rec):
        await wait_for(lambda: state_of(engine, "t") is S.EXITED)
        await asyncio.sleep(0.2)
        assert rec.states("t")[-1] is S.EXITED
        assert engine.snapshot().strategy("t").state_reason == "completed"
        assert engine.runners["t"].total_restarts == 0


async def test_task_failure_is_restarted(tmp_path: Path, make_config) -> None:
    marker = tmp_path / "runs"
    cmd = script(
        tmp_path,
        "task",
        f"""
        import pathlib, sys
        p = pathlib.Path({str(marker)!r})
        runs = int(p.read_text()) if p.exists() else 0
        p.write_text(str(runs + 1))
        sys.exit(0 if runs >= 2 else 1)
        """,
    )
    async with running(make_config({"t": {"command": cmd, "kind": "task"}})) as (engine, _):
        await wait_for(lambda: state_of(engine, "t") is S.EXITED)
        assert marker.read_text() == "3"


async def test_restart_never(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys; sys.exit(4)")
    async with running(make_config({"a": {"command": cmd, "restart": "never"}})) as (engine, _):
        await wait_for(lambda: state_of(engine, "a") is S.EXITED)
        assert "restart = never" in engine.runners["a"].state_reason


async def test_missed_heartbeat_restarts(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "hang",
        """
        import time
        from tui_monitor import client
        client.heartbeat("first and last")
        time.sleep(60)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "heartbeat_timeout": 0.3, "max_restarts": 1}})
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: rec.of(HeartbeatMissed))
        await wait_for(lambda: state_of(engine, "a") is S.FATAL, timeout=5)
        stopping = [e for e in rec.of(StateChanged) if e.new is S.STOPPING]
        assert stopping[0].reason == "no heartbeat for 0.3 s"
        assert "no heartbeat for 0.3 s" in engine.runners["a"].state_reason
        assert rec.states("a").count(S.STARTING) == 2  # restarted once, then gave up


async def test_heartbeats_keep_it_alive(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "hb", HEARTBEATER)
    cfg = make_config({"a": {"command": cmd, "heartbeat_timeout": 0.3}})
    async with running(cfg) as (engine, rec):
        await asyncio.sleep(1.0)
        assert not rec.of(HeartbeatMissed)
        snap = engine.snapshot().strategy("a")
        assert snap.state is S.RUNNING
        assert snap.heartbeat_age is not None and snap.heartbeat_age < 0.3
        assert snap.heartbeat_message.startswith("tick ")
        assert snap.progress == 0.5


async def test_timeout_zero_is_liveness_only(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "sleeper", SLEEPER)
    async with running(make_config({"a": {"command": cmd, "heartbeat_timeout": 0}})) as (e, rec):
        await asyncio.sleep(0.5)
        assert not rec.of(HeartbeatMissed)
        assert state_of(e, "a") is S.RUNNING


async def test_a_shell_script_heartbeats_with_one_line(tmp_path: Path, make_config) -> None:
    cmd = 'while true; do echo "shell alive" >&"$TUI_MONITOR_FD"; sleep 0.05; done'
    cfg = make_config({"a": {"command": cmd, "shell": True, "heartbeat_timeout": 0.3}})
    async with running(cfg) as (engine, rec):
        await asyncio.sleep(0.8)
        assert not rec.of(HeartbeatMissed)
        assert engine.snapshot().strategy("a").heartbeat_message == "shell alive"


async def test_ignoring_sigterm_gets_sigkill(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "stubborn",
        """
        import signal, time
        from tui_monitor import client
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        client.heartbeat("ready")
        while True:
            time.sleep(1)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "stop_timeout": 0.3}})
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: engine.snapshot().strategy("a").heartbeat_message == "ready")
        pid = engine.snapshot().strategy("a").pid
        await engine.stop_strategy("a")
        assert not alive(pid)
        assert rec.of(ProcessExited)[-1].signal == "SIGKILL"
        assert any("did not stop within 0.3 s" in e.message for e in rec.of(Problem))


FAMILY = """
    import os, subprocess, sys, time
    out = {out!r}
    kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            for _ in range(2)]
    # A daemon that leaves the process group (setsid), as a double-forking service would.
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    with open(out, "w") as f:
        f.write(" ".join(str(p.pid) for p in [*kids, daemon]))
    while True:
        time.sleep(1)
"""


async def test_stop_leaves_no_descendant(tmp_path: Path, make_config) -> None:
    out = tmp_path / "family"
    cmd = script(tmp_path, "family", FAMILY.format(out=str(out)))
    async with running(make_config({"a": {"command": cmd}})) as (engine, _):
        await wait_for(lambda: len(pids_in_file(out)) == 3)
        family = pids_in_file(out)
        leader = engine.snapshot().strategy("a").pid
        assert all(alive(p) for p in family)
        await engine.stop_strategy("a")
        await wait_for(lambda: not any(alive(p) for p in [leader, *family]), timeout=3)


async def test_crash_kills_what_the_leader_left_in_its_group(tmp_path: Path, make_config) -> None:
    out = tmp_path / "kid"
    cmd = script(
        tmp_path,
        "leaver",
        f"""
        import subprocess, sys, time
        kid = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(out)!r}, "w").write(str(kid.pid))
        time.sleep(0.2)
        sys.exit(1)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "restart_delay": 5}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: state_of(engine, "a") is S.BACKOFF)
        kid = pids_in_file(out)[0]
        await wait_for(lambda: not alive(kid), timeout=2)


async def test_healthy_run_resets_the_restart_count(tmp_path: Path, make_config) -> None:
    marker = tmp_path / "runs"
    cmd = script(
        tmp_path,
        "flaky",
        f"""
        import pathlib, sys, time
        p = pathlib.Path({str(marker)!r})
        runs = int(p.read_text()) if p.exists() else 0
        p.write_text(str(runs + 1))
        if runs < 2:
            sys.exit(1)
        time.sleep(60)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "reset_after": 1.5, "start_seconds": 0.05}})
    async with running(cfg) as (engine, _):
        await wait_for(
            lambda: (
                state_of(engine, "a") is S.RUNNING and marker.exists() and marker.read_text() == "3"
            )
        )
        assert engine.snapshot().strategy("a").restarts == 2
        await wait_for(lambda: engine.snapshot().strategy("a").restarts == 0, timeout=5)
        assert engine.snapshot().strategy("a").total_restarts == 2


async def test_fatal_cooldown_retries(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys; sys.exit(1)")
    cfg = make_config(
        {"a": {"command": cmd, "max_restarts": 1, "restart_delay": 0, "fatal_cooldown": 0.2}}
    )
    async with running(cfg) as (_, rec):
        await wait_for(lambda: rec.states("a").count(S.FATAL) >= 2, timeout=3)
        retried = [e for e in rec.of(StateChanged) if "cool-down" in e.reason]
        assert retried


async def test_a_vanished_program_is_a_clear_error(tmp_path: Path, make_config) -> None:
    prog = tmp_path / "prog.sh"
    prog.write_text("#!/bin/sh\nsleep 60\n")
    prog.chmod(0o755)
    cfg = make_config({"a": {"command": [str(prog)], "autostart": False, "max_restarts": 0}})
    prog.unlink()  # valid when the configuration was read; gone when it is started
    async with running(cfg) as (engine, rec):
        await engine.start_strategy("a")
        assert state_of(engine, "a") is S.FATAL
        problems = [e.message for e in rec.of(Problem)]
        assert any("cannot start" in m and "No such file" in m for m in problems)


async def test_operator_restart_gives_a_new_process(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "sleeper", SLEEPER)
    async with running(make_config({"a": {"command": cmd}})) as (engine, _):
        await wait_for(lambda: state_of(engine, "a") is S.RUNNING)
        first = engine.snapshot().strategy("a").pid
        await engine.restart_strategy("a")
        second = engine.snapshot().strategy("a").pid
        assert second != first and not alive(first) and alive(second)
        assert engine.runners["a"].total_restarts == 0  # operator restarts are not crashes


async def test_stop_during_backoff_cancels_the_restart(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", "import sys; sys.exit(1)")
    async with running(make_config({"a": {"command": cmd, "restart_delay": 0.3}})) as (e, rec):
        await wait_for(lambda: state_of(e, "a") is S.BACKOFF)
        await e.stop_strategy("a")
        await asyncio.sleep(0.5)
        assert state_of(e, "a") is S.STOPPED
        assert rec.states("a").count(S.STARTING) == 1


async def test_shutdown_stops_everything_in_parallel(tmp_path: Path, make_config) -> None:
    stubborn = script(
        tmp_path,
        "stubborn",
        "import signal, time\nfrom tui_monitor import client\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "client.heartbeat('ready')\ntime.sleep(60)\n",
    )
    cfg = make_config({f"s{i}": {"command": stubborn, "stop_timeout": 0.5} for i in range(4)})
    engine = Engine(cfg)
    await engine.start()
    await wait_for(
        lambda: all(s.heartbeat_message == "ready" for s in engine.snapshot().strategies)
    )
    pids = [s.pid for s in engine.snapshot().strategies]
    loop = asyncio.get_running_loop()
    began = loop.time()
    await engine.shutdown()
    # Four strategies that each need the full stop_timeout: in parallel, not one after another.
    assert loop.time() - began < 4 * 0.5
    assert not any(alive(p) for p in pids)


async def test_hostile_channel_input_does_not_hurt(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "hostile",
        """
        import os, time
        fd = int(os.environ["TUI_MONITOR_FD"])
        os.write(fd, b"{not json\\n[1,2]\\n{\\"op\\": \\"nope\\"}\\n\\xff\\xfe\\x00\\x1b[31m\\n")
        os.write(fd, b"x" * (17 * 1024 * 1024) + b"\\n")
        os.write(fd, b'{"op": "heartbeat", "msg": "still fine", "progress": "NaN"}\\n')
        time.sleep(60)
        """,
    )
    async with running(make_config({"a": {"command": cmd}})) as (engine, rec):
        await wait_for(lambda: engine.snapshot().strategy("a").heartbeat_message == "still fine")
        messages = " ".join(e.message for e in rec.of(Problem))
        assert "not valid JSON" in messages
        assert "unknown op" in messages and "longer than" in messages
        assert state_of(engine, "a") is S.RUNNING
        assert engine.snapshot().strategy("a").progress is None


async def test_a_checkpoint_json_cannot_hold_is_refused(tmp_path: Path, make_config) -> None:
    """NaN or 1e999 (infinity) would make the job file unwritable: refused, the old one kept."""
    answers = tmp_path / "answers"
    cmd = script(
        tmp_path,
        "nan",
        f"""
        import os, time
        from tui_monitor import client
        assert client.checkpoint({{"ok": 1}}, durable=True)
        try:
            client.checkpoint({{"x": float("nan")}})
        except ValueError:
            pass
        else:
            raise SystemExit("the client sent NaN")
        fd = int(os.environ["TUI_MONITOR_FD"])
        f = os.fdopen(os.dup(fd), "rb")
        raw = b'{{"op": "checkpoint", "durable": true, "id": %d, "state": {{"x": %s}}}}\\n'
        for ident, number in ((7, b"NaN"), (8, b"1e999")):
            os.write(fd, raw % (ident, number))
        open({str(answers)!r}, "wb").write(f.readline() + f.readline())
        time.sleep(60)
        """,
    )
    async with running(make_config({"a": {"command": cmd}})) as (engine, rec):
        await wait_for(lambda: answers.exists() and answers.read_bytes().count(b"\n") == 2)
        replies = [json.loads(line) for line in answers.read_bytes().splitlines()]
        assert [(r["op"], r["id"]) for r in replies] == [("error", 7), ("error", 8)]
        assert engine.runners["a"].checkpoint == {"ok": 1}
        refused = [e.message for e in rec.of(Problem) if "checkpoint refused" in e.message]
        assert any("NaN" in m for m in refused) and any("1e999" in m for m in refused)
        assert state_of(engine, "a") is S.RUNNING


async def test_checkpoint_is_handed_back_on_restart(tmp_path: Path, make_config) -> None:
    seen = tmp_path / "seen"
    cmd = script(
        tmp_path,
        "resumer",
        f"""
        import sys
        from tui_monitor import client
        state = client.resume_state()
        with open({str(seen)!r}, "a") as f:
            f.write(repr(state) + "\\n")
        n = (state or {{"n": 0}})["n"] + 1
        client.checkpoint({{"n": n}}, durable=True)
        sys.exit(1 if n < 3 else 0)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "kind": "task", "restart_delay": 0}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: state_of(engine, "a") is S.EXITED)
        assert seen.read_text().splitlines() == ["None", "{'n': 1}", "{'n': 2}"]


async def test_exception_in_an_engine_callback_is_reported(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "hb", HEARTBEATER)
    async with running(make_config({"a": {"command": cmd, "heartbeat_timeout": 0.5}})) as (e, rec):
        await wait_for(lambda: state_of(e, "a") is S.RUNNING)
        runner = e.runners["a"]

        def boom() -> None:
            raise RuntimeError("injected")

        runner._call_later("boom", 0, boom)
        await wait_for(lambda: any("injected" in p.message for p in rec.of(Problem)))
        await asyncio.sleep(0.3)
        assert state_of(e, "a") is S.RUNNING  # still supervising
        assert "Traceback" in next(p.detail for p in rec.of(Problem) if "injected" in p.message)


def test_engine_imports_without_textual_or_rich() -> None:
    code = (
        "import sys\n"
        "import tui_monitor.engine, tui_monitor.headless, tui_monitor.cli, tui_monitor.client\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_client_is_a_no_op_standalone() -> None:
    code = (
        "from tui_monitor import client\n"
        "client.heartbeat('x', progress=1)\n"
        "assert client.checkpoint({'a': 1}) is False\n"
        "assert client.checkpoint({'a': 1}, durable=True) is False\n"
        "assert client.resume_state() is None\n"
        "assert client.supervised() is False\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TUI_MONITOR_FD"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_signal_names() -> None:
    from tui_monitor.process import parse_signal, signal_name

    assert parse_signal("term") == signal.SIGTERM
    assert parse_signal("SIGKILL") == signal.SIGKILL
    assert signal_name(signal.SIGINT) == "SIGINT"
    assert psutil.Process().pid == os.getpid()


#: Each run double-forks a daemon (it re-parents away: only its environment markers tie it to
#: the run), records "run-pid daemon-pid", heartbeats once, then hangs.
DAEMONIZER = """
    import os, time
    from tui_monitor import client
    out = {out!r}
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(out, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(60)
        os._exit(0)
    client.heartbeat("once")
    while True:
        time.sleep(1)
"""


async def test_a_heartbeat_kill_ends_the_old_runs_daemon_not_the_new_ones(
    tmp_path: Path, make_config
) -> None:
    out = tmp_path / "daemons"
    cmd = script(tmp_path, "daemonizer", DAEMONIZER.format(out=str(out)))
    cfg = make_config({"a": {"command": cmd, "heartbeat_timeout": 0.4, "stop_timeout": 0.2}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: len(pids_in_file(out)) == 2, timeout=10)  # a second run's daemon
        first, second = pids_in_file(out)
        await wait_for(lambda: not alive(first), timeout=3)
        assert alive(second), "the sweep after the restart ended the replacement's daemon"
        await engine.stop_strategy("a")
        await wait_for(lambda: not alive(second), timeout=2)  # SIGKILL sent; it is dying


def test_descendants_are_found_below_a_process(tmp_path: Path) -> None:
    out = tmp_path / "grandchild"
    child = subprocess.Popen(
        ["/bin/sh", "-c", f"sleep 30 & echo $! > {out}.tmp; mv {out}.tmp {out}; wait"]
    )
    try:
        wait_for_sync(out.exists)
        grandchild = int(out.read_text())
        # `mv` may still be exiting when its result is there: until only `sleep` is left
        wait_for_sync(lambda: process.descendant_pids(child.pid) == [grandchild])
        assert process.descendant_pids(grandchild) == []
    finally:
        child.kill()
        child.wait()
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(out.read_text()), signal.SIGKILL)


#: A subreaper (as the real supervisor is) whose child double-forks a marked daemon and dies:
#: the daemon is re-parented below the subreaper, where `find_marked_below` finds it — and not
#: the run it is told to skip, nor another run's process.
BELOW = """
import json, os, subprocess, sys, time
from tui_monitor import process
assert process.become_subreaper()
marks = {"TUI_MONITOR_INSTANCE": "i1", "TUI_MONITOR_JOB_ID": "strategy_a"}
env = {**os.environ, **marks, "TUI_MONITOR_RUN": "1"}
leaver = subprocess.Popen(
    [sys.executable, "-c", "import os, time\\nif os.fork() == 0:\\n os.setsid()\\n time.sleep(30)"],
    env=env,
)
leaver.wait()  # its daemon is an orphan now: ours
live = subprocess.Popen(["sleep", "30"], env={**env, "TUI_MONITOR_RUN": "2"})
other = subprocess.Popen(["sleep", "30"], env={**env, "TUI_MONITOR_RUN": "3"})
time.sleep(0.2)
found = process.find_marked_below(os.getpid(), {live.pid}, "i1", "strategy_a", "1")
kids = process.child_pids(os.getpid())
print(json.dumps({"found": [p.pid for p in found], "kids": kids, "live": live.pid,
                  "other": other.pid}))
for p in found:
    p.kill()
live.kill(); other.kill()
"""


def test_a_subreaper_finds_a_runs_leftovers_below_itself(tmp_path: Path) -> None:
    done = subprocess.run(
        [PYTHON, "-c", BELOW], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    daemons = [k for k in seen["kids"] if k not in (seen["live"], seen["other"])]
    assert len(daemons) == 1  # the orphaned daemon, re-parented to the subreaper
    assert seen["found"] == daemons  # found; not the live run skipped, not the other run
