"""The event and run history, in TinyDB — kept small so TinyDB stays fast.

TinyDB rewrites its whole file on every write and has no atomic write (research/libraries.md §1).
So: the history is split into segment files of at most `SEGMENT_SIZE` records each (only the newest
is ever rewritten, so the cost of a write does not grow with the history), segments beyond the
retention limit are deleted, records are batched and written off the event loop by one dedicated
thread (TinyDB is not thread-safe), and every write goes through an atomic storage. A segment in
any wrong shape (or anything else in its place, or in the folder's) is moved aside with a warning
and the history carries on. A write that fails (disk full) is retried: records that reached the
in-memory segment stay there and are saved by the retry, so none is lost or written twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from tui_monitor.atomic import atomic_write_json, quarantine, read_regular_file, read_state_json

SEGMENT_SIZE = 250  # a flush rewrites the newest segment: small keeps every flush cheap
FLUSH_INTERVAL = 1.0
MAX_PENDING = 50_000  # records waiting for the writer; beyond this the oldest are dropped
_SEGMENT = re.compile(r"^history-(\d{6})\.json$")
_DOC_ID = re.compile(r"[0-9]{1,18}")


class AtomicMemoryStorage(Storage):
    """TinyDB storage that keeps the data in memory and writes the file atomically on `flush`.

    Opening checks the whole shape TinyDB relies on — tables of documents (objects) under
    numeric ids, numbers a float can hold — and raises ValueError (OSError when the file cannot
    be read) rather than load data that would fail every later read or write."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] | None = None
        self.dirty = False
        try:
            raw = read_regular_file(self.path)
        except FileNotFoundError:
            return
        data = read_state_json(raw) if raw.strip() else {}
        _check_shape(data)
        self._data = data

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._data = data
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self._data is not None:
            atomic_write_json(self.path, self._data, pretty=False)  # TinyDB's own layout
            self.dirty = False

    def close(self) -> None:
        self.flush()


def _check_shape(data: Any) -> None:
    if not isinstance(data, dict):
        raise ValueError("not a TinyDB document (wrong shape)")
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"table {name[:40]!r} is not an object")
        for doc_id, doc in table.items():
            if not _DOC_ID.fullmatch(doc_id):
                raise ValueError(f"document id {doc_id[:40]!r} in {name[:40]!r} is not a number")
            if not isinstance(doc, dict):
                raise ValueError(f"document {doc_id} in {name[:40]!r} is not an object")


def _storable(record: dict[str, Any]) -> dict[str, Any] | None:
    """`record` if JSON can hold it as it is; else a copy where NaN/Infinity became strings and
    other values their repr; None if not even that (a cycle, say)."""
    try:
        json.dumps(record, allow_nan=False)
        return record
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        text = json.dumps(record, default=repr, skipkeys=True)
        copy = json.loads(text, parse_constant=str)
    except (TypeError, ValueError, RecursionError):
        return None
    return copy if isinstance(copy, dict) else None


