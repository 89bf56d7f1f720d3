"""Jobs on disk: one human-readable `state/<job_id>.json` per strategy, written atomically.

A job is a strategy's unit of work across processes and supervisor restarts: its status, its last
checkpoint, its restart count and the pid (with start time) of the process running it. Checkpoints
arrive at any rate; writes are coalesced (at most one every `min_interval`), except durable ones
and status changes, which are written at once — and every stop or restart flushes before it
completes, so the newest checkpoint is always on disk by then.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from tui_monitor import process
from tui_monitor.atomic import atomic_write_json, quarantine, read_regular_file, read_state_json

SCHEMA_VERSION = 1
MIN_INTERVAL = 0.05  # seconds between coalesced checkpoint writes of one job


class JobStatus(StrEnum):
    RUNNING = "running"  # a process works on it (or will, after a backoff)
    PAUSED = "paused"  # stopped by an operator
    INTERRUPTED = "interrupted"  # the supervisor went away while it ran
    FAILED = "failed"  # gave up after its restart limit
    COMPLETED = "completed"  # a task that finished


RESUMABLE = frozenset({JobStatus.PAUSED, JobStatus.INTERRUPTED, JobStatus.FAILED})


def job_id_for(strategy: str) -> str:
    return f"strategy_{strategy}"


@dataclass
class JobRecord:
    job_id: str
    strategy: str
    status: JobStatus
    checkpoint: dict[str, Any] | None = None
    checkpoint_at: float | None = None
    progress: float | None = None
    restart_count: int = 0
    runs: int = 0
    pid: int | None = None
    pid_create_time: float | None = None
    supervisor_instance: str | None = None
    started_at: float | None = None
    updated_at: float = 0.0
    created_at: float = 0.0
    last_error: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy: a checkpoint is replaced whole when a new one arrives, never changed in
        # place, so the writer thread may serialise it while the loop goes on. (asdict deep-copies
        # it, on every write: most of the cost of writing a job with a large checkpoint.)
        data = dict(self.__dict__)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> JobRecord:
        """Validate the shape, not only the syntax: valid JSON of the wrong shape is corrupt too."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {data.get('schema_version')!r}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("job_id", "strategy"):
            if not isinstance(values.get(key), str) or not values[key]:
                raise ValueError(f"{key} must be a non-empty string")
        try:
            values["status"] = JobStatus(values.get("status"))
        except ValueError:
            raise ValueError(f"unknown status {data.get('status')!r}") from None
        checks: dict[str, tuple[type, ...]] = {
            "checkpoint": (dict, type(None)),
            "checkpoint_at": (int, float, type(None)),
            "progress": (int, float, type(None)),
            "restart_count": (int,),
            "runs": (int,),
            "pid": (int, type(None)),
            "pid_create_time": (int, float, type(None)),
            "supervisor_instance": (str, type(None)),
            "started_at": (int, float, type(None)),
            "updated_at": (int, float),
            "created_at": (int, float),
            "last_error": (str, type(None)),
        }
        for key, types in checks.items():
            value = values.get(key)
            if key in values and (not isinstance(value, types) or isinstance(value, bool)):
                raise ValueError(f"{key} has the wrong type ({type(value).__name__})")
            if float in types and value is not None and not _finite(value):
                raise ValueError(f"{key} is not a finite number ({value!r:.40})")
        if values.get("pid") is not None and values["pid"] <= 0:
            raise ValueError(f"pid must be a positive integer, not {values['pid']}")
        return cls(**values)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


class JobFileError(Exception):
    """A job file that cannot be used. `kind` tells missing, unreadable and corrupt apart."""

    def __init__(self, kind: str, path: Path, reason: str) -> None:
        self.kind, self.path, self.reason = kind, path, reason
        super().__init__(f"{path.name}: {kind}: {reason}")


def read_job_file(path: Path) -> JobRecord:
    try:
        raw = read_regular_file(path)
    except FileNotFoundError:
        raise JobFileError("missing", path, "no such file (first run)") from None
    except OSError as exc:
        raise JobFileError("unreadable", path, exc.strerror or str(exc)) from None
    try:
        data = read_state_json(raw)
    except ValueError as exc:
        reason = "empty file" if not raw.strip() else f"not valid JSON ({exc})"
        raise JobFileError("corrupt", path, reason) from None
    try:
        return JobRecord.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise JobFileError("corrupt", path, f"wrong shape: {exc}") from None


