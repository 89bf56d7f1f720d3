"""The event and run history, in TinyDB — kept small so TinyDB stays fast.

TinyDB rewrites its whole file on every write and has no atomic write (research/libraries.md §1).
So: the history is split into segment files of at most `SEGMENT_SIZE` records each (only the newest
is ever rewritten, so the cost of a write does not grow with the history), segments beyond the
retention limit are deleted, records are batched and written off the event loop by one dedicated
thread (TinyDB is not thread-safe), and every write goes through an atomic storage. A corrupt
segment is moved aside with a warning and the history carries on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from tui_monitor.atomic import atomic_write_json, quarantine

SEGMENT_SIZE = 1000
FLUSH_INTERVAL = 1.0
MAX_PENDING = 50_000  # records waiting for the writer; beyond this the oldest are dropped
_SEGMENT = re.compile(r"^history-(\d{6})\.json$")


class AtomicMemoryStorage(Storage):
    """TinyDB storage that keeps the data in memory and writes the file atomically on `flush`."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._data: dict[str, dict[str, Any]] | None = None
        self.dirty = False
        if self.path.exists():
            raw = self.path.read_bytes()
            data = json.loads(raw) if raw.strip() else {}
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise ValueError("not a TinyDB document (wrong shape)")
            self._data = data

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._data = data
        self.dirty = True

    def flush(self) -> None:
        if self.dirty and self._data is not None:
            atomic_write_json(self.path, self._data)
            self.dirty = False

    def close(self) -> None:
        self.flush()


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
        self.failing = False

    # ---- on the history thread ----------------------------------------------------------------

    def _segments(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.folder.glob("history-*.json"):
            m = _SEGMENT.match(path.name)
            if m:
                found.append((int(m.group(1)), path))
        return sorted(found)

    def _open_segment(self, seq: int) -> TinyDB:
        path = self.folder / f"history-{seq:06d}.json"
        try:
            db = TinyDB(str(path), storage=AtomicMemoryStorage)
        except (ValueError, OSError) as exc:
            moved = quarantine(path)
            self._on_problem_threadsafe(
                f"history segment {path.name} was corrupt ({exc}); moved to {moved.name}"
            )
            db = TinyDB(str(path), storage=AtomicMemoryStorage)
        return db

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        segments = self._segments()
        self._seq = segments[-1][0] if segments else 1
        self._db = self._open_segment(self._seq)
        self._count = sum(len(self._db.table(t)) for t in self._db.tables())

    def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        if self._db is None:
            self._open()
        assert self._db is not None
        by_table: dict[str, list[dict[str, Any]]] = {}
        for table, record in batch:
            by_table.setdefault(table, []).append(record)
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

    def _rotate(self) -> None:
        assert self._db is not None
        self._db.close()
        self._seq += 1
        self._db = self._open_segment(self._seq)
        self._count = 0
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
                    with TinyDB(str(path), storage=AtomicMemoryStorage) as db:
                        docs = list(db.table(table).all())
                except (ValueError, OSError):
                    continue
            for doc in reversed(docs):
                if match(doc):
                    out.append(dict(doc))
                    if len(out) >= limit:
                        return out
        return out

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
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._write, batch)
        except (OSError, TypeError, ValueError) as exc:
            self._pending[:0] = batch[-MAX_PENDING // 2 :]  # keep the newest for a retry
            if not self.failing:
                self.failing = True
                self._on_problem(f"cannot write the history: {exc}")
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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

        def close_db() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close_db)
        self._pool.shutdown(wait=True)
