"""Helpers shared by the reliability tests (`test_reliability_*.py`); this module holds no tests.

Every supervisor these tests start is a real `python -m tui_monitor run --no-ui` process carrying
a unique marker in its environment (`MARK_ENV`, as in test_headless_cli), which its strategies and
everything they fork inherit: that is how a test finds every process it caused, asserts that none
is left, and kills them all in its `finally`, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from tests.conftest import PYTHON, ROOT, alive, wait_for_sync
from tests.test_control import request
from tests.test_headless_cli import MARK_ENV, base_env, kill_marked, marked
from tui_monitor.jobs import JobRecord, read_job_file

__all__ = [
    "MARK_ENV",
    "Sup",
    "Zygote",
    "can_mount_tmpfs",
    "family_pids",
    "kill_marked",
    "leftovers",
    "marked",
    "parse_state",
    "tmpfs",
]


# ---- a supervisor as a process -----------------------------------------------------------------


#: A pre-imported supervisor program: `fork` gives a supervisor in milliseconds instead of the half
#: second that starting Python and importing the engine costs (the many SIGKILL rounds start 40).
#: It reads one JSON request per line ({"argv", "cwd", "env", "stderr", "exit"}) and answers the
#: pid; the child it forks is exactly `tui-monitor <argv>` from `main` on (a new session, the given
#: environment, stdin and stdout on /dev/null) and ends like it, through the interpreter's normal
#: exit. It reaps its children and writes each one's exit code to its "exit" file.
ZYGOTE = r"""
import json, os, select, signal, sys
import tui_monitor.cli, tui_monitor.headless  # everything `run --no-ui` needs, imported once
from tui_monitor.cli import main

exits = {}
while True:
    ready, _, _ = select.select([0], [], [], 0.02)
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in exits:
            with open(exits.pop(pid) + ".tmp", "w") as f:
                f.write(str(os.waitstatus_to_exitcode(status)))
            os.rename(f.name, f.name[:-4])
    if not ready:
        continue
    line = sys.stdin.buffer.readline()
    if not line:
        break
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        null = os.open(os.devnull, os.O_RDWR)
        err = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(err, 2)
        os.closerange(3, 65536)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        sys.argv = ["tui-monitor", *job["argv"]]
        raise SystemExit(main(job["argv"]))
    exits[pid] = job["exit"]
    sys.stdout.write(f"{pid}\n")
    sys.stdout.flush()
