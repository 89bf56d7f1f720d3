"""Promises 1, 2 and 3 under attack: the supervisor is SIGKILLed at random moments of five phases
— start-up, a restart storm, a checkpoint storm, a log storm with constant rotation, and a
graceful shutdown — 30 rounds in all (5 phases x 6 rounds), each round followed by the
next supervisor on the same folder, and every test ending with a graceful one.

After every kill: the killed supervisor's strategy processes die with it (parent-death signal),
every job file and history segment parses and nothing was moved aside as corrupt, every job
holds a checkpoint its strategy really wrote and none older than the last one acknowledged as
durable. At the next start: whatever the strategies had forked (a child in their group, one that
left it with setpgid, a setsid daemon) is ended, and every interrupted job is resumed with exactly
the checkpoint on disk. The log storm's files hold every run's lines in order without a gap, and
the last (graceful) run's lines all of them.
"""

from __future__ import annotations

import json
import random
import re
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, alive, wait_for_sync, write_config
from tests.test_reliability_support import (
    Sup,
    Zygote,
    all_dead,
    family_pids,
    kill_marked,
    leftovers,
    marked,
    parse_state,
)

ROUNDS = 6
PAD = "x" * 60
LOG_LINES = 60_000

#: One strategy program; MODE picks its behaviour. It speaks the documented wire format itself
#: (not through tui_monitor.client) so that it knows whether a reply really came: a resume with
#: no answer means the supervisor died, and is not recorded.
STRATEGY = r"""
import json, os, signal, socket, sys, time

NAME = os.environ["TUI_MONITOR_STRATEGY"]
OUT = os.environ["RELIABILITY_DIR"]
MODE = os.environ["MODE"]
chan = socket.socket(fileno=int(os.environ["TUI_MONITOR_FD"]))
replies = chan.makefile("rb")
stopping = False


def note(name, text):
    fd = os.open(os.path.join(OUT, name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def send(msg):
    try:
        chan.sendall(json.dumps(msg).encode() + b"\n")
        return True
    except OSError:
        sys.exit(0)  # the supervisor is gone


def ask(msg):
    send(msg)
    try:
        while True:
            line = replies.readline()
            if not line:
                sys.exit(0)  # no answer: the supervisor died
            reply = json.loads(line)
            if reply.get("id") == msg["id"]:
                return reply
    except OSError:
        sys.exit(0)


def family():
    # A child in our group, one that left it (setpgid) and a setsid daemon (double fork). All
    # ignore SIGTERM; none has a parent-death signal: only a supervisor can end them.
    for how in ("group", "setpgid", "daemon"):
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                if how == "setpgid":
                    os.setpgid(0, 0)
                elif how == "daemon":
                    os.setsid()
                    if os.fork():
                        os._exit(0)
                note(NAME + ".family", f"{os.getpid()}\n")
                while True:
                    time.sleep(1)
            finally:
                os._exit(0)
        if how == "daemon":
            os.waitpid(pid, 0)


def on_term(signum, frame):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, on_term)
ppid = os.getppid()
state = ask({"op": "resume_state", "id": "resume"})["state"]
note(NAME + ".resumes", json.dumps({"ppid": ppid, "pid": os.getpid(), "state": state}) + "\n")
n = state["n"] if state else 0
if os.environ.get("FAMILY"):
    family()


def checkpoint(durable):
    global n
    n += 1
    msg = {"op": "checkpoint", "state": {"n": n, "check": n * 7 + 3, "pad": "x" * 200}}
    if not durable:
        return send(msg)
    msg.update(durable=True, id=n)
    if ask(msg).get("op") == "ack":
        note(NAME + ".durable", f"{n}\n")


if MODE == "crash":  # a restart storm: two checkpoints (one durable), then a crash
    checkpoint(False)
    checkpoint(True)
    sys.exit(1)
if MODE == "log":  # a log storm: numbered lines as fast as possible, then quiet
    out = sys.stdout.buffer
    me = os.getpid()
    for start in range(0, LOG_LINES, 1000):
        out.write(b"".join(b"<%d:%08d:%s>\n" % (me, k, PAD) for k in range(start, start + 1000)))
    out.flush()
    note(NAME + ".done", f"{me}\n")
k = 0
while True:  # a checkpoint storm; durable every 20th; a SIGTERM ends it after one more durable one
    k += 1
    if stopping:
        time.sleep(0.1)  # "saving": a shutdown takes a while
        checkpoint(True)
        sys.exit(0)
    checkpoint(k % 20 == 0)
    if MODE == "log":
        time.sleep(0.01)
""".replace("LOG_LINES", str(LOG_LINES)).replace("PAD", repr(PAD.encode()))

