"""The strategy side: heartbeats, checkpoints and resume, standard library only.

Import it from any Python strategy::

    from tui_monitor import client

    state = client.resume_state() or {"position": 0}
    while True:
        ...
        client.heartbeat("batch 42 done", progress=0.42)
        client.checkpoint(state)

Outside the supervisor (no `TUI_MONITOR_FD` in the environment) every call is a no-op and
`resume_state()` returns None, so a strategy also runs standalone. Thread-safe.

Wire format (see README): one line per message on the inherited descriptor `$TUI_MONITOR_FD`, a JSON
object such as `{"op": "heartbeat", "msg": "ok", "progress": 0.5}`; any line that is not JSON is a
heartbeat whose message is the line. From a shell: `echo "still alive" >&"$TUI_MONITOR_FD"`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import sys
import threading
from typing import Any

FD_ENV = "TUI_MONITOR_FD"

_lock = threading.Lock()
_sock: socket.socket | None = None
_reader: Any = None
_ids = itertools.count(1)
_broken = False


def _channel() -> socket.socket | None:
    global _sock, _reader, _broken
    if _sock is not None or _broken:
        return _sock
    fd = os.environ.get(FD_ENV)
    if not fd:
        _broken = True
        return None
    try:
        _sock = socket.socket(fileno=int(fd))
        _sock.setblocking(True)
        _reader = _sock.makefile("rb")
    except (OSError, ValueError):
        _broken = True
        _sock = None
    return _sock


def _send(message: dict[str, Any]) -> bool:
    global _broken
    try:  # also standalone, so that a strategy meets the error in development
        line = json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"
    except ValueError:
        raise ValueError(
            "NaN and Infinity cannot be sent: the state is kept as strict JSON"
        ) from None
    sock = _channel()
    if sock is None:
        return False
    try:
        sock.sendall(line)
        return True
    except OSError:
        _broken = True  # the supervisor went away; carry on standalone
        return False


def _request(message: dict[str, Any]) -> dict[str, Any] | None:
    """Send and wait for the reply with the same id (replies come in order)."""
    global _broken
    ident = next(_ids)
    message["id"] = ident
    if not _send(message):
        return None
    try:
        while True:
            line = _reader.readline()
            if not line:
                _broken = True
                return None
            reply = json.loads(line)
            if reply.get("id") == ident:
                return reply
    except (OSError, ValueError):
        _broken = True
        return None


def heartbeat(message: str | None = None, progress: float | None = None) -> None:
    """Tell the supervisor this strategy is alive and making progress (progress: 0.0-1.0)."""
    payload: dict[str, Any] = {"op": "heartbeat"}
    if message is not None:
        payload["msg"] = str(message)
    if progress is not None and math.isfinite(float(progress)):
        payload["progress"] = float(progress)
    with _lock:
        _send(payload)


def checkpoint(state: dict[str, Any], durable: bool = False) -> bool:
    """Save `state` (a JSON object) as this job's checkpoint; it is handed back on every restart.

    Checkpoints are coalesced by the supervisor. With `durable=True` the call returns only once
    the state is on disk (True), so it survives anything that happens afterwards. Returns False
    when no supervisor is there (or it did not confirm). Raises ValueError for NaN or Infinity
    anywhere in `state`: it could not be saved as JSON.
    """
    if not isinstance(state, dict):
        raise TypeError("checkpoint state must be a dict")
    with _lock:
        if not durable:
            return _send({"op": "checkpoint", "state": state})
        reply = _request({"op": "checkpoint", "state": state, "durable": True})
        return bool(reply and reply.get("op") == "ack")


def resume_state() -> dict[str, Any] | None:
    """The checkpoint this run was started with, or None on a fresh start (or standalone)."""
    with _lock:
        reply = _request({"op": "resume_state"})
    state = reply.get("state") if reply else None
    return state if isinstance(state, dict) else None


def log(msg: str, level: str = "INFO", type: str = "strategy") -> None:
    """Write a structured line to stdout that views can filter by level and type."""
    line = json.dumps({"level": level.upper(), "type": type, "msg": str(msg)}, ensure_ascii=False)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def supervised() -> bool:
    """True when running under tui-monitor."""
    return _channel() is not None
