"""Capacity and resource limits: the supervisor with 500 strategies, and with a low open-files
limit (first the long test, so that parallel runs start it early).

Each strategy costs the supervisor six descriptors while it runs (two log files, two pipes, the
heartbeat socket, the pidfd), so 60 strategies need about 400: more than a soft limit of 256.
"""

from __future__ import annotations

import collections
import resource
import time
from pathlib import Path

import pytest

from tests.conftest import FAST, Recorder, alive, running, wait_for, wait_for_sync, write_config
from tests.test_reliability_support import Sup, kill_marked, marked
from tui_monitor.engine import Engine
from tui_monitor.states import StrategyState as S

SLEEP = ["/bin/sleep", "1000"]


def sleepers(count: int) -> dict[str, dict]:
    return {f"s{i:03d}": {**FAST, "command": SLEEP} for i in range(count)}


def open_files_limit(soft: int, hard: int | None = None) -> object:
    """A preexec_fn: the supervisor starts with this RLIMIT_NOFILE."""
    _, current_hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard or current_hard))

    return apply


def states(sup: Sup) -> dict[str, dict]:
    return {s["name"]: s for s in sup.ask("snapshot", timeout=20)["strategies"]}


def settled(sup: Sup, quiet: float = 0.7, timeout: float = 30.0) -> dict[str, dict]:
    """The strategies once nothing has changed (state, pid, restarts) for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = states(sup)
        key = {n: (s["state"], s["pid"], s["total_restarts"]) for n, s in now.items()}
        if key != last:
            last, since = key, time.monotonic()
        elif time.monotonic() - since >= quiet and all(s[0] != "starting" for s in key.values()):
            return now
        time.sleep(0.1)
    raise AssertionError(f"still changing after {timeout} s")


@pytest.mark.timeout(180)
async def test_500_strategies_all_run_and_all_stop(tmp_path: Path, make_config) -> None:
    config = make_config({f"s{i:03d}": {"command": SLEEP} for i in range(500)}, metrics_interval=60)
    async with running(config) as (engine, _):
        await wait_for(
            lambda: all(r.state is S.RUNNING for r in engine.runners.values()),
            timeout=120,
            step=0.1,
        )
        pids = {r.child.pid for r in engine.runners.values()}
        assert len(pids) == 500
        assert engine.health().status == "healthy"
    assert all(r.state is S.STOPPED for r in engine.runners.values())
    assert engine.store.counts()["interrupted"] == 500
    assert not [p for p in pids if alive(p)]


@pytest.mark.timeout(90)
def test_an_exhausted_open_files_limit_is_contained(tmp_path: Path) -> None:
    """Soft and hard limit 256: not every strategy can run. Those that cannot are `fatal` with
    the reason, the others run, the supervisor keeps answering, and stops with nothing left."""
    config = write_config(tmp_path, sleepers(60), {"metrics_interval": 60})
    sup = Sup(config, preexec_fn=open_files_limit(256, 256))
    try:
        sup.wait_answering(timeout=30)
        now = settled(sup)
        count = collections.Counter(s["state"] for s in now.values())
        assert count["running"] >= 20, count
        for s in now.values():
            if s["state"] != "running":  # reported, with the reason
                assert "Too many open files" in s["state_reason"], s["state_reason"]
                assert s["pid"] is None
        report = sup.ask("health")
        assert report["status"] != "healthy"
        assert {r["strategy"] for r in report["reasons"]} - {None} == {
            n for n, s in now.items() if s["state"] != "running"
        }
        running = {n: s["pid"] for n, s in now.items() if s["state"] == "running"}
        assert len(set(running.values())) == len(running)
        time.sleep(0.5)
        assert {n: s["pid"] for n, s in states(sup).items() if n in running} == running
        assert sup.term() == 0
        wait_for_sync(lambda: not marked(sup.mark), timeout=10, step=0.1)
    finally:
        sup.ensure_dead()
        kill_marked(sup.mark)


@pytest.mark.timeout(90)
def test_a_low_soft_open_files_limit_still_runs_every_strategy(tmp_path: Path) -> None:
    config = write_config(tmp_path, sleepers(60), {"metrics_interval": 60})
    sup = Sup(config, preexec_fn=open_files_limit(256))  # the hard limit stays high
    try:
        sup.wait_answering(timeout=30)
        count = collections.Counter(s["state"] for s in settled(sup).values())
        assert count == {"running": 60}, count
    finally:
        sup.ensure_dead()
        kill_marked(sup.mark)


async def test_no_descriptor_for_the_heartbeat_socket_is_a_failed_start(
    tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the first socketpair() is refused with EMFILE, as at the open-files
    limit. That start fails like any other (reported, retried under the restart policy)."""
    import socket
    import types

    from tui_monitor import channel
    from tui_monitor.events import Problem

    failures = [OSError(24, "Too many open files")]

    def socketpair(*args: object) -> tuple[socket.socket, socket.socket]:
        if failures:
            raise failures.pop()
        return socket.socketpair(*args)

    monkeypatch.setattr(
        channel, "socket", types.SimpleNamespace(**{**vars(socket), "socketpair": socketpair})
    )
    engine = Engine(make_config({"s": {"command": ["/bin/sleep", "1000"]}}))
    events = Recorder(engine)
    try:
        await engine.start()
        await wait_for(lambda: engine.runners["s"].state is S.RUNNING, timeout=5)
        assert engine.runners["s"].total_restarts == 1
        assert not [p for p in events.of(Problem) if "internal error" in p.message]
    finally:
        await engine.shutdown()  # also after a failed start: whatever did start is stopped
