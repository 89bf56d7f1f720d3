"""Strategies behaving badly, all at once next to a well-behaved one: ignoring SIGTERM, forking
grandchildren and daemons, closing the heartbeat channel, flooding heartbeats (100k/s), flooding
output, exiting during start-up, leaving the process group, exhausting file descriptors. Each is
contained — the canary keeps heartbeating and is never restarted, nothing is left after stop —
and reported (an event or a state reason). Then, one at a time, the attacks that found bugs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.conftest import alive, pids_in_file, running, script, wait_for
from tui_monitor import process
from tui_monitor.events import HeartbeatMissed, Problem, ProcessExited
from tui_monitor.states import StrategyState as S

CANARY = """
    import time
    from tui_monitor import client
    i = 0
    while True:
        i += 1
        client.heartbeat(f"beat {i}")
        time.sleep(0.05)
"""

#: Each bad strategy writes the pids of everything it started to FAMILY.
BAD = {
    "stubborn": """
        import signal, time
        from tui_monitor import client
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            client.heartbeat("not stopping")
            time.sleep(0.05)
    """,
    "forker": """
        import os, signal, time
        from tui_monitor import client

        def note(pid):
            with open(FAMILY, "a") as f:
                f.write(f"{pid}\\n")

        for how in ("group", "setpgid", "daemon"):
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                if how == "setpgid":
                    os.setpgid(0, 0)
                if how == "daemon":
                    os.setsid()
                    if os.fork():
                        os._exit(0)
                note(os.getpid())
                while True:
                    time.sleep(1)
            if how == "daemon":
                os.waitpid(pid, 0)
        while True:
            client.heartbeat("forked")
            time.sleep(0.05)
    """,
    "closer": """
        import os, time
        os.close(int(os.environ["TUI_MONITOR_FD"]))
        while True:
            time.sleep(1)
    """,
    "hbflood": """
        import os, time
        fd = int(os.environ["TUI_MONITOR_FD"])
        burst = b"ok\\n" * 1000
        while True:  # 100,000 heartbeats a second
            os.write(fd, burst)
            time.sleep(0.01)
    """,
    "outflood": """
        import sys, time
        line = b"flood " + b"o" * 57 + b"\\n"
        chunk = line * 1024
        while True:  # about 8 MB/s
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            time.sleep(0.008)
    """,
    "quitter": """
        import sys
        sys.exit(3)  # dies during start-up, every time
    """,
    "fdhog": """
        import os, sys, time
        from tui_monitor import client
        fds = []
        try:
            while True:
                fds.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            print(f"ERROR out of descriptors after {len(fds)}: {exc}", file=sys.stderr, flush=True)
        while True:
            client.heartbeat(f"holding {len(fds)} descriptors")
            time.sleep(0.05)
    """,
}


async def test_bad_strategies_are_contained_and_reported(tmp_path: Path, make_config) -> None:
    family = tmp_path / "family.pids"
    strategies = {
        # 3 s: a blocked event loop shows; a starved CI machine does not fail the test.
        "canary": {"command": script(tmp_path, "canary", CANARY), "heartbeat_timeout": 3.0},
    }
    for name, body in BAD.items():
        strategies[name] = {
            "command": script(tmp_path, name, body.replace("FAMILY", repr(str(family)))),
            "stop_timeout": 0.5,
            "max_restarts": 2,
            "start_seconds": 0.5,
        }
    config = make_config(strategies, metrics_interval=0.5)
    watched: list[int] = []
    instance = ""
    try:
        async with running(config) as (engine, events):
            instance = engine.instance
            await wait_for(lambda: len(pids_in_file(family)) == 3, timeout=10)
            await wait_for(lambda: engine.runners["quitter"].state is S.FATAL, timeout=10)
            await wait_for(
                lambda: any("channel closed" in p.message for p in events.of(Problem)), timeout=5
            )
            await asyncio.sleep(0.5)  # everything at full tilt for a while
            canary = engine.runners["canary"]
            pid, message = canary.child.pid, canary.heartbeat_message
            await wait_for(lambda: canary.heartbeat_message != message, timeout=2)
            watched = [r.child.pid for r in engine.runners.values() if r.child is not None]
            watched += pids_in_file(family)
            assert len(watched) == len(strategies) - 1 + 3  # all but the quitter, and the family

            # Contained: the canary never missed a heartbeat, was never restarted; neither was
            # anything else but the quitter.
            assert not [e for e in events.of(HeartbeatMissed) if e.strategy == "canary"]
            assert canary.child.pid == pid and canary.total_restarts == 0
            for name, runner in engine.runners.items():
                if name != "quitter":
                    assert runner.state is S.RUNNING and runner.total_restarts == 0, name
            # Reported.
            quitter = engine.runners["quitter"]
            assert "gave up" in quitter.state_reason and "exit code 3" in quitter.state_reason
            exits = [e for e in events.of(ProcessExited) if e.strategy == "quitter"]
            assert len(exits) == 3 and all(e.exit_code == 3 for e in exits)
            closed = [p for p in events.of(Problem) if "heartbeat channel closed" in p.message]
            assert [p.strategy for p in closed] == ["closer"]
            hog = [line.text for line in engine.log_lines("fdhog")]
            assert any("out of descriptors" in text for text in hog)
            assert engine.runners["hbflood"].heartbeat_message == "ok"
            assert engine.runners["outflood"].output.bytes_written > 1_000_000
            assert len(engine.log_lines("outflood", 0, 10_000)) <= 2000  # the tail is bounded
            assert engine.health().status == "unhealthy"  # the quitter is fatal...
            assert {r.code for r in engine.health().reasons} == {"fatal"}  # ...nothing else
        # Stopped: the stubborn one needed SIGKILL, and said so; nothing is left anywhere.
        said = [p.message for p in events.of(Problem) if p.strategy == "stubborn"]
        assert any("did not stop within 0.5 s; sending SIGKILL" in m for m in said)
        assert not [p for p in watched if alive(p)]
        assert not [p for p in process.find_marked(instance) if _live(p)]
    finally:
        for pid in watched + pids_in_file(family):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if instance:
            process.kill_processes(process.find_marked(instance))


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# ---- attacks that found bugs -------------------------------------------------------------------


async def test_a_strategy_that_leaves_its_process_group_can_still_be_stopped(
    tmp_path: Path, make_config
) -> None:
    host_pid, joined = tmp_path / "host.pid", tmp_path / "joined"
    host = script(
        tmp_path,
        "host",
        f"""
        import os, time
        open({str(host_pid)!r}, "w").write(str(os.getpid()))
        while True:
            time.sleep(1)
        """,
    )
    joiner = script(
        tmp_path,
        "joiner",
        f"""
        import os, time
        while not os.path.exists({str(host_pid)!r}):
            time.sleep(0.01)
        time.sleep(0.05)
        os.setpgid(0, int(open({str(host_pid)!r}).read()))  # join the host's process group
        open({str(joined)!r}, "w").close()
        while True:
            time.sleep(1)
        """,
    )
    config = make_config(
        {"host": {"command": host}, "joiner": {"command": joiner, "stop_timeout": 0.3}}
    )
    async with running(config) as (engine, _):
        await wait_for(joined.exists, timeout=5)
        pid = engine.runners["joiner"].child.pid
        assert os.getpgid(pid) == engine.runners["host"].child.pid
        try:
            await asyncio.wait_for(engine.stop_strategy("joiner"), 1.5)  # stop_timeout 0.3 s
            stopped = True
        except TimeoutError:
            stopped = False
        finally:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)  # so that the engine can shut down
        assert stopped, "stopping a strategy that changed its process group hung"


async def test_a_failed_start_leaves_no_process_behind(
    tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the one descriptor taken right after the fork is refused (EMFILE: the
    supervisor is at its open-files limit) — the failed start must not leave its child running."""
    real = os.pidfd_open
    failures = [OSError(24, "Too many open files")]

    def pidfd_open(pid: int, flags: int = 0) -> int:
        if failures:
            raise failures.pop()
        return real(pid, flags)

    monkeypatch.setattr(os, "pidfd_open", pidfd_open)
    cmd = script(tmp_path, "s", "import time\nwhile True:\n    time.sleep(1)\n")
    async with running(make_config({"s": {"command": cmd}})) as (engine, _):
        try:
            await wait_for(lambda: engine.runners["s"].state is S.RUNNING, timeout=5)
            copies = [p for p in process.find_marked(engine.instance, "strategy_s") if _live(p)]
            assert len(copies) == 1, f"{len(copies)} copies of the strategy run"
        finally:
            own = engine.runners["s"].child.pid if engine.runners["s"].child else None
            for proc in process.find_marked(engine.instance, "strategy_s"):
                if proc.pid != own:
                    with contextlib.suppress(psutil.Error):
                        proc.kill()


