"""Promise 5 for files edited by hand: job files (`state/strategy_NAME.json`) and history segments
(`state/history/history-NNNNNN.json`) in every wrong shape — truncated, empty, binary junk, huge,
deeply nested, valid JSON of the wrong shape, each field of the wrong type, a directory or a named
pipe in the file's place. Each is moved aside (`.corrupt-<time>`, byte for byte) and reported, the
supervisor keeps running, and the other jobs are untouched. (test_jobs.py has the first few
shapes; here are the rest.)"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Recorder, running, wait_for
from tui_monitor.engine import Engine
from tui_monitor.events import Problem
from tui_monitor.jobs import read_job_file
from tui_monitor.states import StrategyState as S

SLEEP = ["/bin/sleep", "1000"]


def job(name: str, **fields: Any) -> dict[str, Any]:
    record = {
        "schema_version": 1,
        "job_id": f"strategy_{name}",
        "strategy": name,
        "status": "interrupted",
        "checkpoint": {"n": 1},
        "updated_at": 1.0,
        "created_at": 1.0,
    }
    record.update(fields)
    return record


def raw(name: str, **fields: Any) -> bytes:
    return json.dumps(job(name, **fields)).encode()


WRONG_TYPES = {
    "schema_version": "1",
    "job_id": 5,
    "strategy": "",
    "status": None,
    "checkpoint": "not an object",
    "checkpoint_at": "yesterday",
    "progress": [0.5],
    "restart_count": 1.5,
    "runs": True,
    "pid": "123",
    "pid_create_time": {"t": 1},
    "supervisor_instance": 7,
    "started_at": False,
    "updated_at": None,
    "created_at": "now",
    "last_error": ["x"],
}

#: name -> the bytes of its job file
BAD_JOBS: dict[str, bytes] = {
    "truncated": raw("truncated")[:40],
    "junk": bytes(range(256)) * 64,
    "huge-junk": b"x" * (16 * 2**20),
    "nested": b"[" * 200_000 + b"]" * 200_000,
    "nested-object": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "null": b"null",
    "number": b"42",
    "string": b'"strategy_string"',
    "no-status": json.dumps({k: v for k, v in job("no-status").items() if k != "status"}).encode(),
    **{f"type-{key}": raw(f"type-{key}", **{key: value}) for key, value in WRONG_TYPES.items()},
    "pid-zero": raw("pid-zero", status="running", pid=0, pid_create_time=1.0),
    "pid-negative": raw("pid-negative", pid=-5),
    "infinity": raw("infinity", updated_at=1.0).replace(
        b'"updated_at": 1.0', b'"updated_at": -Infinity'
    ),
    "out-of-range": raw("out-of-range", progress=0.5).replace(b"0.5", b"1e999"),
    "huge-integer-time": raw("huge-integer-time", started_at=10**400),
    "nan-deep-in-the-checkpoint": raw(
        "nan-deep-in-the-checkpoint", checkpoint={"a": [[{"b": 1.5}]]}
    ).replace(b"1.5", b"NaN"),
    "names-another-job": raw("someone-else"),
}


async def test_job_files_in_every_wrong_shape(tmp_path: Path, make_config) -> None:
    names = [*BAD_JOBS, "good"]
    config = make_config({name: {"command": SLEEP} for name in names})
    state = config.monitor.state_dir
    state.mkdir(parents=True)
    for name, data in BAD_JOBS.items():
        (state / f"strategy_{name}.json").write_bytes(data)
    (state / "strategy_good.json").write_bytes(raw("good", checkpoint={"kept": True}))
    (state / "strategy_fifo.json").parent.mkdir(exist_ok=True)
    os.mkfifo(state / "strategy_fifo.json")  # no strategy of that name: must not hang the load
    async with running(config) as (engine, events):
        await wait_for(
            lambda: all(r.state is S.RUNNING for r in engine.runners.values()), timeout=10
        )
        problems = [p.message for p in events.of(Problem)]
        for name, data in BAD_JOBS.items():
            file = f"strategy_{name}.json"
            said = [m for m in problems if file in m]
            assert said and "moved to" in said[0], (name, said)
            moved = list(state.glob(f"{file}.corrupt-*"))
            assert len(moved) == 1 and moved[0].read_bytes() == data, name
            # A new job took its place, and is on disk in good shape.
            await wait_for(lambda f=file: (state / f).exists(), timeout=5)
            assert read_job_file(state / file).status.value == "running"
        # The pipe was not read (it would block) but moved aside like any unreadable file.
        assert any("strategy_fifo.json is unreadable" in m and "moved to" in m for m in problems)
        assert len(list(state.glob("strategy_fifo.json.corrupt-*"))) == 1
        # The good job was resumed with its checkpoint, untouched by its neighbours' troubles.
        assert engine.job_record("strategy_good").checkpoint == {"kept": True}
        assert engine.runners["good"].checkpoint == {"kept": True}
        await asyncio.sleep(0.2)
        assert "state_write" not in {r.code for r in engine.health().reasons}


# ---- the shapes that found bugs ---------------------------------------------------------------


async def _start_with(tmp_path: Path, make_config, data: bytes | None) -> tuple[Any, list[str]]:
    """Run a supervisor on a state folder whose strategy_a.json holds `data` (None: a folder in
    its place); returns (health after a moment, problems)."""
    config = make_config({"a": {"command": SLEEP}, "b": {"command": SLEEP}})
    state = config.monitor.state_dir
    state.mkdir(parents=True)
    target = state / "strategy_a.json"
    if data is None:
        target.mkdir()
    else:
        target.write_bytes(data)
    engine = Engine(config)
    events = Recorder(engine)
    try:
        await engine.start()
        await wait_for(lambda: all(r.state is S.RUNNING for r in engine.runners.values()))
        await asyncio.sleep(0.3)
        report = engine.health()
        problems = [p.message for p in events.of(Problem)]
    finally:
        await stop_anyway(engine)
    return report, problems


async def stop_anyway(engine: Engine) -> None:
    """Shut down (also after a failed start); if the shutdown itself fails, release what it
    would have released, so that nothing of this engine outlives the test, then re-raise."""
    try:
        await engine.shutdown()
    finally:
        engine.applog.close()
        engine.lock.release()


async def test_a_negative_pid_in_a_running_job(tmp_path: Path, make_config) -> None:
    data = raw("a", status="running", pid=-1, pid_create_time=1.0)
    report, _ = await _start_with(tmp_path, make_config, data)
    assert report.status == "healthy"


@pytest.mark.parametrize("field", ["created_at", "checkpoint"])
async def test_non_finite_numbers_in_a_job(tmp_path: Path, make_config, field: str) -> None:
    value: Any = {"x": float("nan")} if field == "checkpoint" else float("nan")
    data = raw("a", **{field: value}).replace(b"NaN", b"Infinity")
    report, problems = await _start_with(tmp_path, make_config, data)
    assert "state_write" not in {r.code for r in report.reasons}, report
    assert any("strategy_a.json is corrupt" in m for m in problems), problems


async def test_a_folder_in_place_of_a_job_file(tmp_path: Path, make_config) -> None:
    report, problems = await _start_with(tmp_path, make_config, None)
    assert "state_write" not in {r.code for r in report.reasons}, report
    assert any("strategy_a.json is unreadable" in m for m in problems), problems


async def test_a_job_file_naming_another_job(tmp_path: Path, make_config) -> None:
    data = raw("zzz", checkpoint={"precious": True})
    await _start_with(tmp_path, make_config, data)
    state = tmp_path / "state"
    assert [p.read_bytes() for p in state.glob("strategy_a.json*")].count(data) == 1


# ---- history segments ---------------------------------------------------------------------------

BAD_SEGMENTS: dict[str, Any] = {
    "truncated": b'{"events": {"1": {"kind": "sta',
    "junk": bytes(range(256)) * 64,
    "empty-object-list": b'{"events": []}',
    "a-list": b"[1, 2, 3]",
    "a-string": b'"history"',
    "a-folder": None,
    "a-named-pipe": "fifo",  # reading it would block the history thread for ever
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "ids-not-numbers": b'{"events": {"abc": {"kind": "x"}}}',
    "documents-not-objects": b'{"events": {"1": 5}}',
    "not-a-number": b'{"events": {"1": {"time": NaN}}}',
    "out-of-range": b'{"events": {"1": {"time": 1e999}}}',
}


@pytest.mark.parametrize("data", BAD_SEGMENTS.values(), ids=BAD_SEGMENTS.keys())
async def test_history_segments_in_every_wrong_shape(
    tmp_path: Path, make_config, data: bytes | str | None
) -> None:
    config = make_config({"a": {"command": SLEEP}})
    folder = config.monitor.state_dir / "history"
    folder.mkdir(parents=True)
    segment = folder / "history-000001.json"
    if data is None:
        segment.mkdir()
    elif data == "fifo":
        os.mkfifo(segment)
    else:
        segment.write_bytes(data)
    engine = Engine(config)
    events = Recorder(engine)
    try:
        await engine.start()
        await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
        await engine.restart_strategy("a")
        recent = await engine.recent_events("a", limit=50)
        assert any(e.get("kind") == "state" for e in recent), recent
        runs = await engine.recent_runs("a")
        assert len(runs) == 1
        await engine.history.flush()
        assert "history_write" not in {r.code for r in engine.health().reasons}
        said = [p.message for p in events.of(Problem) if "history" in p.message]
        assert said and "moved to" in said[0], said
    finally:
        await stop_anyway(engine)  # the shutdown must not fail either
    moved = list(folder.glob("history-000001.json.corrupt-*"))
    assert len(moved) == 1
    if isinstance(data, bytes):
        assert moved[0].read_bytes() == data
    # What was written since is whole.
    assert isinstance(json.loads(segment.read_bytes()), dict)


async def test_a_file_in_place_of_the_history_folder(tmp_path: Path, make_config) -> None:
    config = make_config({"a": {"command": SLEEP}})
    state = config.monitor.state_dir
    state.mkdir(parents=True)
    (state / "history").write_text("I am not a folder\n")
    engine = Engine(config)
    events = Recorder(engine)
    try:
        await engine.start()
        await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
        await engine.history.flush()
        assert "history_write" not in {r.code for r in engine.health().reasons}
        assert await engine.recent_events(limit=5)
        said = [p.message for p in events.of(Problem) if "history" in p.message]
        assert said and "moved to history.corrupt-" in said[0], said
    finally:
        await stop_anyway(engine)
    assert [p.read_text() for p in state.glob("history.corrupt-*")] == ["I am not a folder\n"]
    assert (state / "history" / "history-000001.json").is_file()