PHASES: dict[str, dict[str, dict[str, Any]]] = {
    "startup": {"a": {"MODE": "checkpoint", "FAMILY": "1"}, "b": {"MODE": "crash"}},
    "restart": {"a": {"MODE": "crash"}, "b": {"MODE": "crash"}, "c": {"MODE": "checkpoint"}},
    "checkpoint": {
        "a": {"MODE": "checkpoint", "FAMILY": "1"},
        "b": {"MODE": "checkpoint"},
        "c": {"MODE": "checkpoint"},
    },
    "log": {"a": {"MODE": "log"}, "b": {"MODE": "checkpoint"}},
    "shutdown": {"a": {"MODE": "checkpoint", "FAMILY": "1"}, "b": {"MODE": "checkpoint"}},
}


def configure(folder: Path, phase: str) -> Path:
    program = folder / "strategy.py"
    program.write_text(STRATEGY)
    strategies = {}
    for name, env in PHASES[phase].items():
        keys: dict[str, Any] = {
            "command": [PYTHON, str(program)],
            "env": {**env, "RELIABILITY_DIR": str(folder)},
            "heartbeat_timeout": 0,
            "start_seconds": 0.05,
            "restart_delay": 0,
            "max_restarts": 100_000,
            "restart_window": 1,
            "stop_timeout": 2,
        }
        if env["MODE"] == "log":
            keys |= {"log_max_bytes": 1 << 19, "log_backups": 400}
        strategies[name] = keys
    return write_config(folder, strategies, {"metrics_interval": 60})


def resumes(folder: Path, name: str, supervisor: int) -> list[dict[str, Any] | None]:
    path = folder / f"{name}.resumes"
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["state"] for e in entries if e["ppid"] == supervisor]


def last_durable(folder: Path, name: str) -> int | None:
    path = folder / f"{name}.durable"
    lines = path.read_text().split() if path.exists() else []
    return int(lines[-1]) if lines else None


def all_resumed(folder: Path, names: list[str], sup: Sup) -> bool:
    return all(resumes(folder, name, sup.pid) for name in names)


def kill_at_random(sup: Sup, phase: str, folder: Path, rng: random.Random) -> list[int]:
    """Wait for the phase's moment, then SIGKILL the supervisor at a random instant in it.
    Returns its strategy processes of the last moment before the kill."""
    names = list(PHASES[phase])
    lock = folder / "state" / "supervisor.lock"
    if phase == "startup":
        # From the instant it holds the state lock: jobs being loaded, strays ended, launches.
        wait_for_sync(
            lambda: lock.exists() and f"pid {sup.pid}" in lock.read_text(), timeout=15, step=0.005
        )
        delay = rng.uniform(0.0, 0.25)
    elif phase == "restart":
        wait_for_sync(lambda: len(resumes(folder, "a", sup.pid)) >= 2, timeout=15)
        delay = rng.uniform(0.0, 0.5)
    elif phase == "log":
        wait_for_sync(lambda: resumes(folder, "a", sup.pid), timeout=15)
        delay = rng.uniform(0.0, 0.6)
    else:
        wait_for_sync(lambda: all_resumed(folder, names, sup), timeout=15)
        delay = rng.uniform(0.0, 0.4)
        if phase == "shutdown":
            time.sleep(rng.uniform(0.0, 0.2))
            sup.signal(signal.SIGTERM)  # SIGTERM: a graceful shutdown begins...
            delay = rng.uniform(0.0, 0.35)  # ...and is cut short
    time.sleep(delay)
    strategies = sup.children()
    sup.kill()
    return strategies


def check_after_kill(folder: Path, phase: str, strategies: list[int]) -> dict[str, Any]:
    """What must hold once a supervisor died by SIGKILL; returns the checkpoints each job must be
    resumed with by the next supervisor."""
    # Promise 2: its strategy processes die with it (the parent-death signal).
    wait_for_sync(lambda: all_dead(strategies), timeout=10, step=0.05)
    # Promise 1: every file parses; no checkpoint acknowledged as durable is lost.
    jobs = parse_state(folder / "state")
    expected: dict[str, Any] = {}
    for name in PHASES[phase]:
        record = jobs.get(name)
        durable = last_durable(folder, name)
        if record is None:
            assert durable is None, f"{name}: durable checkpoint {durable} acked, no job file"
            expected[name] = None
            continue
        assert record.status.value in ("running", "interrupted"), record
        checkpoint = record.checkpoint
        if checkpoint is None:
            assert durable is None, f"{name}: durable checkpoint {durable} lost"
        else:
            assert checkpoint["check"] == checkpoint["n"] * 7 + 3  # one the strategy wrote
            if durable is not None:
                assert checkpoint["n"] >= durable, f"{name}: durable {durable} lost ({checkpoint})"
        expected[name] = checkpoint
    return expected


LINE = re.compile(rb"<(\d+):(\d{8}):x{60}>")


