"""One supervisor per state folder, enforced by a lock the kernel releases when we die.

An flock on `state/supervisor.lock` — not a pid file, which a SIGKILL leaves behind and a reused
pid makes lie. The file also records who holds it, for the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from tui_monitor.errors import TuiMonitorError

LOCK_NAME = "supervisor.lock"


class AlreadyRunning(TuiMonitorError):
    exit_code = 1


class StateLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 100, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"a supervisor is already running on {self.path.parent} ({holder}); "
                "use `tui-monitor attach` or the control commands to talk to it"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd

    def held_by_someone(self) -> bool:
        """True if a live supervisor holds the lock (without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
