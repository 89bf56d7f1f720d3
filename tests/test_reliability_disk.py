"""A full disk, for `logs/` and separately for `state/`: supervision goes on, the problem shows in
`tui-monitor health --json` (reason `log_write`, `state_write`) and in the event history, nothing
is corrupted — a checkpoint that could not be saved is never acknowledged as durable — and
everything recovers by itself when space returns.

The disk is a real small filesystem (a tmpfs mounted on the folder, filled to the last byte) where
this machine allows mounting one (root); elsewhere the same is done with a file-size limit
(RLIMIT_FSIZE, set on the running supervisor with prlimit: its writes fail with EFBIG).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAST, alive, running, script, wait_for, wait_for_sync, write_config
from tests.test_reliability_support import (
    Sup,
    can_mount_tmpfs,
    fill,
    kill_marked,
    marked,
    parse_state,
    tmpfs,
)
from tui_monitor import cli

TMPFS = can_mount_tmpfs()
#: A real small filesystem where this machine allows one, else the file-size limit.
#: (TUI_MONITOR_DISK_FULL=rlimit forces the fallback.)
HOW = ["tmpfs" if TMPFS and os.environ.get("TUI_MONITOR_DISK_FULL") != "rlimit" else "rlimit"]

TALKER = """
    import sys, time
    i = 0
    while True:
        sys.stdout.write("".join(f"<{i + k:08d}:{'y' * 50}>\\n" for k in range(50)))
        sys.stdout.flush()
        i += 50
        time.sleep(0.005)
"""

#: Checkpoints (every 5th durable) of about `PAD` bytes, and what each durable one was answered.
SAVER = """
    import json, os, sys, time
    from tui_monitor import client
    state = client.resume_state() or {"n": 0}
    n = state["n"]
    while True:
        n += 1
        ok = client.checkpoint({"n": n, "pad": "z" * PAD}, durable=n % 5 == 0)
        if n % 5 == 0:
            with open(ACKS, "a") as f:
                f.write(json.dumps([n, ok]) + "\\n")
        client.heartbeat(f"n={n}")
        time.sleep(0.01)
"""

BEATER = """
    import time
    from tui_monitor import client
    i = 0
    while True:
        i += 1
        client.heartbeat(f"beat {i}")
        time.sleep(0.05)
"""


def health(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`tui-monitor health --json`, as a script would run it."""
    capsys.readouterr()
    code = cli.main(["health", "--json", "--config", str(config)])
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["status"] == "healthy" else 1)
    return report


def codes(report: dict[str, Any]) -> set[str]:
    return {r["code"] for r in report["reasons"]}


def strategies(sup: Sup) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in sup.ask("snapshot")["strategies"]}


def problems(sup: Sup) -> list[str]:
    return [e.get("message", "") for e in sup.ask("events", limit=1000) if e["kind"] == "problem"]