def check_log_files(folder: Path, final_pid: int) -> dict[str, int]:
    """Every run's lines are in the files in order, without a gap; a killed run may lose its last
    lines (they were in the pipe when the supervisor died), the graceful last run loses none."""
    base = folder / "logs" / "strategies" / "a.log"
    backups = sorted(base.parent.glob("a.log.*"), key=lambda p: -int(p.suffix[1:]))
    numbers: dict[int, list[int]] = defaultdict(list)
    torn = 0
    for path in [*backups, base]:
        chunks = path.read_bytes().split(b"\n")
        for chunk in chunks:
            if not chunk:
                continue
            if LINE.fullmatch(chunk):
                match = LINE.fullmatch(chunk)
            else:  # the last bytes of a killed run, then (glued) the next run's first line
                torn += 1
                tail = chunk[chunk.rfind(b"<") :]
                match = LINE.fullmatch(tail)
                if match is None:
                    continue  # a prefix: that run's last, partly written line
            assert match is not None
            numbers[int(match[1])].append(int(match[2]))
    assert final_pid in numbers
    for pid, seq in numbers.items():
        assert seq == list(range(len(seq))), f"run {pid}: lines lost or out of order"
    assert len(numbers[final_pid]) == LOG_LINES, "the graceful run lost lines"
    return {"runs": len(numbers), "lines": sum(map(len, numbers.values())), "torn": torn}


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    yield z
    z.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("phase", list(PHASES))
def test_sigkill_rounds(tmp_path: Path, phase: str, zygote: Zygote) -> None:
    rng = random.Random(phase)
    config = configure(tmp_path, phase)
    names = list(PHASES[phase])
    mark = None
    sups: list[Sup] = []
    expected: dict[str, Any] = dict.fromkeys(names)
    resumed_checked = 0
    try:
        for _ in range(ROUNDS):
            sup = Sup(config, mark, zygote=zygote)
            mark = sup.mark
            sups.append(sup)
            before = [p for p in family_pids(tmp_path / "a.family") if alive(p)]
            children = kill_at_random(sup, phase, tmp_path, rng)
            # Its strategy processes — not the strategies' children that a shutdown re-parented
            # to it (a subreaper): those only the next supervisor ends.
            family = {pid for name in names for pid in family_pids(tmp_path / f"{name}.family")}
            strategies = [p for p in children if p not in family]
            strategies += _children_of_dead(sup, tmp_path, names)
            # What the killed supervisor's start-up resumed: the checkpoints on disk before it.
            for name in names:
                got = resumes(tmp_path, name, sup.pid)
                if got:
                    assert got[0] == expected[name], (name, got[0], expected[name])
                    resumed_checked += 1
            if phase != "startup" and before:
                # It got past its start before it was killed: it had ended what earlier runs left.
                wait_for_sync(lambda b=before: all_dead(b), timeout=5, step=0.05)
            expected = check_after_kill(tmp_path, phase, strategies)
        # The next supervisor, for good: it ends every leftover and resumes every job.
        sup = Sup(config, mark, zygote=zygote)
        sups.append(sup)
        sup.wait_answering()
        wait_for_sync(lambda: not leftovers(mark, sup), timeout=10, step=0.1)
        wait_for_sync(lambda: all_resumed(tmp_path, names, sup), timeout=15)
        for name in names:
            assert resumes(tmp_path, name, sup.pid)[0] == expected[name], name
        if phase == "log":
            wait_for_sync(lambda: (tmp_path / "a.done").exists() and _done(tmp_path, sup), 15)
        assert sup.term() == 0
        wait_for_sync(lambda: not marked(mark), timeout=10, step=0.1)
        jobs = parse_state(tmp_path / "state")
        assert {name: jobs[name].status.value for name in names} == dict.fromkeys(
            names, "interrupted"
        )
        if phase == "log":
            final = next(e for e in _entries(tmp_path, "a") if e["ppid"] == sup.pid)["pid"]
            check_log_files(tmp_path, final)
        assert "Traceback" not in "".join(s.stderr() for s in sups)
    finally:
        for s in sups:
            s.ensure_dead()
        if mark is not None:
            kill_marked(mark)


def _entries(folder: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (folder / f"{name}.resumes").read_text().splitlines()]


def _done(folder: Path, sup: Sup) -> bool:
    finals = [e["pid"] for e in _entries(folder, "a") if e["ppid"] == sup.pid]
    return bool(finals) and str(finals[0]) in (folder / "a.done").read_text().split()


def _children_of_dead(sup: Sup, folder: Path, names: list[str]) -> list[int]:
    """The strategy processes the killed supervisor had started (they were its children)."""
    pids = []
    for name in names:
        for entry in _entries_if(folder, name):
            if entry["ppid"] == sup.pid:
                pids.append(entry["pid"])
    return pids


def _entries_if(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / f"{name}.resumes"
    return _entries(folder, name) if path.exists() else []
