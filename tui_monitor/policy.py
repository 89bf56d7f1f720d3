"""The restart policy: when to restart a strategy that exited, how long to wait, when to give up.

Every restart is counted in a sliding window — not only crashes in the first second, the hole in
supervisord's `startretries` and pm2's `min_uptime` through which users saw tens of thousands of
restarts. Pure logic over an injected `now`, so it is tested without sleeping.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class PolicySettings:
    max_restarts: int = 5
    restart_window: float = 600.0
    restart_delay: float = 60.0
    backoff_factor: float = 1.0
    backoff_max: float = 600.0
    restart_jitter: float = 0.0


class RestartPolicy:
    def __init__(self, settings: PolicySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._restarts: deque[float] = deque()
        self._rng = rng or random.Random()

    def _prune(self, now: float) -> None:
        horizon = now - self.settings.restart_window
        while self._restarts and self._restarts[0] <= horizon:
            self._restarts.popleft()

    def count(self, now: float) -> int:
        """Restarts within the window ending now."""
        self._prune(now)
        return len(self._restarts)

    def exhausted(self, now: float) -> bool:
        """True when one more restart would exceed `max_restarts` within the window."""
        return self.count(now) >= self.settings.max_restarts

    def next_delay(self, now: float) -> float:
        """Seconds before the next restart: the delay, grown exponentially, capped, jittered."""
        s = self.settings
        attempt = self.count(now)  # restarts already made in the window
        delay = s.restart_delay * (s.backoff_factor**attempt)
        if s.backoff_factor > 1.0:
            delay = min(delay, max(s.backoff_max, s.restart_delay))
        if s.restart_jitter > 0 and delay > 0:
            delay += delay * s.restart_jitter * self._rng.random()
        return delay

    def record_restart(self, now: float) -> None:
        self._restarts.append(now)

    def reset(self) -> None:
        """Forget past restarts (after a healthy run, or when an operator starts it again)."""
        self._restarts.clear()

    def describe_giving_up(self) -> str:
        s = self.settings
        return f"restarted {s.max_restarts} times within {s.restart_window:g} s; gave up"
