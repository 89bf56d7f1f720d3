"""Jobs on disk, checkpoints and resume, against real processes and real files."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PYTHON, alive, running, script, wait_for
from tui_monitor.config import Config
from tui_monitor.errors import CommandRefused, UnknownName
from tui_monitor.events import Problem
from tui_monitor.jobs import JobRecord, JobStatus, read_job_file
from tui_monitor.states import StrategyState as S

# A strategy that records what it was resumed with, then checkpoints a counter.
COUNTER = """
    import json, os, sys, time
    from tui_monitor import client
    state = client.resume_state()
    with open({seen!r}, "a") as f:
        f.write(json.dumps(state) + "\\n")
    n = (state or {{"n": 0}})["n"]
    while True:
        n += 1
        client.checkpoint({{"n": n}}, durable=(n % 5 == 0))
        client.heartbeat(f"n={{n}}", progress=min(1.0, n / 1000))
        time.sleep({pause})
"""


def counter(tmp_path: Path, pause: float = 0.01) -> tuple[list[str], Path]:
    seen = tmp_path / "seen.jsonl"
    return script(tmp_path, "counter", COUNTER.format(seen=str(seen), pause=pause)), seen


def resumed_with(seen: Path) -> list[dict | None]:
    if not seen.exists():
        return []
    return [json.loads(line) for line in seen.read_text().splitlines()]


def job_file(config: Config, name: str = "a") -> Path:
    return config.monitor.state_dir / f"strategy_{name}.json"


def on_disk(config: Config, name: str = "a") -> JobRecord:
    return read_job_file(job_file(config, name))


async def test_job_file_has_every_field(tmp_path: Path, make_config) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: job_file(cfg).exists() and on_disk(cfg).checkpoint)
        # The start time follows the pid within a write (it is read off the event loop).
        await wait_for(lambda: json.loads(job_file(cfg).read_text()).get("pid_create_time"))
        data = json.loads(job_file(cfg).read_text())
        for key in (
            "schema_version",
            "job_id",
            "strategy",
            "status",
            "checkpoint",
            "progress",
            "restart_count",
            "pid",
            "pid_create_time",
            "started_at",
            "updated_at",
            "last_error",
        ):
            assert key in data, key
        assert data["job_id"] == "strategy_a" and data["strategy"] == "a"
        assert data["status"] == "running"
        assert data["pid"] == engine.snapshot().strategy("a").pid
        assert data["pid_create_time"] > 0
        assert job_file(cfg).read_text().startswith("{\n")  # human-readable


async def test_operator_stop_pauses_and_resume_goes_on(tmp_path: Path, make_config) -> None:
    cmd, seen = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: (engine.runners["a"].checkpoint or {}).get("n", 0) > 10)
        await engine.stop_strategy("a")
        record = on_disk(cfg)
        assert record.status is JobStatus.PAUSED
        saved = record.checkpoint
        assert saved == engine.runners["a"].checkpoint  # the newest, on disk before stop returned
        await engine.resume("strategy_a")
        await wait_for(lambda: len(resumed_with(seen)) == 2)
        assert resumed_with(seen) == [None, saved]
        assert on_disk(cfg).status is JobStatus.RUNNING


async def test_every_restart_hands_over_the_checkpoint(tmp_path: Path, make_config) -> None:
    """Crash, missed heartbeat and operator restart all resume from the newest checkpoint."""
    seen = tmp_path / "seen.jsonl"
    cmd = script(
        tmp_path,
        "s",
        f"""
        import json, sys, time
        from tui_monitor import client
        state = client.resume_state()
        open({str(seen)!r}, "a").write(json.dumps(state) + "\\n")
        run = (state or {{"run": 0}})["run"] + 1
        client.checkpoint({{"run": run}}, durable=True)
        if run == 1:
            sys.exit(1)            # a crash
        if run == 2:
            time.sleep(60)         # a hang: no heartbeat
        while True:
            client.heartbeat()
            time.sleep(0.05)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "heartbeat_timeout": 0.4, "restart_delay": 0}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: len(resumed_with(seen)) == 3)
        await engine.restart_strategy("a")
        await wait_for(lambda: len(resumed_with(seen)) == 4)
        assert resumed_with(seen) == [None, {"run": 1}, {"run": 2}, {"run": 3}]


async def test_shutdown_interrupts_and_the_next_supervisor_resumes(
    tmp_path: Path, make_config
) -> None:
    cmd, seen = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}, "manual": {"command": cmd, "autostart": False}})
    async with running(cfg) as (engine, _):
        await engine.start_strategy("manual")
        await wait_for(lambda: (engine.runners["a"].checkpoint or {}).get("n", 0) > 5)
    assert on_disk(cfg).status is JobStatus.INTERRUPTED
    assert on_disk(cfg, "manual").status is JobStatus.INTERRUPTED
    saved = on_disk(cfg).checkpoint
    async with running(cfg) as (engine, events):
        await wait_for(lambda: saved in resumed_with(seen))
        assert engine.runners["a"].state in (S.STARTING, S.RUNNING)
        # Without autostart, an interrupted job waits for an operator.
        assert engine.runners["manual"].state is S.STOPPED
        reasons = [getattr(e, "reason", "") for e in events]
        assert "resumed after the supervisor was stopped" in reasons


