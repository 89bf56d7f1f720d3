"""The per-strategy channel: heartbeats and checkpoints from the child, replies from us.

Each child inherits one end of its own `socketpair` (fd number in `TUI_MONITOR_FD`), so a strategy
cannot heartbeat for another. The wire format is newline-delimited: a JSON object per line
(`{"op": "heartbeat", "msg": "...", "progress": 0.4}`), or any other line, which counts as a
heartbeat whose message is the line — so a shell script heartbeats with `echo ok >&$TUI_MONITOR_FD`.
Lines are read in large chunks and coalesced, so a child heartbeating 100,000 times a second
cannot starve the event loop: only the newest heartbeat and checkpoint of a batch are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import math
import socket
import sys
import termios
from dataclasses import dataclass, field
from typing import Any, Protocol

FD_ENV = "TUI_MONITOR_FD"
MAX_LINE = 16 * 1024 * 1024  # a checkpoint may be large; anything longer is dropped and reported
MAX_MESSAGE_CHARS = 500
READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Heartbeat:
    message: str | None = None
    progress: float | None = None


@dataclass
class Batch:
    """What one read brought in, coalesced."""

    heartbeat: Heartbeat | None = None
    checkpoint: dict[str, Any] | None = None
    has_checkpoint: bool = False
    durable_ids: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ChannelHandler(Protocol):
    def on_batch(self, batch: Batch) -> None: ...
    async def on_durable(self, ids: list[Any]) -> bool: ...
    def on_request(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def on_channel_closed(self) -> None: ...


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:MAX_MESSAGE_CHARS]


def _clean_progress(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_float(text: str, non_finite: list[str]) -> float | None:
    """A checkpoint must be writable as strict JSON: 1e999 (infinity) is noted and dropped."""
    value = float(text)
    if math.isfinite(value):
        return value
    non_finite.append(text)
    return None


def parse_line(line: bytes, batch: Batch) -> None:
    """Fold one line into the batch. Never raises on bad input; problems land in batch.errors."""
    stripped = line.strip()
    if not stripped.startswith(b"{"):
        text = stripped.decode("utf-8", "replace")
        batch.heartbeat = Heartbeat(message=_clean_text(text) or None)
        return
    non_finite: list[str] = []
    try:  # starts with "{": an object or an error
        msg: dict[str, Any] = json.loads(
            stripped,
            parse_constant=lambda name: non_finite.append(name),  # NaN, Infinity → None
            parse_float=lambda text: _finite_float(text, non_finite),
        )
    except (ValueError, RecursionError):
        batch.errors.append("unreadable message (not valid JSON)")
        return
    op = msg.get("op", "heartbeat")
    if op == "heartbeat":
        batch.heartbeat = Heartbeat(
            _clean_text(msg.get("msg")), _clean_progress(msg.get("progress"))
        )
    elif op == "checkpoint":
        state = msg.get("state")
        if not isinstance(state, dict) or non_finite:
            batch.errors.append(
                f"checkpoint refused: {non_finite[0]} is not a JSON number"
                if non_finite
                else "checkpoint without a JSON object in 'state'"
            )
            if msg.get("durable"):
                batch.requests.append({"op": "nack", "id": msg.get("id")})
            return
        batch.checkpoint = state
        batch.has_checkpoint = True
        if msg.get("durable"):
            batch.durable_ids.append(msg.get("id"))
        # A checkpoint proves progress as much as a heartbeat does.
        if batch.heartbeat is None:
            batch.heartbeat = Heartbeat()
    elif op == "resume_state":
        batch.requests.append(msg)
    else:
        batch.errors.append(f"unknown op {str(op)[:40]!r}")


class StrategyChannel:
    """Our end of one child's socketpair."""

    def __init__(self, handler: ChannelHandler) -> None:
        self._handler = handler
        self._ours, self._theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._ours.setblocking(False)
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.closed = False

    def unread(self) -> bool:
        """True when the child has written something we have not processed yet (a heartbeat may
        be waiting on the socket while the loop was busy)."""
        if self.closed:
            return False
        try:
            waiting = fcntl.ioctl(self._ours.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except OSError:
            return False
        return int.from_bytes(waiting, sys.byteorder) > 0

    @property
    def child_fd(self) -> int:
        """The descriptor the child inherits."""
        return self._theirs.fileno()

    def attach(self) -> None:
        """Call once the child has been spawned: drop our copy of its end and start reading."""
        self._theirs.close()
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    def abandon(self) -> None:
        """The child could not be spawned: release both ends."""
        self._theirs.close()
        self._ours.close()
        self.closed = True

    async def _read_loop(self) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=self._ours)
        self._writer = writer
        buf = bytearray()
        skipping = False
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    break
                buf += chunk
                batch = Batch()
                start = 0
                while True:
                    nl = buf.find(b"\n", start)
                    if nl < 0:
                        break
                    if skipping:
                        skipping = False
                    else:
                        parse_line(bytes(buf[start:nl]), batch)
                    start = nl + 1
                del buf[:start]
                if len(buf) > MAX_LINE:
                    batch.errors.append(f"message longer than {MAX_LINE} bytes dropped")
                    buf.clear()
                    skipping = True
                await self._dispatch(batch)
        except (ConnectionError, OSError):
            pass
        finally:
            if not self.closed:
                self._handler.on_channel_closed()

    async def _dispatch(self, batch: Batch) -> None:
        if batch.heartbeat or batch.has_checkpoint or batch.errors:
            self._handler.on_batch(batch)
        if batch.durable_ids:
            saved = await self._handler.on_durable(batch.durable_ids)
            for ident in batch.durable_ids:
                if saved:
                    self._send({"op": "ack", "id": ident})
                else:
                    self._send({"op": "error", "id": ident, "message": "checkpoint not saved"})
        for request in batch.requests:
            if request.get("op") == "nack":
                self._send({"op": "error", "id": request.get("id"), "message": "bad checkpoint"})
            else:
                self._send(self._handler.on_request(request))
            # Back-pressure per reply, not per read: one read can hold thousands of requests,
            # each answered with a large checkpoint. A strategy that never reads its replies
            # stops being read from once the transport is past its high-water mark.
            await self._backpressure()
        if batch.durable_ids:
            await self._backpressure()

    async def _backpressure(self) -> None:
        if self._writer is not None and not self._writer.is_closing():
            await self._writer.drain()  # a broken connection ends the read loop

    def _send(self, message: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        with contextlib.suppress(ConnectionError, OSError):
            self._writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    async def drain(self, timeout: float) -> None:
        """After the child exited: apply what it wrote last (its final checkpoint) before closing.
        Its end is closed by the kernel at exit, so this normally takes one loop iteration."""
        if self._task is not None and not self._task.done():
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
        else:
            self._ours.close()
        with contextlib.suppress(OSError):
            self._theirs.close()
