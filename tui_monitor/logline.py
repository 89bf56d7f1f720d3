"""One line of strategy output as the views see it, and how a raw line is classified.

The bytes on disk are the strategy's own; this is only the in-memory view of a line. It is decoded
with replacement and capped so hostile output (a 10 MB line, invalid UTF-8) costs a bounded amount
of memory, but it is otherwise left alone: escaping for the screen is the views' job
(`tui_monitor.text.safe_text`), which keeps this cheap on the capture thread.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_LINE_CHARS = 2000
#: Longest line worth trying as JSON; longer ones are text (parsing them would cost too much).
MAX_JSON_BYTES = 64 * 1024
#: Enough bytes to yield more than MAX_LINE_CHARS characters: one character is at most 4 bytes.
_DECODE_BYTES = MAX_LINE_CHARS * 4 + 4
#: A level word counts when it appears within this many characters of the start.
LEVEL_WINDOW = 40

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TYPES = frozenset({"system", "strategy", "order"})

_LEVEL_NAMES = {
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
    "FATAL": "CRITICAL",
    "Traceback": "ERROR",
}
_LEVEL_WORD = re.compile(r"\b(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL|Traceback)\b")
_STREAM_DEFAULT = {"stdout": "INFO", "stderr": "WARNING"}


@dataclass(frozen=True, slots=True)
class LogLine:
    """A captured line; `seq` lets a view ask for "lines after the last one I showed"."""

    seq: int
    time: float
    strategy: str
    stream: str
    level: str
    type: str
    text: str
    structured: bool

    def to_dict(self) -> dict[str, Any]:
        # What views carry (asdict walks and deep-copies field by field: 10x the cost, per line).
        return {
            "seq": self.seq,
            "time": self.time,
            "strategy": self.strategy,
            "stream": self.stream,
            "level": self.level,
            "type": self.type,
            "text": self.text,
            "structured": self.structured,
        }


def cap_text(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """Cut at `limit` characters, marking the cut so a reader knows the line went on."""
    return text[:limit] + "…" if len(text) > limit else text


def decode(raw: bytes) -> str:
    """Decode with replacement, capped; only the bytes that can matter are decoded."""
    text = raw[:_DECODE_BYTES].decode("utf-8", "replace")
    return cap_text(text)


def _level_name(value: object) -> str:
    return _LEVEL_NAMES.get(str(value).strip().upper(), "INFO")


def _structured(raw: bytes) -> tuple[str, str, str, bool] | None:
    """(level, type, text, True) for a JSON object with "msg" plus "level" and/or "type"."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or "msg" not in obj:
        return None
    if "level" not in obj and "type" not in obj:
        return None
    level = _level_name(obj["level"]) if "level" in obj else "INFO"
    kind = str(obj.get("type", "strategy")).strip().lower()
    msg = obj["msg"]
    text = msg if isinstance(msg, str) else str(msg)
    return level, kind if kind in TYPES else "strategy", cap_text(text), True


def classify(raw: bytes, stream: str) -> tuple[str, str, str, bool]:
    """(level, type, text, structured) for one raw line without its newline.

    Plain lines get their level from a level word near the start, the cheapest heuristic that
    catches the common logging formats; otherwise stderr counts as a warning.
    """
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if raw.startswith(b"{") and len(raw) < MAX_JSON_BYTES:
        found = _structured(raw)
        if found is not None:
            return found
    text = decode(raw)
    match = _LEVEL_WORD.search(text, 0, LEVEL_WINDOW)
    if match is not None:
        level = _LEVEL_NAMES[match.group(1)]
    else:
        level = _STREAM_DEFAULT.get(stream, "INFO")
    return level, "strategy", text, False