async def test_paused_job_is_not_autostarted(tmp_path: Path, make_config) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
        await engine.stop_strategy("a")
    async with running(cfg) as (engine, events):
        await asyncio.sleep(0.2)
        assert engine.runners["a"].state is S.STOPPED
        assert any("job paused; not started" in e.describe() for e in events)


async def test_failed_job_resumes_with_restart_count_reset(tmp_path: Path, make_config) -> None:
    marker = tmp_path / "fail"
    marker.write_text("1")
    cmd = script(
        tmp_path,
        "f",
        f"""
        import pathlib, sys, time
        from tui_monitor import client
        client.checkpoint({{"x": 1}}, durable=True)
        if pathlib.Path({str(marker)!r}).exists():
            sys.exit(2)
        time.sleep(60)
        """,
    )
    cfg = make_config({"a": {"command": cmd, "max_restarts": 2, "restart_delay": 0}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["a"].state is S.FATAL)
        await wait_for(lambda: on_disk(cfg).status is JobStatus.FAILED)
        record = on_disk(cfg)
        assert "gave up" in record.last_error
        marker.unlink()
        await engine.resume("strategy_a")
        await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
        assert engine.snapshot().strategy("a").restarts == 0
        assert on_disk(cfg).status is JobStatus.RUNNING


async def test_completed_job_is_refused_unless_fresh(tmp_path: Path, make_config) -> None:
    seen = tmp_path / "seen.jsonl"
    cmd = script(
        tmp_path,
        "t",
        f"""
        import json
        from tui_monitor import client
        open({str(seen)!r}, "a").write(json.dumps(client.resume_state()) + "\\n")
        client.checkpoint({{"done": True}}, durable=True)
        """,
    )
    cfg = make_config({"t": {"command": cmd, "kind": "task"}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["t"].state is S.EXITED)
        await wait_for(lambda: on_disk(cfg, "t").status is JobStatus.COMPLETED)
        with pytest.raises(CommandRefused, match="completed"):
            await engine.resume("strategy_t")
        snap = engine.snapshot().job("strategy_t")
        assert not snap.resumable and "completed" in snap.not_resumable_because
        await engine.resume("strategy_t", fresh=True)
        await wait_for(lambda: len(resumed_with(seen)) == 2)
        assert resumed_with(seen) == [None, None]  # a fresh start begins without a checkpoint
        with pytest.raises(UnknownName, match="known: strategy_t"):
            await engine.resume("strategy_nope")


async def test_job_counts_in_the_snapshot(tmp_path: Path, make_config) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}, "b": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.snapshot().job_counts.get("total") == 2)
        await engine.stop_strategy("b")
        counts = engine.snapshot().job_counts
        assert counts["running"] == 1 and counts["paused"] == 1 and counts["failed"] == 0


BAD_FILES = {
    "corrupt": b'{"schema_version": 1, "job_id": ',
    "empty": b"",
    "garbage": b"\x00\x00\xff not json",
    "wrong-shape": b'["a", "list"]',
    "wrong-field": json.dumps(
        {"schema_version": 1, "job_id": "strategy_a", "strategy": "a", "status": "dancing"}
    ).encode(),
    "wrong-type": json.dumps(
        {
            "schema_version": 1,
            "job_id": "strategy_a",
            "strategy": "a",
            "status": "paused",
            "checkpoint": [1, 2],
            "updated_at": 0,
            "created_at": 0,
        }
    ).encode(),
    "old-schema": json.dumps({"schema_version": 99, "job_id": "strategy_a"}).encode(),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
async def test_bad_job_file_is_moved_aside(tmp_path: Path, make_config, kind: str) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}, "b": {"command": cmd}})
    state = cfg.monitor.state_dir
    state.mkdir(parents=True)
    (state / "strategy_a.json").write_bytes(BAD_FILES[kind])
    async with running(cfg) as (engine, events):
        problems = [e.message for e in events if isinstance(e, Problem)]
        assert any("strategy_a.json is corrupt" in m and "moved to" in m for m in problems)
        moved = list(state.glob("strategy_a.json.corrupt-*"))
        assert len(moved) == 1 and moved[0].read_bytes() == BAD_FILES[kind]
        # The supervisor carries on: both strategies run; a starts a new job.
        await wait_for(lambda: all(r.state is S.RUNNING for r in engine.runners.values()))
        await wait_for(lambda: job_file(cfg).exists())


