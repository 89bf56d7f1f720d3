"""The guardian ends a dead supervisor's strategies; a clean shutdown leaves it nothing to do.

The "supervisor" here is a small real process that starts a Guardian and marked children, so it
can be SIGKILLed like the real one without taking the test with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import psutil
import pytest

from tests.conftest import alive, wait_for, wait_for_sync
from tui_monitor import process
from tui_monitor.guardian import Guardian

PYTHON = sys.executable

#: A stand-in supervisor: a guardian, then marked children; prints their pids and sleeps.
SUPERVISOR = """
import asyncio, os, subprocess, sys
from pathlib import Path
from tui_monitor.guardian import Guardian
from tui_monitor import process

instance, grace, app_log, *children = sys.argv[1:]

async def main():
    guardian = Guardian(instance, float(grace), Path(app_log), print)
    guardian.start()
    env = dict(os.environ, **{process.INSTANCE_ENV: instance})
    pids = [
        subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True).pid
        for code in children
    ]
    print(guardian.pid, *pids, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""

SLEEPER = "import time; time.sleep(60)"
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
#: A strategy that forks a daemon into a session of its own (setsid): a process-group kill
#: misses it; the marker finds it.
FORKER = (
    "import os, subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
    "start_new_session=True); time.sleep(60)"
)


def start_supervisor(
    tmp_path: Path, grace: float, *children: str
) -> tuple[subprocess.Popen, list[int]]:
    code = tmp_path / "supervisor.py"
    code.write_text(textwrap.dedent(SUPERVISOR))
    instance = uuid.uuid4().hex
    proc = subprocess.Popen(
        [PYTHON, str(code), instance, str(grace), str(tmp_path / "app.log"), *children],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    pids = [int(x) for x in proc.stdout.readline().split()]
    return proc, pids


def marked(instance_pid: int) -> list[int]:
    """Pids marked like the children of the stand-in supervisor `instance_pid`."""
    env = psutil.Process(instance_pid).environ()
    return [p.pid for p in process.find_marked(env[process.INSTANCE_ENV])]


def ignores_sigterm(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_supervisors_strategies_and_their_daemons_are_ended(tmp_path: Path) -> None:
    proc, (guardian, sleeper, forker) = start_supervisor(tmp_path, 5, SLEEPER, FORKER)
    try:
        family = wait_for_sync(lambda: len(marked(forker)) == 3 and marked(forker), timeout=10)
        proc.kill()
        proc.wait()
        # SIGTERM is enough for these: no grace to wait out.
        wait_for_sync(lambda: not any(alive(p) for p in [guardian, *family]), timeout=10)
        assert sleeper in family and forker in family
        log = wait_for_sync(
            lambda: (tmp_path / "app.log").exists() and (tmp_path / "app.log").read_text()
        )
        assert "guardian" in log and "3 processes ended with SIGTERM, 0 of them with SIGKILL" in log
    finally:
        kill_all([guardian, sleeper, forker])


def test_a_strategy_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    proc, (guardian, stubborn) = start_supervisor(tmp_path, 0.3, STUBBORN)
    try:
        wait_for_sync(lambda: ignores_sigterm(stubborn))
        proc.kill()
        proc.wait()
        wait_for_sync(lambda: not alive(stubborn), timeout=10)
        log = wait_for_sync(
            lambda: (tmp_path / "app.log").exists() and (tmp_path / "app.log").read_text()
        )
        assert "1 of them with SIGKILL after 0.3 s" in log
    finally:
        kill_all([guardian, stubborn])


async def test_a_clean_shutdown_dismisses_the_guardian_and_ends_nothing(tmp_path: Path) -> None:
    problems: list[str] = []
    instance = uuid.uuid4().hex
    guardian = Guardian(instance, 1, tmp_path / "app.log", problems.append)
    guardian.start()
    pid = guardian.pid
    assert pid is not None and alive(pid)
    env = dict(os.environ, **{process.INSTANCE_ENV: instance})
    strategy = subprocess.Popen([PYTHON, "-c", SLEEPER], env=env)
    try:
        await guardian.dismiss()
        assert not alive(pid)
        assert strategy.poll() is None, "a dismissed guardian ended a strategy"
        assert problems == [] and not (tmp_path / "app.log").exists()
    finally:
        strategy.kill()
        strategy.wait()


async def test_a_killed_guardian_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tui_monitor.guardian.RESPAWN_DELAY", 0.05)
    problems: list[str] = []
    guardian = Guardian(uuid.uuid4().hex, 1, tmp_path / "app.log", problems.append)
    guardian.start()
    first = guardian.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await wait_for(lambda: guardian.pid not in (None, first))
    assert alive(guardian.pid)  # type: ignore[arg-type]
    assert problems and "guardian exited" in problems[0]
    await guardian.dismiss()
    assert not alive(first)