"""


class Zygote:
    """One pre-imported supervisor program per test module (see ZYGOTE)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", ZYGOTE],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def spawn(
        self, argv: list[str], cwd: Path, env: dict[str, str], stderr: Path, exit: Path
    ) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        job = {"argv": argv, "cwd": str(cwd), "env": env, "stderr": str(stderr), "exit": str(exit)}
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Sup:
    """`python -m tui_monitor run --no-ui --config FILE`, marked, with its stderr in a file; or
    the same forked from a `Zygote`."""

    def __init__(
        self,
        config: Path,
        mark: str | None = None,
        *,
        zygote: Zygote | None = None,
        preexec_fn: Callable[[], None] | None = None,
        **env: str,
    ) -> None:
        self.config = config
        self.mark = mark or uuid.uuid4().hex
        self.folder = config.parent
        self.socket = self.folder / "state" / "control.sock"
        name = f"supervisor-{uuid.uuid4().hex[:8]}"
        self.err, self.exit_file = self.folder / f"{name}.err", self.folder / f"{name}.exit"
        argv = ["run", "--no-ui", "--config", str(config)]
        self.proc: subprocess.Popen[bytes] | None = None
        if zygote is not None:
            env = base_env(self.mark, **env)
            self.pid = zygote.spawn(argv, self.folder, env, self.err, self.exit_file)
            return
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "tui_monitor", *argv],
                cwd=self.folder,
                env=base_env(self.mark, **env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )
        self.pid = self.proc.pid

    def stderr(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return not self.exit_file.exists() and alive(self.pid)

    def answers(self) -> bool:
        """True once the control socket answers (the engine has started: jobs loaded, strays of
        a dead supervisor ended, strategies launched)."""
        if not self.running():
            raise AssertionError(f"supervisor exited:\n{self.stderr()}")
        try:
            return request(self.socket, "hello", timeout=2)["ok"] is True
        except (OSError, ValueError):
            return False

    def wait_answering(self, timeout: float = 15.0) -> None:
        wait_for_sync(self.answers, timeout=timeout, step=0.02)

    def ask(self, op: str, timeout: float = 10.0, **args: Any) -> Any:
        answer = request(self.socket, op, timeout=timeout, **args)
        assert answer["ok"], answer
        return answer["result"]

    def children(self) -> list[int]:
        """Its strategy processes right now: children in its session (its guardian, and a daemon
        re-parented to it as a subreaper, each lead a session of their own)."""
        found = []
        try:
            for child in psutil.Process(self.pid).children():
                with contextlib.suppress(OSError):
                    if os.getsid(child.pid) == self.pid:
                        found.append(child.pid)
        except psutil.Error:
            pass
        return found

    def descendants(self) -> set[int]:
        try:
            return {c.pid for c in psutil.Process(self.pid).children(recursive=True)}
        except psutil.Error:
            return set()

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        """The exit code (-9 for SIGKILL)."""
        if self.proc is not None:
            return self.proc.wait(timeout=timeout)
        wait_for_sync(self.exit_file.exists, timeout=timeout, step=0.01)
        return int(self.exit_file.read_text())

    def kill(self) -> None:
        """SIGKILL, the way an OOM killer or an operator's `kill -9` does it."""
        self.signal(signal.SIGKILL)
        self.wait(timeout=10)

    def term(self, timeout: float = 30.0) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout=timeout)

    def ensure_dead(self) -> None:
        if self.running():
            self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired, AssertionError):
            self.wait(timeout=10)


def leftovers(mark: str, current: Sup | None = None) -> list[psutil.Process]:
    """Live processes carrying `mark` that are not `current` or one of its descendants: what
    earlier supervisors left behind."""
    keep: set[int] = set()
    if current is not None:
        keep = {current.pid} | current.descendants()
    return [p for p in marked(mark) if p.pid not in keep]


def family_pids(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().split()]


# ---- state on disk -----------------------------------------------------------------------------


def parse_state(state_dir: Path) -> dict[str, JobRecord]:
    """Every job file and history segment parses, and nothing had to be moved aside."""
    jobs: dict[str, JobRecord] = {}
    if not state_dir.exists():
        return jobs
    for path in sorted(state_dir.glob("strategy_*.json")):
        record = read_job_file(path)  # raises JobFileError on a torn file
        jobs[record.strategy] = record
    for segment in sorted((state_dir / "history").glob("history-*.json")):
        data = json.loads(segment.read_bytes() or b"{}")
        assert isinstance(data, dict), segment
    corrupt = [p.name for p in state_dir.rglob("*.corrupt-*")]
    assert not corrupt, f"files were moved aside as corrupt: {corrupt}"
    return jobs


# ---- a small filesystem ------------------------------------------------------------------------


def can_mount_tmpfs() -> bool:
    """True if this process may mount a tmpfs (root, and a kernel/container that allows it)."""
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/tui-monitor-tmpfs-probe-{uuid.uuid4().hex[:8]}")
    probe.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
            capture_output=True,
            timeout=10,
        )
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], capture_output=True, timeout=10)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (created), always unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        check=True,
        capture_output=True,
        timeout=10,
    )
    try:
        yield folder
    finally:
        for _ in range(50):  # lazily if still busy (a straggler's open file): never leak a mount
            if subprocess.run(["umount", str(folder)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, name: str = "filler") -> Path:
    """Fill the filesystem of `folder` to the last byte; returns the filler file."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * size
            with contextlib.suppress(OSError):
                while os.write(fd, block) == size:
                    pass
    finally:
        os.close(fd)
    return path


def all_dead(pids: list[int]) -> bool:
    return not any(alive(p) for p in pids)
