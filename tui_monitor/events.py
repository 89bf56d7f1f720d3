"""Typed events the engine publishes. Views render them; the engine never formats them for a screen.

Every event carries the wall-clock time it happened and, where it concerns one strategy, its name.
`kind` is a stable string used on the wire (control socket, history) and for filtering.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tui_monitor.states import StrategyState


@dataclass(frozen=True)
class Event:
    time: float
    kind: ClassVar[str] = "event"
    level: ClassVar[str] = "INFO"

    def to_dict(self) -> dict[str, Any]:
        # Fields are scalars: a shallow copy (dataclasses.asdict deep-copies, several times the
        # cost, and every event is turned into a dict for the history).
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for key, value in data.items():
            if isinstance(value, StrategyState):
                data[key] = value.value
        data["kind"] = self.kind
        data["level"] = self.event_level()
        data["text"] = self.describe()
        return data

    def event_level(self) -> str:
        return self.level

    def describe(self) -> str:
        """One plain-text line for people (headless stderr, app.log). Never markup."""
        return self.kind


@dataclass(frozen=True)
class StateChanged(Event):
    """A strategy moved from one state to another, and why."""

    strategy: str = ""
    old: StrategyState = StrategyState.STOPPED
    new: StrategyState = StrategyState.STOPPED
    reason: str = ""
    pid: int | None = None
    kind: ClassVar[str] = "state"

    def event_level(self) -> str:
        if self.new is StrategyState.FATAL:
            return "ERROR"
        if self.new is StrategyState.BACKOFF:
            return "WARNING"
        return "INFO"

    def describe(self) -> str:
        pid = f" pid {self.pid}" if self.pid else ""
        return f"{self.strategy}: {self.old} -> {self.new}{pid} ({self.reason})"


@dataclass(frozen=True)
class ProcessExited(Event):
    """A strategy's process ended. `expected` is False for a crash or a kill we did not ask for."""

    strategy: str = ""
    pid: int = 0
    exit_code: int | None = None
    signal: str | None = None
    expected: bool = False
    runtime: float = 0.0
    reason: str = ""
    started_at: float = 0.0
    kind: ClassVar[str] = "exit"

    def event_level(self) -> str:
        return "INFO" if self.expected or self.exit_code == 0 else "WARNING"

    def describe(self) -> str:
        how = f"signal {self.signal}" if self.signal else f"exit code {self.exit_code}"
        return f"{self.strategy}: pid {self.pid} ended with {how} after {self.runtime:.1f} s"


@dataclass(frozen=True)
class HeartbeatMissed(Event):
    strategy: str = ""
    timeout: float = 0.0
    kind: ClassVar[str] = "heartbeat_missed"
    level: ClassVar[str] = "WARNING"

    def describe(self) -> str:
        return f"{self.strategy}: no heartbeat for {self.timeout:g} s"


@dataclass(frozen=True)
class Problem(Event):
    """Something went wrong that an operator should see (an error in the engine, a bad file...)."""

    message: str = ""
    strategy: str | None = None
    detail: str = ""
    problem_level: str = "ERROR"
    kind: ClassVar[str] = "problem"

    def event_level(self) -> str:
        return self.problem_level

    def describe(self) -> str:
        where = f"{self.strategy}: " if self.strategy else ""
        return f"{where}{self.message}"


@dataclass(frozen=True)
class SupervisorEvent(Event):
    """The supervisor itself started, became ready or is shutting down."""

    message: str = ""
    kind: ClassVar[str] = "supervisor"

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class ExitInfo:
    """How a process ended: an exit code or a signal, never both."""

    exit_code: int | None = None
    signal: str | None = None
    at: float = field(default=0.0)

    @classmethod
    def from_returncode(cls, returncode: int, at: float) -> ExitInfo:
        import signal as _signal

        if returncode < 0:
            try:
                name = _signal.Signals(-returncode).name
            except ValueError:
                name = str(-returncode)
            return cls(exit_code=None, signal=name, at=at)
        return cls(exit_code=returncode, signal=None, at=at)

    @property
    def success(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        return f"killed by {self.signal}" if self.signal else f"exit code {self.exit_code}"