class _WriteFailed(Exception):
    """A write failed after `rest` (of the batch) was not yet in the in-memory segment."""

    def __init__(self, rest: list[tuple[str, dict[str, Any]]], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.rest = rest
        self.cause = cause


class History:
    """Append-mostly history with `runs` and `events` tables. Use from the event loop only; all
    TinyDB work happens on the history's own thread."""

    def __init__(
        self,
        folder: Path,
        limit: int,
        on_problem: Callable[[str], None],
        segment_size: int = SEGMENT_SIZE,
    ) -> None:
        self.folder = folder
        self.segment_size = segment_size
        self.max_segments = max(2, -(-limit // segment_size) + 1)
        self._on_problem = on_problem
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
        self._pending: list[tuple[str, dict[str, Any]]] = []
        self._dropped = 0
        self._db: TinyDB | None = None
        self._seq = 0
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.failing = False  # the last write failed: records wait (in memory or queued)

    # ---- on the history thread ----------------------------------------------------------------

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("history-*.json"):
            m = _SEGMENT.match(path.name)
            if m:
                found.append((int(m.group(1)), path))
        return sorted(found)

    def _load(self, path: Path) -> TinyDB | None:
        """The segment at `path` (empty if there is none), or None after moving a bad one aside
        (reported). OSError if a bad one cannot even be moved."""
        try:
            return TinyDB(str(path), storage=AtomicMemoryStorage)
        except ValueError as exc:
            self._set_aside(path, f"history segment {path.name} was corrupt ({exc})")
        except OSError as exc:
            self._set_aside(path, f"history segment {path.name} is unreadable ({exc.strerror})")
        return None

    def _set_aside(self, path: Path, problem: str) -> None:
        try:
            moved = quarantine(path)
        except OSError as exc:
            self._on_problem_threadsafe(f"{problem}; could not move it aside ({exc.strerror})")
            raise
        self._on_problem_threadsafe(f"{problem}; moved to {moved.name}")

    def _open_segment(self, seq: int) -> TinyDB:
        path = self.folder / f"history-{seq:06d}.json"
        db = self._load(path)
        return db if db is not None else TinyDB(str(path), storage=AtomicMemoryStorage)

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file (or a dangling link) where the folder belongs
            self._set_aside(self.folder, f"{self.folder.name} is not a folder")
            self.folder.mkdir()
        segments = self._segments()
        self._seq = segments[-1][0] if segments else 1
        self._db = self._open_segment(self._seq)
        self._count = self._size(self._db)

    @staticmethod
    def _size(db: TinyDB) -> int:
        return sum(len(db.table(t)) for t in db.tables())

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """Insert `batch` into the newest segment (rotating when it is full) and save it. On any
        error, _WriteFailed says which records did not reach memory: those are to be retried, the
        others are saved by the next write (the segment stays dirty until then)."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        unstorable = 0
        for table, record in batch:
            storable = _storable(record)
            if storable is None:
                unstorable += 1
            else:
                by_table.setdefault(table, []).append(storable)
        if unstorable:
            self._on_problem_threadsafe(
                f"{unstorable} history record(s) could not be stored (not representable in JSON)"
            )
        try:
            if self._db is None:
                self._open()
            assert self._db is not None
            while by_table:
                room = self.segment_size - self._count
                if room <= 0:
                    self._rotate()
                    continue
                table, records = next(iter(by_table.items()))
                chunk, rest = records[:room], records[room:]
                self._db.table(table).insert_multiple(chunk)
                self._count += len(chunk)
                if rest:
                    by_table[table] = rest
                else:
                    del by_table[table]
            self._db.storage.flush()  # type: ignore[attr-defined]
        except Exception as exc:
            rest = [(table, record) for table, records in by_table.items() for record in records]
            raise _WriteFailed(rest, exc) from exc

    def _rotate(self) -> None:
        """Start the next segment once the full one is saved (if saving fails, nothing changes
        and the next write tries again)."""
        assert self._db is not None
        self._db.storage.flush()  # type: ignore[attr-defined]
        new = self._open_segment(self._seq + 1)
        self._db.close()
        self._db = new
        self._seq += 1
        self._count = self._size(new)
        segments = self._segments()
        for _, old in segments[: max(0, len(segments) - self.max_segments)]:
            with contextlib.suppress(OSError):
                old.unlink()

    def _read(self, table: str, limit: int, match: Callable[[dict[str, Any]], bool]) -> list[dict]:
        if self._db is None:
            self._open()
        out: list[dict[str, Any]] = []
        for seq, path in reversed(self._segments()):
            if seq == self._seq and self._db is not None:
                docs = list(self._db.table(table).all())
            else:
                try:
                    db = self._load(path)
                except OSError:
                    continue
                if db is None:
                    continue
                with db:
                    docs = list(db.table(table).all())
            for doc in reversed(docs):
                if match(doc):
                    out.append(dict(doc))
                    if len(out) >= limit:
                        return out
        return out

    def _close_db(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    def _on_problem_threadsafe(self, message: str) -> None:
        self._loop.call_soon_threadsafe(self._on_problem, message)

    # ---- on the event loop --------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._flusher())

    def add(self, table: str, record: dict[str, Any]) -> None:
        """Queue a record; never blocks, never grows without bound."""
        if len(self._pending) >= MAX_PENDING:
            del self._pending[: MAX_PENDING // 10]
            self._dropped += MAX_PENDING // 10
        self._pending.append((table, record))
        if len(self._pending) >= 500:
            self._wake.set()

    async def _flusher(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what is queued (and retry what failed before). Never raises: a failure is
        reported once (`failing`, the health reason `history_write`) and retried later."""
        if not self._pending and not self.failing:
            return
        batch, self._pending = self._pending, []
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._write, batch)
        except Exception as exc:
            rest = exc.rest if isinstance(exc, _WriteFailed) else batch
            keep = rest[-MAX_PENDING // 2 :]  # keep the newest for a retry
            self._dropped += len(rest) - len(keep)
            self._pending[:0] = keep
            if not self.failing:
                self.failing = True
                cause = exc.cause if isinstance(exc, _WriteFailed) else exc
                self._on_problem(f"cannot write the history: {_describe(cause)}")
            return
        if self.failing:
            self.failing = False
            self._on_problem("history written again")

    async def recent(
        self, table: str, limit: int = 100, match: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Newest first. Pending records are included (flushed first)."""
        await self.flush()
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._read, table, limit, match or (lambda _d: True)
        )

    async def close(self) -> None:
        """Stop the flusher and save everything; never raises (what cannot be saved is
        reported)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._close_db)
        except Exception as exc:
            self._on_problem(f"cannot save the history at shutdown: {_describe(exc)}")
        else:
            if self._pending:
                self._on_problem(f"{len(self._pending)} history record(s) could not be saved")
        self._pool.shutdown(wait=True)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "disk full"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