class JobFile:
    """One job's record and the coalescing writer that keeps its file up to date."""

    def __init__(
        self,
        path: Path,
        record: JobRecord,
        *,
        on_write_error: Callable[[JobFile, OSError], None],
        on_write_ok: Callable[[JobFile], None],
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.path = path
        self.record = record
        self._on_write_error = on_write_error
        self._on_write_ok = on_write_ok
        self._min_interval = min_interval
        self._wanted = 0  # generation asked for
        self._written = 0  # generation on disk
        self._writer: asyncio.Task[None] | None = None
        self._urgent = asyncio.Event()
        self._done = asyncio.Condition()
        self.failing = False

    def changed(self, *, urgent: bool = False) -> int:
        """The record changed: write it soon (urgent: now). Returns the generation to wait for."""
        self._wanted += 1
        if urgent:
            self._urgent.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        return self._wanted

    async def wait_written(self, generation: int) -> bool:
        """True once `generation` (or newer) is on disk; False if writing fails."""
        async with self._done:
            await self._done.wait_for(lambda: self._written >= generation or self.failing)
            return self._written >= generation

    async def flush(self) -> bool:
        return await self.wait_written(self.changed(urgent=True))

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while self._written < self._wanted:
            wait = self._min_interval - (loop.time() - last)
            if wait > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), wait)
            self._urgent.clear()
            generation = self._wanted
            record = self.record
            data = record.to_dict()
            try:
                await asyncio.to_thread(_write_record, self.path, data)
            except OSError as exc:
                self.failing = True
                self._on_write_error(self, exc)
                async with self._done:
                    self._done.notify_all()
                return  # the next change retries
            except (TypeError, ValueError) as exc:  # a checkpoint JSON cannot represent
                self.failing = True
                self._on_write_error(self, OSError(errno.EINVAL, str(exc)))
                async with self._done:
                    self._done.notify_all()
                return
            last = loop.time()
            if record.pid == data["pid"] and record.pid_create_time is None:
                record.pid_create_time = data["pid_create_time"]
            if self.failing:
                self.failing = False
                self._on_write_ok(self)
            async with self._done:
                self._written = generation
                self._done.notify_all()


def _write_record(path: Path, data: dict[str, Any]) -> None:
    """Runs in a worker thread. A new process's start time (which with its pid identifies it to
    the next supervisor) is read here, not on the loop: reading /proc/PID/stat waits until the
    child's exec has finished. The first write after a start then carries both."""
    if data["pid"] is not None and data["pid_create_time"] is None:
        data["pid_create_time"] = process.create_time(data["pid"])
    atomic_write_json(path, data)


def job_files(state_dir: Path) -> list[Path]:
    """Everything named like a job file: what is not a readable one (a folder, say) is moved
    aside by `load_record` rather than left where the job's file must be written."""
    return sorted(state_dir.glob("strategy_*.json"))


def write_error_text(path: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return f"cannot write {path.name}: disk full"
    return f"cannot write {path.name}: {exc.strerror or exc}"


def load_record(path: Path) -> tuple[JobRecord | None, str | None]:
    """(record, problem). An unreadable or corrupt file, or one naming another job (edited or
    copied by hand), is moved aside before a new job file could replace it, and the problem says
    which it was."""
    try:
        record = read_job_file(path)
    except JobFileError as err:
        if err.kind == "missing":
            return None, None
        return None, f"job file {path.name} is {err.kind} ({err.reason}){_set_aside(path)}"
    if record.job_id != path.stem:
        return None, f"job file {path.name} names job {record.job_id!r}{_set_aside(path)}"
    return record, None


def _set_aside(path: Path) -> str:
    try:
        return f"; moved to {quarantine(path).name}"
    except OSError as exc:
        return f"; could not move it aside ({exc.strerror})"


def is_writable_dir(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)
