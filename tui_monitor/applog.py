"""The supervisor's own log, through loguru: `logs/app.log` (+ `app.log.1` … `.5`), a console sink
in headless mode only, a bounded in-memory sink for views, and WARNING+ into the event history.

While the dashboard is on screen nothing may write to the terminal: loguru's default stderr handler
is removed first thing. Strategy output never comes through here (loguru manages ~100k lines/s).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from tui_monitor.events import Event, Problem
from tui_monitor.rotating import RotatingFile
from tui_monitor.text import safe_text

LOG_TYPES = ("system", "strategy", "order")
FILE_FORMAT = (
    "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[type]: <8} | {extra[component]} | "
    "{message}"
)
CONSOLE_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} {level: <7} {message}"
JOURNAL_FORMAT = "{level: <7} {message}"

logger.remove()  # the default handler writes to the real stderr, over a running TUI
logger.configure(extra={"type": "system", "component": "supervisor"})


def get_logger(name: str, type: str = "system") -> Any:
    """`get_logger(__name__, "strategy")`: a logger whose records carry a log type."""
    if type not in LOG_TYPES:
        raise ValueError(f"log type must be one of {', '.join(LOG_TYPES)}, got {type!r}")
    return logger.bind(component=name, type=type)


class RecentRecords:
    """The in-memory sink views read: never blocks, never grows beyond `maxlen`."""

    def __init__(self, maxlen: int = 2000) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self.seq = 0

    def __call__(self, message: Any) -> None:
        rec = message.record
        self.seq += 1
        self.records.append(
            {
                "seq": self.seq,
                "time": rec["time"].timestamp(),
                "level": rec["level"].name,
                "type": rec["extra"].get("type", "system"),
                "component": rec["extra"].get("component", ""),
                "message": rec["message"],
            }
        )

    def after(self, seq: int) -> list[dict[str, Any]]:
        return [r for r in list(self.records) if r["seq"] > seq]


class AppLog:
    """The handlers of one supervisor run; `close()` removes them again."""

    def __init__(self) -> None:
        self.handler_ids: list[int] = []
        self.recent = RecentRecords()
        self._history_add: Callable[[str, dict[str, Any]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._file: RotatingFile | None = None

    def open(self, log_dir: Path, max_bytes: int, backups: int, console: bool) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self._file = RotatingFile(log_dir / "app.log", max_bytes, backups)
        add = self.handler_ids.append
        add(
            logger.add(
                self._write_file, level="DEBUG", format=FILE_FORMAT, colorize=False, diagnose=False
            )
        )
        if console:
            import os

            fmt = JOURNAL_FORMAT if "JOURNAL_STREAM" in os.environ else CONSOLE_FORMAT
            add(logger.add(sys.stderr, level="INFO", format=fmt, colorize=False, diagnose=False))
        add(logger.add(self.recent, level="DEBUG", format="{message}", catch=True))
        add(logger.add(self._to_history, level="WARNING", format="{message}", catch=True))

    def connect_history(self, add: Callable[[str, dict[str, Any]], None]) -> None:
        """Route WARNING+ records that are not engine events into the event history."""
        self._history_add = add
        self._loop = asyncio.get_running_loop()

    def _to_history(self, message: Any) -> None:
        rec = message.record
        if rec["extra"].get("event") or self._history_add is None or self._loop is None:
            return  # engine events reach the history directly
        entry = {
            "kind": "log",
            "time": rec["time"].timestamp(),
            "level": rec["level"].name,
            "type": rec["extra"].get("type", "system"),
            "message": rec["message"],
        }
        if rec["exception"] is not None:
            entry["detail"] = "".join(traceback.format_exception(*rec["exception"]))
        try:
            self._loop.call_soon_threadsafe(self._history_add, "events", entry)
        except RuntimeError:
            pass  # the loop is closed: the record is in app.log

    def _write_file(self, message: Any) -> None:
        """The app.log sink: one write per line, rotated like the strategies' logs. (A stdlib
        RotatingFileHandler behind loguru built a second record and formatted every line twice:
        3x the cost, on the restart path.)"""
        if self._file is not None:
            self._file.write(str(message).encode("utf-8", "replace"))

    def close(self) -> None:
        for handler_id in self.handler_ids:
            try:
                logger.remove(handler_id)
            except ValueError:
                pass
        self.handler_ids.clear()
        self._history_add = None
        if self._file is not None:
            self._file.close()
            self._file = None


def log_event(event: Event) -> None:
    """Every engine event, as one line in app.log (and on the console when headless)."""
    strategy = getattr(event, "strategy", None)
    bound = logger.bind(
        event=True,
        type="strategy" if strategy else "system",
        component=strategy or "supervisor",
    )
    text = safe_text(event.describe(), 2000)
    if isinstance(event, Problem) and event.detail:
        text += "\n" + event.detail.rstrip()
    bound.log(event.event_level(), text)


def install_exception_hooks(report: Callable[[str, BaseException], None]) -> None:
    """An exception in any thread is logged with its traceback and reported; nothing dies
    silently, and the supervisor keeps running."""

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        name = args.thread.name if args.thread else "thread"
        report(f"thread {name}", args.exc_value)

    threading.excepthook = thread_hook
