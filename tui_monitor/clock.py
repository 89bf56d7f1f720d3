"""Clocks, injectable so that tests of time-dependent logic need not sleep.

Deadlines and ages use the monotonic clock (a wall-clock jump must never fire or delay a
heartbeat deadline); timestamps shown to people and written to files use the wall clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def time(self) -> float: ...


class SystemClock:
    """The real clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


@dataclass
class FakeClock:
    """A clock that moves only when told to (tests, deterministic screenshots)."""

    mono: float = 1000.0
    wall: float = 1_750_000_000.0
    _: None = field(default=None, repr=False)

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds
