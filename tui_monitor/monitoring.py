"""The periodic side of the engine: one metrics sweep per interval (in its own thread, never on
the event loop), then health judged and handed to whoever listens (alerts, systemd status)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tui_monitor.config import MonitorConfig
from tui_monitor.health import DEGRADED, Reason
from tui_monitor.metrics import MetricsSample, Sampler


@dataclass(frozen=True)
class MonitoredSample(MetricsSample):
    """A sweep with what a view needs to judge it — views get it as the `metrics` of the
    detailed health report, over the control socket too: the configured thresholds
    (`memory_percent`, `disk_percent`), and which of the supervisor's folders each disk holds
    (`{"/srv/app/state": ["state", "logs"]}` when the logs share the state's filesystem)."""

    thresholds: dict[str, float] = field(default_factory=dict)
    disk_folders: dict[str, list[str]] = field(default_factory=dict)


def disk_folders(folders: list[tuple[str, Path]], disks: Iterable[str]) -> dict[str, list[str]]:
    """The names of `folders` on the filesystem of each of `disks`. The sampler keeps, of the
    paths on one filesystem, the first: `folders` are given in the sampler's order."""
    names: dict[int, list[str]] = {}
    first: dict[int, str] = {}
    for name, path in folders:
        try:
            device = os.stat(path).st_dev
        except OSError:
            continue
        names.setdefault(device, []).append(name)
        first.setdefault(device, str(path))
    wanted = set(disks)
    return {path: names[device] for device, path in first.items() if path in wanted}


def resource_reasons(sample: MetricsSample | None, monitor: MonitorConfig) -> list[Reason]:
    """Memory or disk at or above its threshold (the seed's 90 % alerts)."""
    if sample is None:
        return []
    reasons = []
    mem = sample.system.memory_percent
    if mem >= monitor.memory_threshold:
        reasons.append(
            Reason(
                DEGRADED,
                "memory",
                f"memory {mem:.0f}% used (threshold {monitor.memory_threshold:g}%)",
            )
        )
    for disk in sample.system.disks:
        if disk.percent >= monitor.disk_threshold:
            reasons.append(
                Reason(
                    DEGRADED,
                    "disk",
                    f"disk of {disk.path} {disk.percent:.0f}% used "
                    f"(threshold {monitor.disk_threshold:g}%)",
                )
            )
    return reasons


#: While nobody looks (no view asked for metrics lately), the system is sampled every
#: UNWATCHED_SLOWER × `metrics_interval` (memory and disk alerts come from these samples: 10 s
#: late at worst by default) and per-strategy CPU and memory only every UNWATCHED_EVERY of those
#: sweeps: the metrics were 80 % of an idle supervisor's CPU. State alerts do not wait for them.
UNWATCHED_SLOWER = 5
UNWATCHED_EVERY = 2
WATCH_HOLD = 30.0  # seconds a view's request keeps full-rate sampling on


class MetricsLoop:
    def __init__(
        self,
        monitor: MonitorConfig,
        roots: Callable[[], Mapping[str, int]],
        on_sample: Callable[[MetricsSample], None],
    ) -> None:
        paths: list[Path] = [monitor.state_dir, monitor.log_dir, *monitor.disk_paths]
        self.sampler = Sampler(paths)
        self._folders = [
            ("state", monitor.state_dir),
            ("logs", monitor.log_dir),
            *((p.name or str(p), p) for p in monitor.disk_paths),
        ]
        self._thresholds = {
            "memory_percent": monitor.memory_threshold,
            "disk_percent": monitor.disk_threshold,
        }
        self._latest: MonitoredSample | None = None
        self.interval = monitor.metrics_interval
        self._roots = roots
        self._on_sample = on_sample
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="metrics")
        self._task: asyncio.Task[None] | None = None
        self._watched_until = 0.0
        self._wake = asyncio.Event()

    @property
    def latest(self) -> MonitoredSample | None:
        return self._latest

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def watched(self) -> None:
        """A view wants metrics: sample strategies at full rate for a while (at once if they
        were being sampled slowly)."""
        now = time.monotonic()
        if now >= self._watched_until:
            self._wake.set()
        self._watched_until = now + WATCH_HOLD

    async def sample_now(self, per_strategy: bool = True) -> MonitoredSample:
        loop = asyncio.get_running_loop()
        roots = dict(self._roots())
        sample = await loop.run_in_executor(self._pool, self._sample, roots, per_strategy)
        self._latest = sample
        return sample

    def _sample(self, roots: Mapping[str, int], per_strategy: bool) -> MonitoredSample:
        """One sweep (in the metrics thread), with the thresholds and the disks' folders."""
        sample = self.sampler.sample(roots, per_strategy)
        return MonitoredSample(
            **{f.name: getattr(sample, f.name) for f in dataclasses.fields(MetricsSample)},
            thresholds=dict(self._thresholds),
            disk_folders=disk_folders(self._folders, [d.path for d in sample.system.disks]),
        )

    async def _run(self) -> None:
        sweeps = 0
        while True:
            watched = time.monotonic() < self._watched_until
            sample = await self.sample_now(watched or sweeps % UNWATCHED_EVERY == 0)
            sweeps += 1
            self._on_sample(sample)
            self._wake.clear()
            watched = time.monotonic() < self._watched_until
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval * (1 if watched else UNWATCHED_SLOWER)):
                    await self._wake.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=False, cancel_futures=True)
