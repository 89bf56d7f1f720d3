"""Promise 1 under attack: SIGKILL the supervisor at random moments while a strategy checkpoints
as fast as it can. Every round: the state file parses, holds a checkpoint the strategy really
wrote and no older than its last durable one, no strategy process lives on, and the next
supervisor resumes the job with exactly that checkpoint."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import PYTHON, ROOT, alive, script, wait_for_sync, write_config
from tui_monitor.guardian import is_guardian
from tui_monitor.jobs import JobFileError, read_job_file

STRATEGY = """
    import json, os, time
    from tui_monitor import client
    state = client.resume_state()
    with open({seen!r}, "a") as f:  # with its parent: a supervisor, or nobody (an orphan)
        f.write(json.dumps({{"ppid": os.getppid(), "state": state}}) + "\\n")
        f.flush(); os.fsync(f.fileno())
    n = (state or {{"n": 0}})["n"]
    while True:
        n += 1
        durable = n % 25 == 0
        ok = client.checkpoint({{"n": n, "check": n * 7 + 3, "pad": "x" * 200}}, durable=durable)
        if durable and ok:
            with open({durable!r}, "a") as f:
                f.write(f"{{n}}\\n")
                f.flush(); os.fsync(f.fileno())
        if n % 50 == 0:
            client.heartbeat(f"n={{n}}")
"""

ROUNDS_PER_TEST = 6  # x 4 tests = 24 rounds


def _resumes(path: Path, supervisor: int) -> list[dict | None]:
    """What the strategies started by `supervisor` were resumed with."""
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["state"] for e in entries if e["ppid"] == supervisor]


def last_line(path: Path) -> str | None:
    if not path.exists():
        return None
    lines = path.read_text().splitlines()
    return lines[-1] if lines else None


def strategies_of(pid: int) -> list[int]:
    """The supervisor's descendants but its guardian, which is not a strategy: it outlives the
    supervisor by design, for as long as it takes to end the strategies."""
    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if not is_guardian(proc.cmdline()):
                found.append(proc.pid)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sigkill_rounds(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    seen, durable = tmp_path / "seen.jsonl", tmp_path / "durable.txt"
    cmd = script(tmp_path, "cp", STRATEGY.format(seen=str(seen), durable=str(durable)))
    config = write_config(
        tmp_path, {"cp": {"command": cmd, "heartbeat_timeout": 0, "start_seconds": 0.05}}
    )
    state_file = tmp_path / "state" / "strategy_cp.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    expected_resume: dict | None = None
    resumes_checked = 0
    best = 0
    for round_no in range(ROUNDS_PER_TEST):
        sup = subprocess.Popen(
            [PYTHON, "-m", "tui_monitor", "run", "--no-ui", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        family: list[int] = []
        try:
            # Kill at a random moment: in even rounds anywhere from start-up on; in odd rounds
            # once the strategy has been resumed, in the middle of its checkpoint storm.
            if round_no % 2:
                wait_for_sync(lambda pid=sup.pid: _resumes(seen, pid), timeout=10)
                deadline = time.monotonic() + rng.uniform(0.0, 0.4)
            else:
                deadline = time.monotonic() + rng.uniform(0.05, 1.0)
            while time.monotonic() < deadline:
                try:
                    family = strategies_of(sup.pid)
                except psutil.Error:
                    break
                time.sleep(0.02)
            sup.send_signal(signal.SIGKILL)
            sup.wait(timeout=5)
        finally:
            if sup.poll() is None:
                sup.kill()
                sup.wait()
        # No strategy process runs on unsupervised.
        wait_for_sync(lambda fam=family: not any(alive(p) for p in fam), timeout=5)
        # The resume of this round (if its strategy got that far) got the previous checkpoint.
        resumes = _resumes(seen, sup.pid)
        if resumes:
            assert resumes == [expected_resume]
            resumes_checked += 1
        if not state_file.exists():
            continue  # killed before the job was first written: nothing to check yet
        try:
            record = read_job_file(state_file)
        except JobFileError as err:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"state file torn after SIGKILL: {err}")
        checkpoint = record.checkpoint
        last_durable = last_line(durable)
        if checkpoint is not None:
            assert checkpoint["check"] == checkpoint["n"] * 7 + 3  # one the strategy wrote
            best = max(best, checkpoint["n"])
            if last_durable is not None:
                assert checkpoint["n"] >= int(last_durable)
        else:
            assert last_durable is None
        expected_resume = checkpoint
    assert resumes_checked >= ROUNDS_PER_TEST // 2
    assert best > 25  # the storm really ran, past durable checkpoints
    assert not list((tmp_path / "state").glob("*.corrupt-*"))