async def test_unreadable_job_file_is_told_apart(tmp_path: Path, make_config) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}})
    state = cfg.monitor.state_dir
    state.mkdir(parents=True)
    # A directory where the file should be cannot be read as one (root ignores chmod).
    (state / "strategy_a.json").mkdir()
    bad = state / "strategy_a.json"
    from tui_monitor.jobs import load_record

    record, problem = load_record(bad)
    assert record is None and problem is not None and "is unreadable" in problem
    assert not bad.exists() and list(state.glob("strategy_a.json.corrupt-*"))


def test_missing_unreadable_and_corrupt_are_different(tmp_path: Path) -> None:
    from tui_monitor.jobs import JobFileError

    with pytest.raises(JobFileError) as missing:
        read_job_file(tmp_path / "nope.json")
    assert missing.value.kind == "missing"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(JobFileError) as corrupt:
        read_job_file(tmp_path / "bad.json")
    assert corrupt.value.kind == "corrupt"
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(JobFileError) as unreadable:
        read_job_file(tmp_path / "dir.json")
    assert unreadable.value.kind == "unreadable"


def _job_json(pid: int, create_time: float) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "job_id": "strategy_a",
            "strategy": "a",
            "status": "running",
            "checkpoint": {"n": 41},
            "pid": pid,
            "pid_create_time": create_time,
            "updated_at": 0,
            "created_at": 0,
        }
    )


async def test_leftover_of_a_dead_supervisor_is_ended(tmp_path: Path, make_config) -> None:
    import psutil

    leftover = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"], process_group=0)
    try:
        cmd, seen = counter(tmp_path)
        cfg = make_config({"a": {"command": cmd}})
        cfg.monitor.state_dir.mkdir(parents=True)
        create_time = psutil.Process(leftover.pid).create_time()
        job_file(cfg).write_text(_job_json(leftover.pid, create_time))
        async with running(cfg) as (engine, events):
            assert leftover.wait(timeout=5) == -9
            assert any("leftover" in e.describe() for e in events)
            await wait_for(lambda: resumed_with(seen))
            assert resumed_with(seen)[0] == {"n": 41}  # resumed from the dead one's checkpoint
            assert "resumed after the supervisor died" in engine.runners["a"].state_reason or (
                engine.runners["a"].state is S.RUNNING
            )
    finally:
        leftover.kill()
        leftover.wait()


async def test_reused_pid_of_a_stranger_is_never_killed(tmp_path: Path, make_config) -> None:
    import psutil

    stranger = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        cmd, _ = counter(tmp_path)
        cfg = make_config({"a": {"command": cmd}})
        cfg.monitor.state_dir.mkdir(parents=True)
        wrong_time = psutil.Process(stranger.pid).create_time() - 1000
        job_file(cfg).write_text(_job_json(stranger.pid, wrong_time))
        async with running(cfg) as (engine, _):
            await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
            assert alive(stranger.pid)
            assert on_disk(cfg).status is JobStatus.RUNNING  # resumed as interrupted
    finally:
        stranger.kill()
        stranger.wait()


