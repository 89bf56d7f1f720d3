"""Prometheus text exposition of the engine's state, produced by prometheus_client itself (so label
values — strategy names, reasons — are escaped the way Prometheus expects)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from tui_monitor.health import HealthReport
from tui_monitor.metrics import MetricsSample
from tui_monitor.snapshot import EngineSnapshot
from tui_monitor.states import StrategyState

_STATUS_VALUE = {"healthy": 0, "degraded": 1, "unhealthy": 2}


class _Collector:
    def __init__(
        self, snap: EngineSnapshot, health: HealthReport, metrics: MetricsSample | None
    ) -> None:
        self.snap, self.health, self.metrics = snap, health, metrics

    def collect(self) -> Iterator[Metric]:
        snap, health, metrics = self.snap, self.health, self.metrics
        g = GaugeMetricFamily
        up = g("tui_monitor_strategy_up", "1 if the strategy is running", labels=["strategy"])
        state = g(
            "tui_monitor_strategy_state", "1 for the current state", labels=["strategy", "state"]
        )
        restarts = g(
            "tui_monitor_strategy_restarts", "restarts within the window", labels=["strategy"]
        )
        total = g(
            "tui_monitor_strategy_restarts_total", "restarts since start", labels=["strategy"]
        )
        hb = g(
            "tui_monitor_strategy_heartbeat_age_seconds",
            "seconds since the last heartbeat",
            labels=["strategy"],
        )
        progress = g(
            "tui_monitor_strategy_progress", "reported progress (0-1)", labels=["strategy"]
        )
        cpu = g(
            "tui_monitor_strategy_cpu_percent", "CPU % of the process tree", labels=["strategy"]
        )
        mem = g("tui_monitor_strategy_memory_bytes", "RSS of the process tree", labels=["strategy"])
        for s in snap.strategies:
            up.add_metric([s.name], 1.0 if s.state is StrategyState.RUNNING else 0.0)
            for st in StrategyState:
                state.add_metric([s.name, st.value], 1.0 if s.state is st else 0.0)
            restarts.add_metric([s.name], s.restarts)
            total.add_metric([s.name], s.total_restarts)
            if s.heartbeat_age is not None:
                hb.add_metric([s.name], s.heartbeat_age)
            if s.progress is not None:
                progress.add_metric([s.name], s.progress)
            usage = metrics.strategies.get(s.name) if metrics else None
            if usage is not None:
                cpu.add_metric([s.name], usage.cpu_percent)
                mem.add_metric([s.name], usage.rss)
        yield from (up, state, restarts, total, hb, progress, cpu, mem)

        jobs = g("tui_monitor_jobs", "jobs by status", labels=["status"])
        for status, count in snap.job_counts.items():
            if status != "total":
                jobs.add_metric([status], count)
        yield jobs

        status = g("tui_monitor_health_status", "0 healthy, 1 degraded, 2 unhealthy")
        status.add_metric([], _STATUS_VALUE[health.status])
        yield status
        reasons = g(
            "tui_monitor_health_reason", "active health reasons", labels=["code", "message"]
        )
        for r in health.reasons:
            reasons.add_metric([r.code, r.message], 1.0)
        yield reasons
        up_s = g("tui_monitor_uptime_seconds", "supervisor uptime")
        up_s.add_metric([], snap.uptime)
        yield up_s

        if metrics is None:
            return
        sysm = metrics.system
        simple = {
            "tui_monitor_system_cpu_percent": ("total CPU %", sysm.cpu_percent),
            "tui_monitor_system_memory_percent": ("memory used %", sysm.memory_percent),
            "tui_monitor_system_swap_percent": ("swap used %", sysm.swap_percent),
            "tui_monitor_system_load1": ("1-minute load average", sysm.load[0]),
            "tui_monitor_supervisor_rss_bytes": ("supervisor RSS", metrics.supervisor.rss),
            "tui_monitor_supervisor_cpu_percent": (
                "supervisor CPU %",
                metrics.supervisor.cpu_percent,
            ),
            "tui_monitor_supervisor_open_files": (
                "supervisor open fds",
                metrics.supervisor.open_files,
            ),
        }
        for name, (doc, value) in simple.items():
            m = g(name, doc)
            m.add_metric([], value)
            yield m
        disk = g("tui_monitor_disk_used_percent", "disk used %", labels=["path"])
        for d in sysm.disks:
            disk.add_metric([d.path], d.percent)
        yield disk


def render(snap: EngineSnapshot, health: HealthReport, metrics: MetricsSample | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(snap, health, metrics))  # type: ignore[arg-type]
    return generate_latest(registry)
