"""Process states of a strategy, named and documented like supervisord's so operators know them."""

from __future__ import annotations

from enum import StrEnum


class StrategyState(StrEnum):
    """Where a strategy's process is in its life.

    stopped   not running, and nothing will start it but an operator (or autostart)
    starting  spawned; becomes running after `start_seconds` alive or its first heartbeat
    running   alive (and heartbeating, if it has a heartbeat timeout)
    backoff   exited unexpectedly; waiting `restart_delay` before the next start
    stopping  asked to stop (SIGTERM sent, SIGKILL after `stop_timeout`)
    exited    finished and will not be restarted (a task that completed, or restart = "never")
    fatal     gave up after `max_restarts` restarts within `restart_window`; an operator must act
    """

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    EXITED = "exited"
    FATAL = "fatal"

    @property
    def is_active(self) -> bool:
        """True while a process exists (or is about to), i.e. a start would be refused."""
        return self in (StrategyState.STARTING, StrategyState.RUNNING, StrategyState.STOPPING)


#: States from which `start` is allowed.
STARTABLE = frozenset(
    {StrategyState.STOPPED, StrategyState.EXITED, StrategyState.FATAL, StrategyState.BACKOFF}
)
