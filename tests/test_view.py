"""One interface, two implementations: every test here runs against `LocalView` (the engine in
this process) and `SocketView` (the same engine behind a real control socket), with real
strategies, and expects the same results and the same exceptions."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import script, wait_for, write_config
from tests.test_control import FAST, HEARTBEATER, _stale_socket, serving, wait_for_async
from tui_monitor.config import load_config
from tui_monitor.control.protocol import NoSupervisor
from tui_monitor.control.server import ControlServer
from tui_monitor.engine import Engine
from tui_monitor.errors import CommandRefused, UnknownName
from tui_monitor.view import EventStream, LocalView, SocketView, SupervisorView

STRATEGY_KEYS = {
    "name",
    "job_id",
    "kind",
    "state",
    "state_reason",
    "pid",
    "heartbeat_age",
    "heartbeat_message",
    "restarts",
    "max_restarts",
    "last_exit_code",
}
JOB_KEYS = {"job_id", "strategy", "status", "progress", "restart_count", "last_error"}


class Env:
    def __init__(self, engine: Engine, server: ControlServer, view: SupervisorView) -> None:
        self.engine, self.server, self.view = engine, server, view

    def state(self, name: str) -> str:
        return self.engine.runners[name].state.value


@pytest.fixture(params=["local", "socket"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Env]:
    beat = script(tmp_path, "beat", HEARTBEATER)
    config = load_config(
        write_config(
            tmp_path,
            {
                "beat": {**FAST, "command": beat, "heartbeat_timeout": 5},
                "idle": {**FAST, "command": beat, "autostart": False},
            },
        )
    )
    async with serving(config) as (engine, server):
        view: SupervisorView = (
            LocalView(engine) if request.param == "local" else SocketView(server.path)
        )
        await wait_for(lambda: engine.runners["beat"].state.value == "running")
        try:
            yield Env(engine, server, view)
        finally:
            await view.close()


def is_plain_json(value: Any) -> bool:
    return json.loads(json.dumps(value, allow_nan=False)) == value


async def test_info(env: Env) -> None:
    info = await env.view.info()
    assert info["protocol"] == 1 and info["pid"] == os.getpid()
    assert info["config_path"] == str(env.engine.config.path)
    assert "snapshot" in info["ops"] and "subscribe" in info["ops"]
    assert is_plain_json(info)


async def test_snapshot(env: Env) -> None:
    snap = await env.view.snapshot()
    assert is_plain_json(snap)
    assert snap["pid"] == os.getpid()
    by_name = {s["name"]: s for s in snap["strategies"]}
    assert set(by_name) == {"beat", "idle"}
    assert set(by_name["beat"]) >= STRATEGY_KEYS
    assert by_name["beat"]["state"] == "running" and by_name["beat"]["pid"] > 0
    assert by_name["idle"]["state"] == "stopped" and by_name["idle"]["pid"] is None
    assert [j["job_id"] for j in snap["jobs"]] == ["strategy_beat"]
    assert set(snap["jobs"][0]) >= JOB_KEYS
    assert snap["job_counts"]["running"] == 1


async def test_health(env: Env) -> None:
    health = await env.view.health()
    assert is_plain_json(health)
    assert health["status"] == "healthy" and health["reasons"] == []
    assert "strategies" not in health
    detailed = await env.view.health(detailed=True)
    assert is_plain_json(detailed)
    assert {s["name"] for s in detailed["strategies"]} == {"beat", "idle"}
    assert [j["job_id"] for j in detailed["jobs"]] == ["strategy_beat"]


async def test_stop_start_restart_resume(env: Env) -> None:
    view = env.view
    pid = env.engine.runners["beat"].child.pid
    stopped = await view.stop("beat")
    assert stopped["strategy"]["state"] == "stopped" and stopped["strategy"]["pid"] is None
    assert stopped["job"]["status"] == "paused"
    assert env.state("beat") == "stopped"

    resumed = await view.resume("strategy_beat")
    assert resumed["strategy"]["name"] == "beat"
    assert resumed["strategy"]["state"] in ("starting", "running")
    assert resumed["job"]["status"] == "running"
    await wait_for(lambda: env.state("beat") == "running")

    restarted = await view.restart("beat")
    assert restarted["strategy"]["pid"] not in (None, pid)

    started = await view.start("idle")
    assert started["strategy"]["state"] in ("starting", "running")
    assert started["job"]["job_id"] == "strategy_idle"
    await view.stop("idle")
    fresh = await view.start("idle", fresh=True)
    assert fresh["job"]["restart_count"] == 0
    assert is_plain_json(fresh)


async def test_errors_are_the_engines_own(env: Env) -> None:
    view = env.view
    with pytest.raises(UnknownName) as unknown:
        await view.stop("nope")
    assert str(unknown.value) == "unknown strategy 'nope' (known: beat, idle)"
    assert unknown.value.what == "strategy" and unknown.value.name == "nope"
    for call in (view.start("nope"), view.restart("nope"), view.log_lines("nope")):
        with pytest.raises(UnknownName, match="known: beat, idle"):
            await call
    with pytest.raises(UnknownName) as unknown_job:
        await view.resume("strategy_nope")
    assert str(unknown_job.value) == "unknown job 'strategy_nope' (known: strategy_beat)"
    with pytest.raises(CommandRefused, match=r"^beat is already running$"):
        await view.start("beat")
    with pytest.raises(CommandRefused, match="cannot resume strategy_beat: it is running"):
        await view.resume("strategy_beat")
    assert env.state("beat") == "running"  # nothing changed


async def test_events_stream(env: Env) -> None:
    stream = await env.view.events()
    assert isinstance(stream, EventStream)
    await env.view.restart("beat")
    seen: list[tuple[str, Any]] = []

    async def collect() -> None:
        async for event in stream:
            assert is_plain_json(event) and isinstance(event["time"], float)
            seen.append((event["kind"], event.get("new")))
            if event.get("strategy") == "beat" and event.get("new") == "running":
                return

    await asyncio.wait_for(collect(), 5)
    assert ("state", "stopping") in seen and ("exit", None) in seen
    assert seen.index(("state", "stopping")) < seen.index(("state", "starting"))
    await stream.close()


async def test_events_end_when_the_supervisor_stops(env: Env) -> None:
    stream = await env.view.events()
    await env.server.close()
    await env.engine.shutdown()
    events = await asyncio.wait_for(_drain(stream), 10)
    assert all(isinstance(e, dict) for e in events)


async def _drain(stream: EventStream) -> list[dict[str, Any]]:
    return [event async for event in stream]


async def test_history_and_log_lines(env: Env) -> None:
    await env.view.restart("beat")
    runs = await wait_for_async(lambda: env.view.runs("beat"), lambda runs: len(runs) >= 1)
    assert is_plain_json(runs)
    assert runs[-1]["strategy"] == "beat" and runs[-1]["job_id"] == "strategy_beat"
    assert runs[-1]["expected"] is True
    events = await wait_for_async(
        lambda: env.view.recent_events("beat", limit=500),
        lambda events: any(e["kind"] == "exit" for e in events),
    )
    assert all(e.get("strategy") == "beat" for e in events)
    assert await env.view.runs("idle") == []
    lines = await env.view.log_lines("beat", after=0, limit=10)
    assert isinstance(lines, list) and len(lines) <= 10
    for line in lines:
        assert {"seq", "time", "strategy", "stream", "level", "type", "text"} <= set(line)


async def test_log_lines_carry_every_field(env: Env) -> None:
    """Real captured lines, the same in both views, cursor by cursor."""
    await wait_for(lambda: len(env.engine.log_lines("beat")) >= 2)
    got = await env.view.log_lines("beat", after=0, limit=5)
    assert is_plain_json(got)
    first = got[0]
    assert set(first) == {
        "seq",
        "time",
        "strategy",
        "stream",
        "level",
        "type",
        "text",
        "structured",
    }
    assert (first["strategy"], first["stream"], first["level"]) == ("beat", "stdout", "INFO")
    assert first["text"].startswith("working on ") and first["seq"] == 1
    assert await env.view.log_lines("beat", after=1, limit=5) == got[1:5]


async def test_closing_a_view_leaves_the_supervisor_running(env: Env) -> None:
    stream = await env.view.events()
    pid = env.engine.runners["beat"].child.pid
    await env.view.close()
    await asyncio.sleep(0.1)
    assert env.state("beat") == "running" and env.engine.runners["beat"].child.pid == pid
    await stream.close()


# ---- both views of one engine, side by side ---------------------------------------------------


async def test_both_views_return_the_same_data(tmp_path: Path) -> None:
    beat = script(tmp_path, "beat", HEARTBEATER)
    config = load_config(write_config(tmp_path, {"beat": {**FAST, "command": beat}}))
    async with serving(config) as (engine, server):
        await wait_for(lambda: engine.runners["beat"].state.value == "running")
        local, remote = LocalView(engine), SocketView(server.path)
        try:
            assert await local.info() == await remote.info()
            # Blank what changes from one instant to the next; everything else must be equal.
            a, b = await local.snapshot(), await remote.snapshot()
            for snap in (a, b):
                snap["uptime"] = 0
                for s in snap["strategies"]:
                    s["uptime"] = s["heartbeat_age"] = s["heartbeat_message"] = s["progress"] = 0
                for j in snap["jobs"]:
                    j["updated_at"] = j["checkpoint_at"] = j["progress"] = 0
            assert a == b
            ha, hb = await local.health(), await remote.health()
            for h in (ha, hb):
                h["uptime"] = h["checked_at"] = 0
            assert ha == hb
            assert await local.runs() == await remote.runs()
        finally:
            await remote.close()


async def test_no_supervisor(tmp_path: Path) -> None:
    path = tmp_path / "state" / "control.sock"
    view = SocketView(path)
    with pytest.raises(NoSupervisor) as missing:
        await view.snapshot()
    assert missing.value.exit_code == 3 and str(path) in str(missing.value)
    path.parent.mkdir()
    _stale_socket(path)
    with pytest.raises(NoSupervisor, match=r"nothing listens on .*control\.sock"):
        await view.events()
    await view.close()


async def test_job_record_with_checkpoint(env: Env) -> None:
    await wait_for(lambda: env.engine.runners["beat"].checkpoint is not None)
    record = await env.view.job("strategy_beat")
    assert is_plain_json(record)
    assert record["job_id"] == "strategy_beat" and record["status"] == "running"
    assert isinstance(record["checkpoint"], dict)
    with pytest.raises(UnknownName, match="known: strategy_beat"):
        await env.view.job("strategy_nope")


async def test_log_lines_of_every_strategy(env: Env) -> None:
    await wait_for(lambda: env.engine.log_lines("beat"))
    lines = await env.view.log_lines(None, after=0, limit=100)
    assert lines and all(line["strategy"] == "beat" for line in lines)
    cursor = lines[-1]["seq"]
    assert cursor > 1_000_000_000_000  # a time cursor in microseconds
    assert all(line["seq"] > cursor for line in await env.view.log_lines(None, after=cursor))


async def test_detailed_health_has_metrics_history(env: Env) -> None:
    await wait_for(lambda: env.engine.metrics() is not None)
    detailed = await env.view.health(detailed=True)
    assert "system" in detailed["metrics"] and detailed["metrics_history"]
    assert set(detailed["metrics_history"][0]) >= {"cpu_percent", "memory_percent"}
