"""One interface for every view of a supervisor — in this process or behind the control socket.

`SupervisorView` is what the dashboard, the command line and the control server consume:
"give me a snapshot", "stream me events", "restart X", "resume job Y". Two implementations:

- `LocalView(engine)` — the engine in this process (the embedded dashboard, the control server);
- `SocketView(path)` — a supervisor in another process, over its control socket.

**Shapes.** Every result is plain JSON data — dicts, lists, strings, numbers, booleans, None —
exactly what the control protocol carries: `snapshot()` is `EngineSnapshot.to_dict()`,
`health()` is `HealthReport.to_dict()`, an event is `Event.to_dict()`, a log line is
`LogLine.to_dict()`. `LocalView` normalizes its results the same way (tuples become
lists, enums their values), so both implementations return values that compare equal.

**Errors.** Both raise the engine's own exceptions: `UnknownName` (its message lists the known
names) and `CommandRefused`, with the same messages. `SocketView` also raises `NoSupervisor`
(exit code 3; the message says which socket it tried) when nothing answers, and `ControlError`
when the conversation fails.
"""

from __future__ import annotations

import abc
import asyncio
import inspect
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tui_monitor import __version__
from tui_monitor.control.protocol import OPS, PROTOCOL_VERSION, ControlError, NoSupervisor, plain

if TYPE_CHECKING:
    from tui_monitor.control.client import ControlClient
    from tui_monitor.engine import Engine
    from tui_monitor.eventbus import Subscription

__all__ = [
    "ControlError",
    "EventStream",
    "LocalView",
    "NoSupervisor",
    "SocketView",
    "SupervisorView",
]

Json = dict[str, Any]


class EventStream(abc.ABC):
    """A live stream of event dicts, subscribed from the moment `view.events()` returned.

    Iterate it with `async for`; it ends when the supervisor shuts down, when the consumer fell
    too far behind (re-read the snapshot and subscribe again), or after `close()`.
    """

    def __aiter__(self) -> AsyncIterator[Json]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> Json: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class SupervisorView(abc.ABC):
    """A running supervisor, as every view sees it. All results are plain JSON data."""

    @abc.abstractmethod
    async def info(self) -> Json:
        """`{"protocol", "version", "pid", "started_at", "config_path", "state_dir", "log_dir",
        "ops"}` of the supervisor."""

    @abc.abstractmethod
    async def snapshot(self) -> Json:
        """`EngineSnapshot.to_dict()`: the supervisor, every strategy and every job."""

    @abc.abstractmethod
    async def health(self, detailed: bool = False) -> Json:
        """`HealthReport.to_dict()`; `detailed` adds `strategies` and `jobs` (and `metrics`)."""

    @abc.abstractmethod
    async def events(self) -> EventStream:
        """Subscribe to live events; the subscription is active once this returns."""

    @abc.abstractmethod
    async def start(self, name: str, fresh: bool = False) -> Json:
        """Start a strategy; `{"strategy": {...}, "job": {...} | None}` once it is launched."""

    @abc.abstractmethod
    async def stop(self, name: str) -> Json:
        """Stop a strategy (its job becomes `paused`); returns once it has stopped."""

    @abc.abstractmethod
    async def restart(self, name: str) -> Json: ...

    @abc.abstractmethod
    async def resume(self, job_id: str, fresh: bool = False) -> Json:
        """Resume a paused, interrupted or failed job from its checkpoint (`fresh`: without)."""

    @abc.abstractmethod
    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[Json]:
        """Captured output lines of a strategy with `seq` > `after`, oldest first (`name` None:
        whatever the engine's `log_lines(None, ...)` gives — every strategy, once capture
        supports it)."""

    @abc.abstractmethod
    async def job(self, job_id: str) -> Json:
        """The whole job record, its checkpoint included (`JobRecord.to_dict()`)."""

    @abc.abstractmethod
    async def runs(self, name: str | None = None, limit: int = 50) -> list[Json]:
        """The `limit` most recent runs (start, end, exit, reason) from the history, newest last."""

    @abc.abstractmethod
    async def recent_events(self, name: str | None = None, limit: int = 100) -> list[Json]:
        """The `limit` most recent events from the history, newest last."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Let go of the supervisor. Never stops it."""

    async def __aenter__(self) -> SupervisorView:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


# ---- in-process -----------------------------------------------------------------------------


def _newest_last(records: list[dict[str, Any]]) -> list[Json]:
    """The history reads newest first; views promise newest last. Turned here, once: the control
    server answers with a `LocalView`, so `SocketView` gets the same order."""
    return plain(records[::-1])


class _LocalStream(EventStream):
    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    async def __anext__(self) -> Json:
        event = await self._sub.get()
        if event is None:
            raise StopAsyncIteration
        return plain(event.to_dict())

    @property
    def overflowed(self) -> bool:
        return self._sub.overflowed

    async def close(self) -> None:
        self._sub.close()


