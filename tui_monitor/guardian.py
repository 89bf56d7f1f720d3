"""The guardian: ends a supervisor's strategies if the supervisor dies without stopping them.

A SIGKILLed (or OOM-killed) supervisor cannot stop anything itself, and strategies that run on
unsupervised move money unwatched (design.md promise 2). The guardian is one small shell per
supervisor, in a session of its own, blocked reading a pipe whose only writer is the supervisor.
A supervisor that shuts down cleanly writes `bye` and the shell exits. A supervisor that dies
closes the pipe by dying; the shell then execs `python -m tui_monitor.guardian`, which ends every
process carrying the dead supervisor's instance marker: SIGTERM, then SIGKILL after the grace.

It replaces starting every strategy through `setpriv --pdeathsig`: that cost an extra exec
(~1.4 ms) on every restart, and reached only the strategy process itself, not what it forked.
While the supervisor runs, the guardian costs one idle `sh` (about 1.6 MiB RSS, 0.4 MiB PSS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from tui_monitor import process

SHELL = "/bin/sh"
#: $0 names it in `ps`; $1 is the Python interpreter, the rest the cleanup's arguments. Terminal
#: signals are ignored (that survives the exec): a hung-up SSH session is the supervisor's to
#: handle, not ours.
SCRIPT = """trap '' HUP INT
read -r word
[ "$word" = bye ] && exit 0
python=$1
shift
exec "$python" -m tui_monitor.guardian "$@"
"""
NAME = "tui-monitor-guardian"
RESPAWN_DELAY = 1.0  # seconds; a guardian that cannot run must not become a fork loop


def is_guardian(cmdline: Sequence[str]) -> bool:
    """Whether a process (by its command line) is a guardian, before or after its exec."""
    return any("tui_monitor.guardian" in part for part in cmdline)


def _package_parent() -> str:
    return str(Path(__file__).resolve().parent.parent)


class Guardian:
    """The supervisor's side: start the shell, restart it if it is killed, dismiss it on a clean
    shutdown. Kept out of the restart path entirely: it costs nothing per strategy start."""

    def __init__(
        self,
        instance: str,
        grace: float,
        app_log: Path,
        on_problem: Callable[[str], None],
    ) -> None:
        self.instance, self.grace, self.app_log = instance, grace, app_log
        self._on_problem = on_problem
        self._write_fd = -1
        self._child: process.Child | None = None
        self._dismissed = False
        self._respawn: asyncio.TimerHandle | None = None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def start(self) -> None:
        """Start the shell; if it cannot be started, say so and keep trying."""
        self._dismissed = False
        try:
            self._spawn()
        except OSError as exc:
            self._on_problem(f"cannot start the guardian: {exc.strerror or exc}")
            self._retry()

    def _cleanup_args(self) -> list[str]:
        return [self.instance, f"{self.grace:g}", str(self.app_log)]

    def _spawn(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_package_parent(), env.get("PYTHONPATH", "")) if p
        )
        read_fd, write_fd = os.pipe()
        try:
            child = process.spawn(
                [SHELL, "-c", SCRIPT, NAME, sys.executable, *self._cleanup_args()],
                cwd="/",
                env=env,
                stdin=read_fd,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                new_session=True,
            )
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._write_fd, self._child = write_fd, child
        child.exited.add_done_callback(lambda _f: self._exited())

    def _exited(self) -> None:
        self._close_pipe()
        self._child = None
        if not self._dismissed:
            self._on_problem(f"the guardian exited; starting a new one in {RESPAWN_DELAY:g} s")
            self._retry()

    def _retry(self) -> None:
        loop = asyncio.get_running_loop()
        self._respawn = loop.call_later(RESPAWN_DELAY, self._start_again)

    def _start_again(self) -> None:
        self._respawn = None
        if not self._dismissed:
            self.start()

    async def dismiss(self, timeout: float = 2.0) -> None:
        """A clean shutdown: every strategy has been stopped, nothing is left to end. Waits for
        the shell to exit, so it is reaped before the loop goes away."""
        self._dismissed = True
        if self._respawn is not None:
            self._respawn.cancel()
        if self._write_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self._write_fd, b"bye\n")
        self._close_pipe()
        if self._child is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._child.exited)

    def _close_pipe(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1


# ---- the cleanup, run by the shell once the supervisor is gone ---------------------------------


def end_strategies(instance: str, grace: float) -> tuple[int, int]:
    """SIGTERM every process marked with `instance` (and the process groups they lead), then
    SIGKILL what is left after `grace` seconds. Returns (terminated, killed)."""
    victims = process.find_marked(instance)
    for proc in victims:
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == proc.pid:  # a strategy leads its group
                os.killpg(proc.pid, signal.SIGTERM)
    process.kill_processes(victims, signal.SIGTERM)
    psutil.wait_procs(victims, timeout=grace)  # returns as soon as every one is gone
    # Found again by marker: a pid recycled during the grace is never a victim.
    stubborn = [p for p in process.find_marked(instance) if p.is_running()]
    process.kill_processes(stubborn, signal.SIGKILL)
    return len(victims), len(stubborn)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    instance, grace, app_log = args[0], float(args[1]), Path(args[2])
    began = time.monotonic()
    terminated, killed = end_strategies(instance, grace)
    with contextlib.suppress(OSError):
        from loguru import logger

        from tui_monitor.applog import FILE_FORMAT

        logger.add(app_log, format=FILE_FORMAT, level="INFO")
        logger.bind(component="guardian").warning(
            f"the supervisor died without stopping its strategies: {terminated} processes "
            f"ended with SIGTERM, {killed} of them with SIGKILL after {grace:g} s "
            f"(took {time.monotonic() - began:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
