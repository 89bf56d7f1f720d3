"""The control protocol, version 1: JSON lines over a Unix stream socket.

Each message is one JSON object on one line (UTF-8, `\\n`-terminated, at most 1 MiB).

Request::

    {"v": 1, "id": 7, "op": "stop", "name": "alpha"}

`v` is the protocol version (1), `id` an integer or string (≤ 200 characters) chosen by the client
and echoed in the answer, `op` the operation; the other keys are its arguments (unknown keys are
ignored, so newer clients can send optional arguments to older servers). Answers::

    {"v": 1, "id": 7, "ok": true, "result": ...}
    {"v": 1, "id": 7, "ok": false, "error": {"type": "unknown_name", "message": "..."}}

A connection carries any number of requests, answered one at a time, in order. An error about the
connection itself (bad peer, timeout, oversized line) has `"id": null` and is followed by a close.

Operations (arguments with defaults are optional):

- `hello` (alias `version`) → `{"protocol", "version", "pid", "started_at", "config_path",
  "state_dir", "log_dir", "control_socket", "ops"}`
- `snapshot` → the engine snapshot (`EngineSnapshot.to_dict()`)
- `health {detailed=false}` → the health report; `detailed` adds `strategies`, `jobs`, `metrics`
  (the latest sweep) and `metrics_history` (ten minutes of CPU, memory, swap and load)
- `start {name, fresh=false}`, `stop {name}`, `restart {name}`, `resume {job_id, fresh=false}` →
  `{"strategy": {...}, "job": {...} or null}` once the command is done
- `log_lines {name, after=0, limit=500}` → `[{"seq", "time", "strategy", "stream", "level",
  "type", "text", "structured"}]`, lines with `seq` > `after` (`name` null: as the engine's
  `log_lines(None, ...)` defines it)
- `job {job_id}` → the whole job record (`state/<job_id>.json`), its checkpoint included
- `runs {name=null, limit=50}`, `events {name=null, limit=100}` → history records, newest last
- `subscribe` → `{"subscribed": true}`, then the connection becomes a stream

After `subscribe` the server sends one `{"v": 1, "event": {...}}` line per engine event
(`Event.to_dict()`), and `{"v": 1, "end": {"reason": "..."}}` before it closes the stream (the
supervisor is shutting down, or the client fell behind: a subscriber that does not read is dropped,
never buffered without bound). Whatever the client sends afterwards is ignored; closing its side
ends the subscription.

Error types: `bad_json`, `bad_request` (missing or mistyped argument, bad version or id),
`unknown_op`, `too_large`, `timeout`, `permission_denied`, `busy`, `unknown_name` (with `what`,
`name` and `known`), `command_refused`, `failed`, `internal`.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from tui_monitor.errors import CommandRefused, TuiMonitorError, UnknownName

PROTOCOL_VERSION = 1
#: Longest request line the server reads; a longer one is answered `too_large` and closed.
MAX_LINE_BYTES = 1024 * 1024
#: A client whose unread answers or events exceed this is dropped.
MAX_BUFFER_BYTES = 1024 * 1024
#: How long a connection may stay silent (or take to send one line) before it is closed.
IDLE_TIMEOUT = 30.0
MAX_ID_CHARS = 200
MAX_LIMIT = 100_000

# Error types on the wire.
BAD_JSON = "bad_json"
BAD_REQUEST = "bad_request"
UNKNOWN_OP = "unknown_op"
TOO_LARGE = "too_large"
TIMEOUT = "timeout"
PERMISSION_DENIED = "permission_denied"
BUSY = "busy"
UNKNOWN_NAME = "unknown_name"
COMMAND_REFUSED = "command_refused"
FAILED = "failed"
INTERNAL = "internal"


class NoSupervisor(TuiMonitorError):
    """Nothing to talk to: no supervisor listens on the control socket (exit code 3)."""

    exit_code = 3

    def __init__(self, message: str, path: str | PurePath | None = None) -> None:
        super().__init__(message)
        self.path = str(path) if path is not None else None


class ControlError(TuiMonitorError):
    """The supervisor answered with an error that is not about a name or a refused command, or
    the conversation itself failed (exit code 1). `type` is the wire error type."""

    exit_code = 1

    def __init__(self, type: str, message: str) -> None:
        super().__init__(message)
        self.type = type


class RequestError(Exception):
    """A request the server cannot carry out; becomes an error answer."""

    def __init__(self, type: str, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.type, self.message, self.request_id = type, message, request_id


# ---- arguments -------------------------------------------------------------------------------

_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class Arg:
    kind: str  # "str", "bool", "int", "str?" (a string or null)
    default: Any = _REQUIRED
    minimum: int = 0
    maximum: int = 2**53


_NAME = Arg("str")
_OPTIONAL_NAME = Arg("str?", None)
_FRESH = Arg("bool", False)

#: Every operation and its arguments.
OPS: dict[str, dict[str, Arg]] = {
    "hello": {},
    "version": {},
    "snapshot": {},
    "health": {"detailed": Arg("bool", False)},
    "start": {"name": _NAME, "fresh": _FRESH},
    "stop": {"name": _NAME},
    "restart": {"name": _NAME},
    "resume": {"job_id": _NAME, "fresh": _FRESH},
    "log_lines": {
        "name": _OPTIONAL_NAME,
        "after": Arg("int", 0),
        "limit": Arg("int", 500, minimum=1, maximum=MAX_LIMIT),
    },
    "job": {"job_id": _NAME},
    "runs": {"name": _OPTIONAL_NAME, "limit": Arg("int", 50, minimum=1, maximum=MAX_LIMIT)},
    "events": {"name": _OPTIONAL_NAME, "limit": Arg("int", 100, minimum=1, maximum=MAX_LIMIT)},
    "subscribe": {},
}
COMMAND_OPS = frozenset({"start", "stop", "restart", "resume"})


def _check(op: str, key: str, spec: Arg, value: Any) -> Any:
    def wrong(expected: str) -> RequestError:
        return RequestError(
            BAD_REQUEST, f"{op}: {key!r} must be {expected}, got {_describe(value)}"
        )

    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise wrong("true or false")
    elif spec.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong("an integer")
        if not spec.minimum <= value <= spec.maximum:
            raise wrong(f"an integer from {spec.minimum} to {spec.maximum}")
    elif spec.kind == "str?":
        if value is not None and not isinstance(value, str):
            raise wrong("a string or null")
    elif not isinstance(value, str) or not value:
        raise wrong("a non-empty string")
    return value


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return value is None or (isinstance(value, str) and len(value) <= MAX_ID_CHARS)


@dataclasses.dataclass(frozen=True)
class Request:
    id: Any
    op: str
    args: dict[str, Any]


def parse_request(line: bytes) -> Request:
    """Decode and validate one request line; RequestError says what is wrong with it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(BAD_JSON, "a request must be UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RequestError(BAD_JSON, f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise RequestError(BAD_REQUEST, "a request must be a JSON object")
    request_id = data.get("id")
    if not _valid_id(request_id):
        raise RequestError(BAD_REQUEST, "'id' must be an integer, a short string or null")
    version = data.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise RequestError(
            BAD_REQUEST,
            f"unsupported protocol version {_describe(version)} (this server speaks "
            f'{{"v": {PROTOCOL_VERSION}}})',
            request_id,
        )
    op = data.get("op")
    if not isinstance(op, str):
        raise RequestError(BAD_REQUEST, "'op' must be a string", request_id)
    specs = OPS.get(op)
    if specs is None:
        raise RequestError(
            UNKNOWN_OP,
            f"unknown op {_describe(op)} (known: {', '.join(sorted(OPS))})",
            request_id,
        )
    args: dict[str, Any] = {}
    try:
        for key, spec in specs.items():
            if key in data:
                args[key] = _check(op, key, spec, data[key])
            elif spec.default is _REQUIRED:
                raise RequestError(BAD_REQUEST, f"{op}: missing {key!r}")
            else:
                args[key] = spec.default
    except RequestError as exc:
        exc.request_id = request_id
        raise
    return Request(request_id, op, args)


# ---- messages --------------------------------------------------------------------------------


_NATIVE = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """`value` as JSON would carry it: dicts with string keys, lists, str, numbers, bool, None.

    Results of the in-process view go through this, so they are the same shapes (and compare
    equal) to what the socket view decodes.
    """
    kind = type(value)
    if kind in _NATIVE:  # the bulk of every result: no isinstance chain
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return plain(to_dict() if callable(to_dict) else dataclasses.asdict(value))
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def _finite(value: Any) -> Any:
    """Non-finite floats become null: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a line. ASCII-only JSON, so lone surrogates or odd bytes in strategy text
    can never make it unencodable."""
    try:
        text = json.dumps(message, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(plain(message)), ensure_ascii=True, separators=(",", ":"))
    return text.encode("ascii") + b"\n"


def ok(request_id: Any, result: Any) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error(request_id: Any, type: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": {"type": type, "message": message, **extra},
    }


def event_message(event: Mapping[str, Any]) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "event": event}


def end_message(reason: str) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "end": {"reason": reason}}


def exception_from_error(err: Mapping[str, Any]) -> TuiMonitorError:
    """The exception an error answer stands for: the same types (and messages) the in-process
    engine raises, so a view behaves the same in-process and over the socket."""
    type_ = str(err.get("type", INTERNAL))
    message = str(err.get("message", "error"))
    if type_ == UNKNOWN_NAME:
        known = err.get("known")
        if isinstance(known, list):
            exc = UnknownName(str(err.get("what", "name")), str(err.get("name", "")), known)
            if str(exc) == message:
                return exc
        exc = UnknownName.__new__(UnknownName)
        Exception.__init__(exc, message)
        exc.what, exc.name = str(err.get("what", "name")), str(err.get("name", ""))
        return exc
    if type_ == COMMAND_REFUSED:
        return CommandRefused(message)
    if type_ == PERMISSION_DENIED:
        return NoSupervisor(message)
    return ControlError(type_, message)