class LocalView(SupervisorView):
    """The engine in this process. Also what the control server answers with, so the two views
    cannot drift apart."""

    def __init__(self, engine: Engine, *, queue_size: int = 10_000) -> None:
        self.engine = engine
        self.queue_size = queue_size

    async def info(self) -> Json:
        e = self.engine
        m = e.config.monitor
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "pid": os.getpid(),
            "started_at": e.started_at,
            "config_path": str(e.config.path),
            "state_dir": str(m.state_dir),
            "log_dir": str(m.log_dir),
            "control_socket": str(m.control_socket),
            "ops": sorted(OPS),
        }

    async def snapshot(self) -> Json:
        return plain(self.engine.snapshot().to_dict())

    async def health(self, detailed: bool = False) -> Json:
        snap = self.engine.snapshot()
        report = plain(self.engine.health(snap).to_dict())
        if detailed:
            report["strategies"] = [plain(s.to_dict()) for s in snap.strategies]
            report["jobs"] = [plain(j.to_dict()) for j in snap.jobs]
            report["metrics"] = plain(self.engine.metrics())
            report["metrics_history"] = plain(self.engine.metrics_history())
        return report

    async def events(self) -> EventStream:
        return _LocalStream(self.engine.subscribe(self.queue_size))

    def _outcome(self, name: str) -> Json:
        snap = self.engine.snapshot()
        strategy = snap.strategy(name)
        job = snap.job(strategy.job_id) if strategy is not None else None
        return {
            "strategy": plain(strategy.to_dict()) if strategy else None,
            "job": plain(job.to_dict()) if job else None,
        }

    async def start(self, name: str, fresh: bool = False) -> Json:
        await self.engine.start_strategy(name, fresh=fresh)
        return self._outcome(name)

    async def stop(self, name: str) -> Json:
        await self.engine.stop_strategy(name)
        return self._outcome(name)

    async def restart(self, name: str) -> Json:
        await self.engine.restart_strategy(name)
        return self._outcome(name)

    async def resume(self, job_id: str, fresh: bool = False) -> Json:
        await self.engine.resume(job_id, fresh=fresh)
        job = self.engine.snapshot().job(job_id)
        return self._outcome(job.strategy if job else "")

    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[Json]:
        lines = self.engine.log_lines(name, after=after, limit=limit)
        if inspect.isawaitable(lines):
            lines = await lines
        return [plain(line) for line in lines]

    async def job(self, job_id: str) -> Json:
        return plain(self.engine.job_record(job_id).to_dict())

    async def runs(self, name: str | None = None, limit: int = 50) -> list[Json]:
        return _newest_last(await self.engine.recent_runs(name, limit))

    async def recent_events(self, name: str | None = None, limit: int = 100) -> list[Json]:
        return _newest_last(await self.engine.recent_events(name, limit))

    async def close(self) -> None:
        return None


# ---- over the control socket ----------------------------------------------------------------


class SocketView(SupervisorView):
    """A supervisor in another process, over its control socket.

    Queries share one connection (opened on first use, reopened after the server closed an idle
    one); each command and each event stream gets a connection of its own, so a slow `stop`
    never holds up a dashboard's snapshots.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        command_timeout: float = 600.0,
    ) -> None:
        from tui_monitor.control.client import ControlClient

        self.path = Path(path)
        self._client: ControlClient = ControlClient(self.path, timeout=timeout)
        self._command_timeout = command_timeout
        self._timeout = timeout
        self._streams: set[EventStream] = set()

    async def _query(self, op: str, **args: Any) -> Any:
        return await self._client.request(op, retry=True, **args)

    async def _command(self, op: str, **args: Any) -> Json:
        from tui_monitor.control.client import ControlClient

        client = ControlClient(self.path, timeout=self._command_timeout)
        try:
            return await client.request(op, **args)
        finally:
            await client.close()

    async def info(self) -> Json:
        return await self._query("hello")

    async def snapshot(self) -> Json:
        return await self._query("snapshot")

    async def health(self, detailed: bool = False) -> Json:
        return await self._query("health", detailed=detailed)

    async def events(self) -> EventStream:
        from tui_monitor.control.client import ControlClient

        client = ControlClient(self.path, timeout=self._timeout)
        stream = await client.subscribe(on_close=self._streams.discard)
        self._streams.add(stream)
        return stream

    async def start(self, name: str, fresh: bool = False) -> Json:
        return await self._command("start", name=name, fresh=fresh)

    async def stop(self, name: str) -> Json:
        return await self._command("stop", name=name)

    async def restart(self, name: str) -> Json:
        return await self._command("restart", name=name)

    async def resume(self, job_id: str, fresh: bool = False) -> Json:
        return await self._command("resume", job_id=job_id, fresh=fresh)

    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[Json]:
        return await self._query("log_lines", name=name, after=after, limit=limit)

    async def job(self, job_id: str) -> Json:
        return await self._query("job", job_id=job_id)

    async def runs(self, name: str | None = None, limit: int = 50) -> list[Json]:
        return await self._query("runs", name=name, limit=limit)

    async def recent_events(self, name: str | None = None, limit: int = 100) -> list[Json]:
        return await self._query("events", name=name, limit=limit)

    async def close(self) -> None:
        streams, self._streams = self._streams, set()
        await asyncio.gather(*(s.close() for s in streams), return_exceptions=True)
        await self._client.close()