async def test_a_strategy_that_never_reads_its_replies_cannot_grow_the_supervisor(
    tmp_path: Path, make_config
) -> None:
    """resume_state requests, each answered with the (64 KB) checkpoint, never read."""
    flooder = script(
        tmp_path,
        "flooder",
        """
        import json, os, sys, time
        from tui_monitor import client
        if client.resume_state() is None:  # first run: a 64 KB checkpoint, then a crash
            client.checkpoint({"pad": "p" * 65536}, durable=True)
            sys.exit(1)
        fd = int(os.environ["TUI_MONITOR_FD"])
        request = b'{"op": "resume_state", "id": 1}\\n'
        os.write(fd, request * 1000)  # in one read: 64 MB of replies, never read
        open(os.environ["SENT"], "w").close()
        while True:
            time.sleep(1)
        """,
    )
    sent = tmp_path / "sent"
    config = make_config({"flooder": {"command": flooder, "env": {"SENT": str(sent)}}})
    me = psutil.Process()
    async with running(config) as (engine, _):
        await wait_for(lambda: engine.runners["flooder"].total_restarts == 1, timeout=10)
        before = me.memory_info().rss
        await wait_for(sent.exists, timeout=10)
        await asyncio.sleep(0.5)  # the supervisor answers all of it
        grown = me.memory_info().rss - before
    assert grown < 8 * 2**20, f"the supervisor grew by {grown / 2**20:.0f} MB"
