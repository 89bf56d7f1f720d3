"""Promise 7 against clock changes: a wall-clock jump forwards or backwards (an NTP step, an
operator's `date -s`) must neither fire nor delay a heartbeat deadline.

The system clock cannot be changed from a test, so `time.time` is patched in this process while a
real engine supervises real strategies: every wall-clock reading the engine takes jumps by an hour,
forwards and then backwards, while its deadlines keep running on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.conftest import running, script, wait_for
from tui_monitor.events import HeartbeatMissed
from tui_monitor.states import StrategyState as S

HOUR = 3600.0
TIMEOUT = 0.5

BEATER = """
    import time
    from tui_monitor import client
    while True:
        client.heartbeat("ok")
        time.sleep(0.1)
"""

#: Heartbeats for a while, then falls silent for good (it must be detected near its deadline).
GOES_SILENT = """
    import time
    from tui_monitor import client
    for _ in range(SILENT_AFTER):
        client.heartbeat("ok")
        time.sleep(0.1)
    while True:
        time.sleep(1)
"""


class WallClock:
    """`time.time`, shifted by `offset` seconds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = time.time
        self.offset = 0.0
        monkeypatch.setattr(time, "time", self)

    def __call__(self) -> float:
        return self.real() + self.offset


async def test_wall_clock_jumps_neither_fire_nor_delay_deadlines(
    tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = WallClock(monkeypatch)
    silent = GOES_SILENT.replace("SILENT_AFTER", "8")  # silent after about 0.8 s
    config = make_config(
        {
            "beater": {"command": script(tmp_path, "beater", BEATER), "heartbeat_timeout": TIMEOUT},
            "silent": {"command": script(tmp_path, "silent", silent), "heartbeat_timeout": TIMEOUT},
        },
    )
    detected: dict[str, float] = {}  # strategy: seconds between its last heartbeat and the miss

    async with running(config) as (engine, _):

        def on_event(event: object) -> None:
            if isinstance(event, HeartbeatMissed):
                runner = engine.runners[event.strategy]
                last = runner.heartbeat_mono or runner.child.started_mono
                detected.setdefault(event.strategy, time.monotonic() - last)

        engine.bus.add_listener(on_event)
        await wait_for(lambda: all(r.state is S.RUNNING for r in engine.runners.values()))
        await asyncio.sleep(0.3)
        wall.offset = HOUR  # the clock jumps an hour forwards while both heartbeat...
        await asyncio.sleep(0.7)
        wall.offset = -HOUR  # ...and two hours backwards between the silent one's last
        # heartbeat and its deadline
        await wait_for(lambda: "silent" in detected, timeout=5)
        await asyncio.sleep(TIMEOUT * 2)  # long enough for a wrongly fired deadline to show

        # Never fired early: a deadline on the wall clock would have fired at the jump, a
        # fraction of a second after the last heartbeat. (A miss at or after the deadline can
        # only be a starved machine: the beater heartbeats five times per timeout.)
        assert detected.get("beater", TIMEOUT) >= TIMEOUT - 0.05, detected
        # Never delayed: the silent one was caught within a fraction of a second of its deadline,
        # not an hour late (nor an hour early).
        assert TIMEOUT - 0.05 <= detected["silent"] <= TIMEOUT + 0.5, detected
        assert "heartbeat_overdue" not in {
            r.code for r in engine.health().reasons if r.strategy == "beater"
        }


async def test_a_wall_clock_step_back_does_not_prolong_a_restart_storm(
    tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    wall = WallClock(monkeypatch)
    crasher = ["/bin/sh", "-c", "exit 1"]  # quick, so all its restarts fall within the window
    config = make_config(
        {"crasher": {"command": crasher, "max_restarts": 3, "restart_delay": 0}},
        restart_storm=3,
        restart_storm_window=1,
    )
    async with running(config) as (engine, _):
        await wait_for(lambda: engine.runners["crasher"].state is S.FATAL, timeout=10)
        assert "restart_storm" in {r.code for r in engine.health().reasons}
        wall.offset = -HOUR
        await asyncio.sleep(1.3)  # the storm window (1 s) has passed on any steady clock
        assert "restart_storm" not in {r.code for r in engine.health().reasons}
