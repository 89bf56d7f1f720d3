"""The periodic side of the engine: one metrics sweep per interval (in its own thread, never on
the event loop), then health judged and handed to whoever listens (alerts, systemd status)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from tui_monitor.config import MonitorConfig
from tui_monitor.health import DEGRADED, Reason
from tui_monitor.metrics import MetricsSample, Sampler


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
        self.interval = monitor.metrics_interval
        self._roots = roots
        self._on_sample = on_sample
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="metrics")
        self._task: asyncio.Task[None] | None = None
        self._watched_until = 0.0
        self._wake = asyncio.Event()

    @property
    def latest(self) -> MetricsSample | None:
        return self.sampler.latest

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def watched(self) -> None:
        """A view wants metrics: sample strategies at full rate for a while (at once if they
        were being sampled slowly)."""
        now = time.monotonic()
        if now >= self._watched_until:
            self._wake.set()
        self._watched_until = now + WATCH_HOLD

    async def sample_now(self, per_strategy: bool = True) -> MetricsSample:
        loop = asyncio.get_running_loop()
        roots = dict(self._roots())
        return await loop.run_in_executor(self._pool, self.sampler.sample, roots, per_strategy)

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
