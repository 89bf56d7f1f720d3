"""Processes a dead supervisor left behind: found by pid *and* start time, never by pid alone.

A job file that still says `running` belonged to a supervisor that died. If its process is alive
with the recorded start time it is ended with its process group and every descendant (including
daemons that left the group: they carry the old supervisor's instance marker in their
environment). A pid reused by a stranger has another start time and is never touched.
"""

from __future__ import annotations

import contextlib
import os
import signal

import psutil

from tui_monitor import process

CREATE_TIME_TOLERANCE = 0.05  # seconds; psutil derives it from boot time and clock ticks


def same_process(pid: int, create_time: float | None) -> psutil.Process | None:
    if create_time is None:
        return None
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) <= CREATE_TIME_TOLERANCE:
            return proc
    except (psutil.Error, ValueError):  # ValueError: a pid psutil refuses (negative)
        pass
    return None


def end_leftovers(pid: int | None, create_time: float | None, instance: str | None) -> list[int]:
    """SIGKILL what is left of a job's process tree; returns the pids that were signalled."""
    victims: dict[int, psutil.Process] = {}
    leader = same_process(pid, create_time) if pid else None
    if leader is not None:
        victims[leader.pid] = leader
        with contextlib.suppress(psutil.Error):
            for child in leader.children(recursive=True):
                victims[child.pid] = child
    if instance:
        for proc in process.find_marked(instance):
            victims[proc.pid] = proc
    if leader is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, signal.SIGKILL)
    process.kill_processes(list(victims.values()), signal.SIGKILL)
    return sorted(victims)