async def test_history_records_each_run(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "c",
        "import sys\nfrom tui_monitor import client\n"
        "client.checkpoint({'k': 1}, durable=True)\nsys.exit(3)\n",
    )
    cfg = make_config({"a": {"command": cmd, "max_restarts": 2, "restart_delay": 0}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["a"].state is S.FATAL)
        runs = await engine.recent_runs("a")
        assert len(runs) == 3
        assert all(r["exit_code"] == 3 and r["job_id"] == "strategy_a" for r in runs)
        assert runs[0]["checkpoint"] == {"k": 1}
        events = await engine.recent_events("a")
        assert any(e["kind"] == "state" and e["new"] == "fatal" for e in events)
    segments = list((cfg.monitor.state_dir / "history").glob("history-*.json"))
    assert segments and json.loads(segments[0].read_text())["runs"]


async def test_corrupt_history_is_moved_aside(tmp_path: Path, make_config) -> None:
    cmd, _ = counter(tmp_path)
    cfg = make_config({"a": {"command": cmd}})
    folder = cfg.monitor.state_dir / "history"
    folder.mkdir(parents=True)
    (folder / "history-000001.json").write_text('{"runs": {"1": ')
    async with running(cfg) as (engine, events):
        await engine.stop_strategy("a")
        runs = await engine.recent_runs("a")
        assert len(runs) == 1
        assert any("history segment" in e.describe() and "corrupt" in e.describe() for e in events)
    assert list(folder.glob("history-000001.json.corrupt-*"))


async def test_history_retention_bounds_the_files(tmp_path: Path) -> None:
    from tui_monitor.history import History

    problems: list[str] = []
    history = History(tmp_path / "h", limit=300, on_problem=problems.append, segment_size=100)
    history.start()
    for i in range(1000):
        history.add("runs", {"i": i})
        if i % 150 == 0:
            await history.flush()
    recent = await history.recent("runs", limit=5)
    assert [r["i"] for r in recent] == [999, 998, 997, 996, 995]
    await history.close()
    segments = sorted((tmp_path / "h").glob("history-*.json"))
    assert len(segments) <= 5  # limit / segment size + the one being written
    assert not problems


async def test_a_failed_history_write_is_retried_without_duplicates(tmp_path: Path) -> None:
    """Records that reached the in-memory segment before saving failed are saved by the retry,
    not queued again; across a rotation too. (The folder vanishing makes every save fail.)"""
    import shutil

    from tui_monitor.history import History

    problems: list[str] = []
    folder = tmp_path / "h"
    history = History(folder, limit=300, on_problem=problems.append, segment_size=100)
    history.start()
    history.add("runs", {"i": 0})
    await history.flush()
    shutil.rmtree(folder)
    for i in range(1, 250):  # fills the segment: the rotation must wait for the save, too
        history.add("runs", {"i": i})
        if i % 40 == 0:
            await history.flush()
    await history.flush()
    assert history.failing and problems[-1].startswith("cannot write the history")
    folder.mkdir()
    await history.flush()  # nothing new queued: the retry alone saves what waits
    assert not history.failing and problems[-1] == "history written again"
    recent = await history.recent("runs", limit=1000)
    assert sorted(r["i"] for r in recent) == list(range(250))
    await history.close()
    on_disk = [
        doc["i"]
        for path in sorted(folder.glob("history-*.json"))
        for doc in json.loads(path.read_text())["runs"].values()
    ]
    assert on_disk == list(range(250))


async def test_history_close_never_raises(tmp_path: Path) -> None:
    """Records JSON cannot hold are stored as well as JSON can; a history that cannot be saved at
    shutdown is reported, not raised."""
    import shutil

    from tui_monitor.history import History

    problems: list[str] = []
    folder = tmp_path / "h"
    history = History(folder, limit=300, on_problem=problems.append)
    history.start()
    history.add("runs", {"checkpoint": {"x": float("nan"), "when": Path("/p")}, "i": 1})
    loop: dict[str, object] = {}
    loop["self"] = loop
    history.add("runs", {"cycle": loop})  # not even representable: dropped, and said so
    recent = await history.recent("runs")
    assert recent == [{"checkpoint": {"x": "NaN", "when": "PosixPath('/p')"}, "i": 1}]
    assert not history.failing
    assert any("1 history record(s) could not be stored" in p for p in problems)
    history.add("runs", {"i": 2})
    shutil.rmtree(folder)
    await history.close()  # cannot save: reported
    assert any("could not be saved" in p or "cannot save the history" in p for p in problems)


def test_a_checkpoint_with_a_lone_surrogate_is_written_and_read_back(tmp_path: Path) -> None:
    """JSON's "\\ud800" parses to a lone surrogate, which UTF-8 cannot encode: it is written back
    as the same escape, not refused (which would fail the job's writes for ever)."""
    from tui_monitor.atomic import atomic_write_json

    record = JobRecord("strategy_a", "a", JobStatus.RUNNING, checkpoint={"s": "x\ud800y"})
    path = tmp_path / "strategy_a.json"
    atomic_write_json(path, record.to_dict())
    assert b"\\ud800" in path.read_bytes()
    assert read_job_file(path).checkpoint == {"s": "x\ud800y"}


def test_state_files_are_read_strictly(tmp_path: Path) -> None:
    """Only what atomic_write_json can write back is accepted; a FIFO is never opened blocking."""
    from tui_monitor.atomic import read_regular_file, read_state_json

    for bad in (b"[NaN]", b"[Infinity]", b"[-Infinity]", b"[1e400]", b"[" * 50_000):
        with pytest.raises(ValueError):
            read_state_json(bad)
    assert read_state_json(b'{"a": [1.5, -2, "\\u00e9"]}') == {"a": [1.5, -2, "\u00e9"]}
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(tmp_path / "pipe")
    with pytest.raises(IsADirectoryError):
        read_regular_file(tmp_path)


def test_atomic_write_leaves_old_or_new(tmp_path: Path) -> None:
    from tui_monitor.atomic import atomic_write_json

    path = tmp_path / "x.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"v": float("nan")})  # cannot be written: the old file stays
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left behind
    assert os.stat(path).st_size > 0


def test_same_process_never_raises_for_an_impossible_pid() -> None:
    from tui_monitor.orphans import end_leftovers, same_process

    for pid in (-1, 0, 2**70):
        assert same_process(pid, 1.0) is None
    assert end_leftovers(-1, 1.0, None) == []
