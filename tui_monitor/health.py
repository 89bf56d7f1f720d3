"""Health: `healthy`, `degraded` or `unhealthy`, always with the reasons that made it so.

Unhealthy means something is down and needs an operator (a strategy gave up, state cannot be
written). Degraded means the supervisor works but something deserves a look (a heartbeat overdue,
a restart storm, a failed job, memory or disk over its threshold, a log that cannot be written).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tui_monitor.events import Event, StateChanged
from tui_monitor.snapshot import EngineSnapshot
from tui_monitor.states import StrategyState

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}


@dataclass(frozen=True)
class Reason:
    severity: str  # DEGRADED or UNHEALTHY
    code: str  # stable identifier for scripts and alerts: "fatal", "heartbeat_overdue", ...
    message: str
    strategy: str | None = None


@dataclass(frozen=True)
class HealthReport:
    status: str
    reasons: tuple[Reason, ...]
    version: str
    uptime: float
    checked_at: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status == HEALTHY

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["reasons"] = [dataclasses.asdict(r) for r in self.reasons]
        return data


class RestartStorm:
    """Counts automatic restarts of all strategies within a sliding window (an event listener).
    Times are monotonic: a wall-clock step must neither prolong nor forget a storm."""

    def __init__(self, limit: int, window: float, monotonic: Callable[[], float]) -> None:
        self.limit, self.window = limit, window
        self._monotonic = monotonic
        self._times: deque[float] = deque()

    def __call__(self, event: Event) -> None:
        if (
            isinstance(event, StateChanged)
            and event.new is StrategyState.STARTING
            and event.reason.startswith("restarted after")
        ):
            self._times.append(self._monotonic())

    def count(self) -> int:
        now = self._monotonic()
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()
        return len(self._times)


def evaluate(
    snapshot: EngineSnapshot,
    *,
    now: float,
    storm: RestartStorm | None = None,
    state_write_failures: Iterable[str] = (),
    extra: Iterable[Reason] = (),
) -> HealthReport:
    reasons: list[Reason] = []
    for s in snapshot.strategies:
        if s.state is StrategyState.FATAL:
            reasons.append(
                Reason(UNHEALTHY, "fatal", f"{s.name} is fatal: {s.state_reason}", s.name)
            )
        elif s.state is StrategyState.BACKOFF:
            reasons.append(
                Reason(DEGRADED, "backoff", f"{s.name} is restarting: {s.state_reason}", s.name)
            )
        age = s.heartbeat_age if s.heartbeat_age is not None else s.uptime or 0
        live = s.state in (StrategyState.RUNNING, StrategyState.STARTING)
        being_killed = s.state is StrategyState.STOPPING and s.state_reason.startswith(
            "no heartbeat"
        )
        if s.heartbeat_timeout > 0 and ((live and age > s.heartbeat_timeout) or being_killed):
            reasons.append(
                Reason(
                    DEGRADED,
                    "heartbeat_overdue",
                    f"{s.name}: heartbeat overdue (timeout {s.heartbeat_timeout:g} s)",
                    s.name,
                )
            )
    running = {s.name for s in snapshot.strategies if s.state is not StrategyState.FATAL}
    for job in snapshot.jobs:
        if job.status == "failed" and job.strategy in running:
            reasons.append(Reason(DEGRADED, "job_failed", f"job {job.job_id} failed", job.strategy))
    if storm is not None:
        count = storm.count()
        if count >= storm.limit:
            reasons.append(
                Reason(
                    DEGRADED,
                    "restart_storm",
                    f"restart storm: {count} restarts within {storm.window:g} s",
                )
            )
    for job_id in sorted(state_write_failures):
        reasons.append(Reason(UNHEALTHY, "state_write", f"state of {job_id} cannot be written"))
    reasons.extend(extra)
    status = max((r.severity for r in reasons), key=_RANK.__getitem__, default=HEALTHY)
    return HealthReport(
        status=status,
        reasons=tuple(reasons),
        version=snapshot.version,
        uptime=snapshot.uptime,
        checked_at=now,
        counts=dict(snapshot.job_counts),
    )