class Disk:
    """Makes a folder's writes fail and come back, one of two ways."""

    def __init__(self, how: str, folder: Path) -> None:
        self.how, self.folder = how, folder
        self.filler: Path | None = None

    def full(self, sup: Sup, limit: int) -> None:
        if self.how == "tmpfs":
            self.filler = fill(self.folder)
        else:  # files of the supervisor may not grow past `limit` bytes any more
            resource.prlimit(sup.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    def space_returns(self, sup: Sup) -> None:
        if self.filler is not None:
            self.filler.unlink()
        else:
            unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(sup.pid, resource.RLIMIT_FSIZE, unlimited)

    @property
    def error(self) -> str:
        return "disk full" if self.how == "tmpfs" else "File too large"


def _mounted(how: str, folder: Path, size: str) -> contextlib.AbstractContextManager[Path]:
    return tmpfs(folder, size) if how == "tmpfs" else contextlib.nullcontext(folder)


@pytest.mark.parametrize("how", HOW)
def test_logs_disk_full(tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    with _mounted(how, logs, "4m"):
        config = write_config(
            tmp_path,
            {
                "talker": {**FAST, "command": script(tmp_path, "talker", TALKER)},
                "beater": {
                    **FAST,
                    "command": script(tmp_path, "beater", BEATER),
                    "heartbeat_timeout": 3,  # a stuck supervisor shows; a busy CI host does not
                },
            },
            {"metrics_interval": 0.2},
        )
        sup = Sup(config)
        disk = Disk(how, logs)
        try:
            sup.wait_answering()
            wait_for_sync(lambda: all(s["state"] == "running" for s in strategies(sup).values()))
            before = {n: s["pid"] for n, s in strategies(sup).items()}
            log = logs / "strategies" / "talker.log"
            wait_for_sync(lambda: log.exists() and log.stat().st_size > 64 * 1024)
            disk.full(sup, limit=log.stat().st_size)

            # The problem shows in health and in the event history...
            wait_for_sync(lambda: "log_write" in codes(health(config, capsys)), timeout=10)
            report = health(config, capsys)
            assert report["status"] in ("degraded", "unhealthy")
            assert any(
                r["code"] == "log_write"
                and r["strategy"] == "talker"
                and disk.error in r["message"]
                for r in report["reasons"]
            ), report
            wait_for_sync(lambda: any(disk.error in m for m in problems(sup)), timeout=10)
            # ...and supervision goes on: the same processes, nobody blocked on a full pipe.
            beat = strategies(sup)["beater"]["heartbeat_message"]
            wait_for_sync(lambda: strategies(sup)["beater"]["heartbeat_message"] != beat)
            now = strategies(sup)
            assert {n: s["pid"] for n, s in now.items()} == before
            assert all(s["state"] == "running" and s["total_restarts"] == 0 for s in now.values())
            size = log.stat().st_size

            disk.space_returns(sup)
            wait_for_sync(lambda: health(config, capsys)["status"] == "healthy", timeout=10)
            wait_for_sync(lambda: log.stat().st_size > size + 4096)  # written again
            assert any("log writing works again" in m for m in problems(sup))
            assert {n: s["pid"] for n, s in strategies(sup).items()} == before
            assert sup.term() == 0
            parse_state(tmp_path / "state")
            assert not marked(sup.mark)
            assert "Traceback" not in sup.stderr()
        finally:
            sup.ensure_dead()
            kill_marked(sup.mark)


@pytest.mark.parametrize("how", HOW)
def test_state_disk_full(tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    acks = tmp_path / "acks.jsonl"
    pad = 100_000 if how == "rlimit" else 2000  # the job file outgrows the file-size limit
    saver = SAVER.replace("PAD", str(pad)).replace("ACKS", repr(str(acks)))
    with _mounted(how, state, "2m"):
        config = write_config(
            tmp_path,
            {
                "saver": {**FAST, "command": script(tmp_path, "saver", saver)},
                "beater": {
                    **FAST,
                    "command": script(tmp_path, "beater", BEATER),
                    "heartbeat_timeout": 3,  # a stuck supervisor shows; a busy CI host does not
                },
            },
            {"metrics_interval": 0.2},
        )
        sup = Sup(config)
        disk = Disk(how, state)
        job = state / "strategy_saver.json"
        try:
            sup.wait_answering()
            wait_for_sync(lambda: all(s["state"] == "running" for s in strategies(sup).values()))
            before = {n: s["pid"] for n, s in strategies(sup).items()}
            wait_for_sync(lambda: len(_acks(acks)) >= 3)
            disk.full(sup, limit=64 * 1024)

            wait_for_sync(lambda: "state_write" in codes(health(config, capsys)), timeout=10)
            assert health(config, capsys)["status"] == "unhealthy"
            # Durable checkpoints are refused while nothing can be saved, never acknowledged.
            n_full = len(_acks(acks))
            wait_for_sync(lambda: [ok for _, ok in _acks(acks)[n_full:]].count(False) >= 3)
            on_disk = json.loads(job.read_bytes())  # the old file, whole
            assert on_disk["checkpoint"]["n"] >= max(n for n, ok in _acks(acks) if ok)
            now = strategies(sup)
            assert {n: s["pid"] for n, s in now.items()} == before
            assert all(s["state"] == "running" for s in now.values()), now

            disk.space_returns(sup)
            wait_for_sync(lambda: health(config, capsys)["status"] == "healthy", timeout=10)
            n_back = len(_acks(acks))
            wait_for_sync(lambda: any(ok for _, ok in _acks(acks)[n_back:]))
            # The history kept what happened while it could not be written.
            said = problems(sup)
            assert any("cannot write strategy_saver.json" in m and disk.error in m for m in said)
            assert any("strategy_saver.json written again" in m for m in said)
            app_log = (tmp_path / "logs" / "app.log").read_text()
            assert "cannot write strategy_saver.json" in app_log
            assert {n: s["pid"] for n, s in strategies(sup).items()} == before
            assert sup.term() == 0
            jobs = parse_state(state)
            best = max(n for n, ok in _acks(acks) if ok)
            assert jobs["saver"].checkpoint is not None
            assert jobs["saver"].checkpoint["n"] >= best  # no acknowledged checkpoint lost
            assert not [p for p in state.iterdir() if p.name.endswith(".tmp")]
            assert not marked(sup.mark)
        finally:
            sup.ensure_dead()
            kill_marked(sup.mark)


def _acks(path: Path) -> list[tuple[int, bool]]:
    if not path.exists():
        return []
    return [tuple(json.loads(line)) for line in path.read_text().splitlines() if line]


@pytest.mark.skipif(not TMPFS, reason="cannot mount a tmpfs here")
async def test_lines_are_whole_after_a_full_disk(tmp_path: Path, make_config) -> None:
    """Output lost while the disk is full is lost (and counted); but what reaches the file after
    recovery must not be glued onto the unfinished line the failure cut off."""
    import asyncio
    import re

    logs = tmp_path / "logs"
    with tmpfs(logs, "1m"):
        cmd = script(tmp_path, "talker", TALKER)
        async with running(make_config({"talker": {"command": cmd}})) as (engine, _):
            log = logs / "strategies" / "talker.log"
            await wait_for(lambda: log.exists() and log.stat().st_size > 64 * 1024)
            output = engine.runners["talker"].output
            for _ in range(3):  # three failures: each one cuts a line with near certainty
                filler = fill(logs)
                await wait_for(lambda: output.write_error is not None, timeout=10)
                await asyncio.sleep(0.1)
                filler.unlink()
                await wait_for(lambda: output.write_error is None, timeout=10)
                await asyncio.sleep(0.1)
            pid = engine.runners["talker"].child.pid
        assert not alive(pid)
        lines = log.read_bytes().split(b"\n")[:-1]
    whole = re.compile(rb"<\d{8}:y{50}>")
    glued = [line for line in lines if not whole.fullmatch(line)]
    # A line cut short by the failure may stay short; one with another line's tail is corrupt.
    assert not [line for line in glued if line.count(b"<") > 1], glued[:3]


def test_fill_helper_sanity(tmp_path: Path) -> None:
    """The filler really fills (else the tests above would prove nothing)."""
    if not TMPFS:
        pytest.skip("cannot mount a tmpfs here")
    with tmpfs(tmp_path / "small", "256k") as folder:
        fill(folder)
        with pytest.raises(OSError):
            (folder / "more").write_bytes(b"x" * 8192)


@pytest.mark.skipif(not TMPFS, reason="cannot mount a tmpfs here")
async def test_the_history_has_no_duplicates_after_a_full_disk(tmp_path: Path, make_config) -> None:
    import asyncio

    from tui_monitor.events import Problem

    state = tmp_path / "state"
    saver = SAVER.replace("PAD", "2000").replace("ACKS", repr(str(tmp_path / "acks.jsonl")))
    with tmpfs(state, "1m"):
        config = make_config({"saver": {"command": script(tmp_path, "saver", saver)}})
        async with running(config) as (engine, events):
            await wait_for(lambda: engine.runners["saver"].state.value == "running")
            await asyncio.sleep(0.3)
            filler = fill(state)
            await wait_for(lambda: engine.history.failing and engine.store.failing, timeout=10)
            await asyncio.sleep(1.2)  # a retry or two while full
            filler.unlink()
            await wait_for(lambda: not engine.history.failing and not engine.store.failing)
            published = [e.message for e in events.of(Problem)]
            recorded = await engine.recent_events(limit=5000)
    kept = [e["message"] for e in recorded if e.get("kind") == "problem"]
    for message in set(published):
        assert kept.count(message) == published.count(message), (message, kept)
