"""Every message the dashboard passes around, in one place (toolong's habit)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

Json = dict[str, Any]


class SnapshotArrived(Message):
    """A fresh engine snapshot: strategies and jobs."""

    def __init__(self, snapshot: Json) -> None:
        super().__init__()
        self.snapshot = snapshot


class HealthArrived(Message):
    """A fresh detailed health report, with the latest metrics."""

    def __init__(self, report: Json) -> None:
        super().__init__()
        self.report = report


class EventArrived(Message):
    """A live engine event (state change, exit, problem...)."""

    def __init__(self, event: Json) -> None:
        super().__init__()
        self.event = event


class LogLinesArrived(Message):
    """New captured output lines (oldest first), and how many were skipped to keep up."""

    def __init__(self, lines: list[Json], skipped: int = 0) -> None:
        super().__init__()
        self.lines = lines
        self.skipped = skipped


class ConnectionLost(Message):
    """The supervisor stopped answering (attach mode)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class StrategySelected(Message):
    """The cursor moved to another strategy (the log tail may follow it)."""

    def __init__(self, name: str | None) -> None:
        super().__init__()
        self.name = name


class ResumeRequested(Message):
    """A job's Resume button was pressed."""

    def __init__(self, job_id: str, strategy: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.strategy = strategy
