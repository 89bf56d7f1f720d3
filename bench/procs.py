"""Every process a scenario starts, and the guarantee that none outlives it.

Everything is launched in a new session (its own process group) with a marker variable in its
environment, which supervisors pass on to their children (tui-monitor, supervisord and pm2 all
do). `Tracker.cleanup` kills the groups it launched, then every process that carries the marker —
wherever it re-parented, whatever group it moved to — and checks with psutil that none is left.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import termios
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import psutil

MARK = "TUI_MONITOR_BENCH_RUN"


class LeftoverProcesses(RuntimeError):
    pass


def marked(token: str) -> list[psutil.Process]:
    """Processes whose environment carries this run's marker."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(MARK) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class Tracker:
    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.popens: list[subprocess.Popen[Any]] = []
        self._files: list[IO[Any]] = []

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TUI_MONITOR_")}
        env.update(extra or {})
        env[MARK] = self.token
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        return env

    def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str,
        log: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[Any]:
        """Start `argv` in its own session; stdout and stderr to `log` (or nowhere)."""
        out: IO[Any] | int = subprocess.DEVNULL
        if log is not None:
            out = open(log, "ab")  # noqa: SIM115 - closed in cleanup
            self._files.append(out)
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.popens.append(popen)
        return popen

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | str,
        env: Mapping[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command (a CLI call) to its end, bounded in time, output captured."""
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.popens.append(popen)
        try:
            out, err = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            out, err = popen.communicate()
            err += f"\n(killed after {timeout:g} s)"
        return subprocess.CompletedProcess(popen.args, popen.returncode, out, err)

    def spawn_in_terminal(
        self, argv: Sequence[str], *, cwd: Path | str, size: tuple[int, int] = (200, 50)
    ) -> subprocess.Popen[Any]:
        """Start a full-screen program on a pseudo-terminal of `size` (columns, rows), as over
        SSH; what it draws is read and thrown away so that it never blocks on a full terminal."""
        master, slave = os.openpty()
        columns, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=self.env({"TERM": "xterm-256color", "COLORTERM": "truecolor"}),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.popens.append(popen)

        def discard() -> None:
            with contextlib.suppress(OSError):
                while os.read(master, 1 << 16):
                    pass
            os.close(master)

        threading.Thread(target=discard, daemon=True).start()
        return popen

    def cleanup(self, timeout: float = 10.0) -> list[str]:
        """Kill everything this tracker started; returns what had to be killed after the fact.
        Raises LeftoverProcesses if anything survives SIGKILL."""
        killed: list[str] = []
        for popen in self.popens:
            if popen.poll() is None:
                killed.append(f"{popen.pid} ({Path(str(popen.args[0])).name})")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while True:
            left = marked(self.token)
            for proc in left:
                with contextlib.suppress(psutil.Error):
                    killed.append(f"{proc.pid} ({proc.name()})")
                    proc.kill()
            if not left:
                break
            if time.monotonic() > deadline:
                raise LeftoverProcesses(", ".join(str(p.pid) for p in left))
            time.sleep(0.05)
        for popen in self.popens:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=1)
        for file in self._files:
            file.close()
        self.popens.clear()
        self._files.clear()
        return sorted(set(killed))

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


# ---- measuring a supervisor process -------------------------------------------------------------


def cpu_seconds(procs: Sequence[psutil.Process]) -> float:
    """User + system CPU of these processes themselves (all threads, not their children)."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            total += t.user + t.system
    return total


def memory_mib(procs: Sequence[psutil.Process]) -> tuple[float, float]:
    """(RSS, PSS) in MiB, summed over the processes."""
    rss = pss = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def thread_count(procs: Sequence[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.num_threads()
    return total
