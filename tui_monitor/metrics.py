"""System, supervisor and per-strategy metrics from psutil: one sweep per interval, off the loop.

psutil's pitfalls (research/libraries.md §3) shape this: `Process` objects are kept between
sweeps (CPU % of a fresh one is always 0), the process table is scanned once per sweep and
grouped by strategy, `psutil.Error` is caught per process, and host uptime uses CLOCK_BOOTTIME
(boot_time() follows the wall clock).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import socket
import sys
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tui_monitor import process

HISTORY_SECONDS = 600.0


@dataclass(frozen=True)
class DiskUsage:
    path: str
    total: int
    used: int
    free: int
    percent: float


@dataclass(frozen=True)
class SystemMetrics:
    cpu_percent: float
    per_cpu: tuple[float, ...]
    load: tuple[float, float, float]
    memory_total: int
    memory_used: int
    memory_percent: float
    swap_total: int
    swap_used: int
    swap_percent: float
    disks: tuple[DiskUsage, ...]
    net_sent_per_s: float
    net_recv_per_s: float
    disk_read_per_s: float
    disk_write_per_s: float


@dataclass(frozen=True)
class ProcessMetrics:
    pid: int
    status: str
    threads: int
    open_files: int
    cpu_percent: float
    rss: int
    uptime: float


@dataclass(frozen=True)
class SystemInfo:
    hostname: str
    platform: str
    architecture: str
    python: str
    boot_time: float
    host_uptime: float


@dataclass(frozen=True)
class StrategyUsage:
    cpu_percent: float  # of one core, summed over the process tree (can exceed 100)
    rss: int  # bytes, summed over the tree
    processes: int


@dataclass(frozen=True)
class MetricsSample:
    time: float
    system: SystemMetrics
    supervisor: ProcessMetrics
    info: SystemInfo
    strategies: dict[str, StrategyUsage] = field(default_factory=dict)
    sweep_seconds: float = 0.0  # what the sweep itself cost

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class HistoryPoint:
    time: float
    cpu_percent: float
    memory_percent: float
    swap_percent: float
    load1: float


def host_uptime() -> float:
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.time() - psutil.boot_time()


def system_info() -> SystemInfo:
    return SystemInfo(
        hostname=socket.gethostname(),
        platform=platform.platform(),
        architecture=platform.machine(),
        python=sys.version.split()[0],
        boot_time=psutil.boot_time(),
        host_uptime=host_uptime(),
    )


class Sampler:
    """Keeps the state psutil needs between sweeps. `sample()` blocks: call it in a thread."""

    def __init__(
        self, disk_paths: Iterable[Path], history_seconds: float = HISTORY_SECONDS
    ) -> None:
        self.disk_paths = [str(p) for p in disk_paths]
        self._me = psutil.Process()
        self._me.cpu_percent(None)
        psutil.cpu_percent(None)
        psutil.cpu_percent(None, percpu=True)
        self._procs: dict[int, tuple[psutil.Process, float, float]] = {}  # CPU s at when
        self._last_io: tuple[float, Any, Any] | None = None
        self._started = time.monotonic()
        self.history: deque[HistoryPoint] = deque()
        self.history_seconds = history_seconds
        self.latest: MetricsSample | None = None

    def _disks(self) -> tuple[DiskUsage, ...]:
        seen: set[int] = set()
        out: list[DiskUsage] = []
        for path in self.disk_paths:
            try:
                dev = os.stat(path).st_dev
                if dev in seen:
                    continue
                seen.add(dev)
                du = psutil.disk_usage(path)
            except OSError:
                continue
            out.append(DiskUsage(path, du.total, du.used, du.free, du.percent))
        return tuple(out)

    def _rates(self, now: float) -> tuple[float, float, float, float]:
        net = disk = None
        with contextlib.suppress(Exception):
            net = psutil.net_io_counters()
        with contextlib.suppress(Exception):
            disk = psutil.disk_io_counters()
        rates = (0.0, 0.0, 0.0, 0.0)
        if self._last_io is not None:
            then, net0, disk0 = self._last_io
            dt = max(now - then, 1e-6)
            if net and net0:
                rates = (
                    (net.bytes_sent - net0.bytes_sent) / dt,
                    (net.bytes_recv - net0.bytes_recv) / dt,
                    *rates[2:],
                )
            if disk and disk0:
                rates = (
                    *rates[:2],
                    (disk.read_bytes - disk0.read_bytes) / dt,
                    (disk.write_bytes - disk0.write_bytes) / dt,
                )
        self._last_io = (now, net, disk)
        return rates

    def _system(self, now: float) -> SystemMetrics:
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        sent, recv, read, write = self._rates(now)
        try:
            load = os.getloadavg()
        except OSError:
            load = (0.0, 0.0, 0.0)
        return SystemMetrics(
            cpu_percent=psutil.cpu_percent(None),
            per_cpu=tuple(psutil.cpu_percent(None, percpu=True)),
            load=(load[0], load[1], load[2]),
            memory_total=vm.total,
            memory_used=vm.total - vm.available,
            memory_percent=vm.percent,
            swap_total=sw.total,
            swap_used=sw.used,
            swap_percent=sw.percent,
            disks=self._disks(),
            net_sent_per_s=sent,
            net_recv_per_s=recv,
            disk_read_per_s=read,
            disk_write_per_s=write,
        )

    def _supervisor(self) -> ProcessMetrics:
        me = self._me
        with me.oneshot():
            try:
                open_files = me.num_fds()
            except (psutil.Error, AttributeError):
                open_files = 0
            return ProcessMetrics(
                pid=me.pid,
                status=me.status(),
                threads=me.num_threads(),
                open_files=open_files,
                cpu_percent=me.cpu_percent(None),
                rss=me.memory_info().rss,
                uptime=time.monotonic() - self._started,
            )

    def _trees(self, roots: Mapping[str, int]) -> dict[str, list[int]]:
        """Every process of each strategy's tree, walked down from the strategy through
        /proc/PID/task/*/children: a few small reads per process, where psutil's children() reads
        the stat file of every process on the machine."""
        return {name: [pid, *process.descendant_pids(pid)] for name, pid in roots.items()}

    def _strategies(self, roots: Mapping[str, int]) -> dict[str, StrategyUsage]:
        trees = self._trees(roots) if roots else {}
        mono = time.monotonic()
        strategies = {name: self._usage(pids, mono) for name, pids in trees.items()}
        live = {pid for pids in trees.values() for pid in pids}
        for pid in list(self._procs):
            if pid not in live:
                del self._procs[pid]
        return strategies

    def _usage(self, pids: list[int], now: float) -> StrategyUsage:
        """CPU % from the change in each process's CPU time since the last sweep (psutil's
        cpu_percent() would also ask the CPU count and the clock once per process)."""
        cpu, rss, alive = 0.0, 0, 0
        for pid in pids:
            known = self._procs.get(pid)
            try:
                proc = known[0] if known else psutil.Process(pid)
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except psutil.Error:
                self._procs.pop(pid, None)
                continue
            used = times.user + times.system
            if known is not None and now > known[2]:
                cpu += max(0.0, used - known[1]) / (now - known[2]) * 100
            self._procs[pid] = (proc, used, now)
            alive += 1
        return StrategyUsage(cpu, rss, alive)

    def sample(self, roots: Mapping[str, int], per_strategy: bool = True) -> MetricsSample:
        """One sweep. Without `per_strategy` the strategies' usage of the previous sweep is
        carried over (for those still running): the per-process reads are most of the cost."""
        began = time.perf_counter()
        now = time.time()
        system = self._system(time.monotonic())
        if per_strategy or self.latest is None:
            strategies = self._strategies(roots)
        else:
            old = self.latest.strategies
            strategies = {name: old[name] for name in roots if name in old}
        sample = MetricsSample(
            time=now,
            system=system,
            supervisor=self._supervisor(),
            info=system_info(),
            strategies=strategies,
            sweep_seconds=time.perf_counter() - began,
        )
        self.history.append(
            HistoryPoint(
                now, system.cpu_percent, system.memory_percent, system.swap_percent, system.load[0]
            )
        )
        while self.history and self.history[0].time < now - self.history_seconds:
            self.history.popleft()
        self.latest = sample
        return sample
