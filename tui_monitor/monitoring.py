"""The periodic side of the engine: one metrics sweep per interval (in its own thread, never on
the event loop), then health judged and handed to whoever listens (alerts, systemd status)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
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

    @property
    def latest(self) -> MetricsSample | None:
        return self.sampler.latest

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def sample_now(self) -> MetricsSample:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.sampler.sample, dict(self._roots()))

    async def _run(self) -> None:
        while True:
            sample = await self.sample_now()
            self._on_sample(sample)
            await asyncio.sleep(self.interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=False, cancel_futures=True)
