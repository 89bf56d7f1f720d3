"""Fan-out of engine events to any number of subscribers, none of which can slow the engine down.

Each subscriber has a bounded queue. A subscriber that stops reading is cut off (its stream ends
with `overflowed` set) rather than buffered without bound or allowed to block publishing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from tui_monitor.events import Event

DEFAULT_QUEUE_SIZE = 10_000


class Subscription:
    """An async stream of events. Iterate it; it ends when closed or when it fell behind."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.closed = False

    def _offer(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self._end()

    def _end(self) -> None:
        self.closed = True
        self._bus._remove(self)
        # Make room for the end marker so a waiting reader wakes up.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    def close(self) -> None:
        if not self.closed:
            self._end()

    async def get(self) -> Event | None:
        """The next event, or None once the subscription has ended."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.get()
            if event is None:
                return
            yield event


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._listeners: list[Callable[[Event], None]] = []

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subscribers.append(sub)
        return sub

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """A synchronous callback for in-engine consumers (history, app log). Must not block."""
        self._listeners.append(listener)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
        for sub in list(self._subscribers):
            sub._offer(event)

    def close(self) -> None:
        for sub in list(self._subscribers):
            sub.close()
