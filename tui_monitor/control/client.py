"""A client of the control socket (asyncio, no dependencies): what `SocketView` and the command
line use. See `tui_monitor.control.protocol` for the wire format."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tui_monitor.control import protocol as p
from tui_monitor.control.protocol import ControlError, NoSupervisor
from tui_monitor.control.sockaddr import unix_address
from tui_monitor.view import EventStream

#: Answers can be large (a snapshot of many jobs); they come from our own supervisor.
MAX_ANSWER_BYTES = 256 * 1024 * 1024


class _Lost(Exception):
    """The connection went away before the answer came."""


async def open_connection(
    path: Path, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the control socket at `path`; NoSupervisor (saying where) if nobody is there."""
    try:
        with unix_address(path) as address:
            async with asyncio.timeout(timeout):
                return await asyncio.open_unix_connection(address, limit=MAX_ANSWER_BYTES)
    except FileNotFoundError:
        raise NoSupervisor(
            f"no supervisor is running: there is no control socket at {path}", path
        ) from None
    except ConnectionRefusedError:
        raise NoSupervisor(
            f"no supervisor is running: nothing listens on {path} "
            "(a socket left behind by a supervisor that is gone)",
            path,
        ) from None
    except PermissionError:
        raise NoSupervisor(
            f"cannot reach the supervisor at {path}: permission denied "
            "(the control socket belongs to the user who runs the supervisor)",
            path,
        ) from None
    except TimeoutError:
        raise ControlError(
            p.TIMEOUT, f"the supervisor at {path} does not accept connections (hung?)"
        ) from None
    except OSError as exc:
        raise NoSupervisor(
            f"no supervisor to talk to at {path}: {exc.strerror or exc}", path
        ) from None


class ControlClient:
    """One connection to a supervisor; requests on it are sent one at a time."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock: asyncio.Lock | None = None
        self._next_id = 0

    async def connect(self) -> None:
        if self._writer is None:
            self._reader, self._writer = await open_connection(self.path, self.timeout)

    async def request(self, op: str, *, retry: bool = False, **args: Any) -> Any:
        """Send one request and return its result, or raise the error it stands for.

        `retry`: if a connection that was already open turns out closed (the server ends idle
        connections), reconnect and send it once more — only for requests that change nothing.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            reused = self._writer is not None
            try:
                return await self._exchange(op, args)
            except _Lost:
                await self._drop()
                if not (retry and reused):
                    raise NoSupervisor(
                        f"the supervisor at {self.path} closed the connection", self.path
                    ) from None
            try:
                return await self._exchange(op, args)
            except _Lost:
                await self._drop()
                raise NoSupervisor(
                    f"the supervisor at {self.path} closed the connection", self.path
                ) from None

    async def _exchange(self, op: str, args: dict[str, Any]) -> Any:
        await self.connect()
        assert self._reader is not None and self._writer is not None
        self._next_id += 1
        request_id = self._next_id
        message = {"v": p.PROTOCOL_VERSION, "id": request_id, "op": op, **args}
        try:
            self._writer.write(p.encode(message))
            async with asyncio.timeout(self.timeout):
                await self._writer.drain()
            while True:
                answer = await self._read(self.timeout)
                if answer is None:
                    raise _Lost
                if answer.get("id") == request_id and "ok" in answer:
                    break
                if answer.get("id") is None and answer.get("ok") is False:
                    err = answer.get("error") or {}
                    if err.get("type") == p.TIMEOUT:
                        raise _Lost  # our idle connection was closed: a new one will do
                    await self._drop()
                    raise self._error(err)
        except (ConnectionError, asyncio.IncompleteReadError):
            raise _Lost from None
        except TimeoutError:
            await self._drop()
            raise ControlError(
                p.TIMEOUT, f"no answer from the supervisor at {self.path} within {self.timeout:g} s"
            ) from None
        if answer["ok"]:
            return answer.get("result")
        raise self._error(answer.get("error") or {})

    def _error(self, err: dict[str, Any]) -> Exception:
        exc = p.exception_from_error(err)
        if isinstance(exc, NoSupervisor) and exc.path is None:
            exc.path = str(self.path)
        return exc

    async def _read(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None at the end of the connection."""
        assert self._reader is not None
        try:
            async with asyncio.timeout(timeout):
                line = await self._reader.readline()
        except ValueError:
            await self._drop()
            raise ControlError(p.TOO_LARGE, "an answer from the supervisor was too large") from None
        if not line:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            await self._drop()
            raise ControlError(
                p.BAD_JSON, "the supervisor sent something that is not JSON"
            ) from None
        if not isinstance(message, dict):
            await self._drop()
            raise ControlError(p.BAD_JSON, "the supervisor sent something that is not an object")
        return message

    async def subscribe(
        self, on_close: Callable[[SocketEventStream], None] | None = None
    ) -> SocketEventStream:
        """Turn this connection into a stream of events (see the protocol's `subscribe`)."""
        try:
            await self.request("subscribe")
        except BaseException:
            await self.close()
            raise
        return SocketEventStream(self, on_close)

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def close(self) -> None:
        await self._drop()


class SocketEventStream(EventStream):
    """Events from a subscribed connection; `reason` says why it ended."""

    def __init__(
        self, client: ControlClient, on_close: Callable[[SocketEventStream], None] | None = None
    ) -> None:
        self._client = client
        self._on_close = on_close
        self.reason: str | None = None

    async def __anext__(self) -> dict[str, Any]:
        if self._client._reader is None:
            raise StopAsyncIteration
        while True:
            try:
                message = await self._client._read(None)
            except (ConnectionError, asyncio.IncompleteReadError):
                message = None
            if message is None:
                self.reason = self.reason or "the supervisor closed the connection"
                await self.close()
                raise StopAsyncIteration
            if "event" in message and isinstance(message["event"], dict):
                return message["event"]
            if "end" in message:
                end = message["end"]
                self.reason = str(end.get("reason")) if isinstance(end, dict) else "ended"
                await self.close()
                raise StopAsyncIteration

    async def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None
        await self._client.close()
