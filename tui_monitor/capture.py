"""Strategy stdout/stderr to rotated files, nothing lost, at full speed, plus a bounded live tail.

Every byte a strategy writes goes to its log file: one background thread (`Capture`) multiplexes all
pipes with epoll, reads up to 1 MiB at a time and appends the bytes unchanged, so a megabyte costs
a read, a newline count and a write, all in C, whatever the line count. The live tail is secondary
and may be sampled:
of each chunk only the last 16 KiB are split into lines, so a burst of a million lines a second
never backs up into the strategy. A slow screen cannot slow a strategy either: views only read the
tail, under a short lock.

If the disk is full the thread keeps reading (a strategy blocked on a full pipe would look hung),
drops and counts the data, reports the problem once, and recovers by itself when writes work again.
Data is dropped in whole lines only: the rest of a line a failed write cut is kept and written
first when writing works again, so a line's head is never glued to another line's tail.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import select
import threading
import time
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice, repeat
from operator import itemgetter
from pathlib import Path

from tui_monitor.logline import LogLine, classify
from tui_monitor.rotating import RotatingFile

READ_SIZE = 1024 * 1024
PIPE_SIZE = 1024 * 1024
#: Of each chunk read, only this many trailing bytes are split into lines for the tail.
SAMPLE_BYTES = 16 * 1024  # ~160 lines of 100 B per read: the tail fills; 64 KiB cost 13 % more CPU
#: A partial line (no newline yet) kept for the tail is capped here; the rest of it is skipped.
PARTIAL_CAP = 64 * 1024
#: Tail lines up to this size are kept raw (enough for MAX_LINE_CHARS); longer ones are classified.
RAW_KEEP_BYTES = 8 * 1024
#: How many reads per pipe `Capture.stop` spends on draining before it closes the pipe anyway.
STOP_DRAIN_READS = 64
#: The rest of a line a failed write cut is kept up to this size; a longer one is cut short.
CARRY_CAP = 1024 * 1024
STREAMS = ("stdout", "stderr")

ProblemHook = Callable[[str, str], None]


class LineSampler:
    """Cuts one stream's chunks into the lines worth showing in the tail.

    Only the last SAMPLE_BYTES of a chunk are split, and at most `keep` lines of it returned: the
    tail cannot show more anyway. A partial last line waits for the next chunk, capped at
    PARTIAL_CAP so a line without a newline cannot grow memory; past the cap it is emitted cut and
    the rest of it is ignored.
    """

    __slots__ = ("_discarding", "_pending", "keep")

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._pending = b""
        self._discarding = False  # inside an over-long line that was already emitted

    def feed(self, data: bytes, newlines: int | None = None) -> tuple[list[bytes], int]:
        """(complete lines for the tail, number of lines skipped by sampling).

        `newlines`, the chunk's newline count if the caller has it, saves counting the head again.
        """
        skipped = 0
        if len(data) > SAMPLE_BYTES:
            head_end = data.rfind(b"\n", 0, len(data) - SAMPLE_BYTES) + 1
            if head_end:
                if newlines is None:
                    in_head = data.count(b"\n", 0, head_end)
                else:
                    in_head = newlines - data.count(b"\n", head_end)
                skipped = in_head - self._discarding
                self._pending, self._discarding = b"", False
                data = data[head_end:]
        if self._discarding:
            newline = data.find(b"\n") + 1
            if not newline:
                return [], skipped
            self._discarding = False
            data = data[newline:]
        lines = data.split(b"\n")
        rest = lines.pop()
        if self._pending:
            if lines:
                lines[0] = self._pending + lines[0]
            else:
                rest = self._pending + rest[:PARTIAL_CAP]
        self._pending = rest
        if len(rest) > PARTIAL_CAP:
            lines.append(rest[:PARTIAL_CAP])
            self._pending, self._discarding = b"", True
        if len(lines) > self.keep:
            skipped += len(lines) - self.keep
            lines = lines[-self.keep :]
        return lines, skipped

    def flush(self) -> list[bytes]:
        """The unfinished last line at end of stream, if any."""
        line, self._pending, self._discarding = self._pending, b"", False
        return [line] if line else []


class LineClock:
    """Numbers the tail lines of every strategy in one sequence, in capture order.

    Each line gets the next number (its *mark*), whichever strategy printed it, so marks order
    lines across strategies and the gap between two of them counts the lines in between. The
    sequence starts at the process's start time in microseconds: the marks of a supervisor
    started later are higher than those of an earlier one (unless that one averaged a million
    tail lines a second). Tails number their lines under `lock` while appending them, so a
    reader that reads `latest` first finds every line up to it already in its tail.
    """

    def __init__(self, start: int | None = None) -> None:
        self.lock = threading.Lock()
        self.last = int(time.time() * 1_000_000) if start is None else start

    @property
    def latest(self) -> int:
        """The mark of the newest line appended to any tail."""
        with self.lock:
            return self.last


#: The process's one clock: every tail of every strategy shares it.
LINE_CLOCK = LineClock()


class Tail:
    """Bounded ring of recent lines for one strategy: the capture thread appends, views read.

    Lines are stored raw and classified when a view reads them: a burst costs the capture thread
    one split, and the classification work follows what views look at, not what strategies print.
    Only lines too long to keep raw are classified on arrival, so memory stays bounded.

    A line has two numbers: `seq`, consecutive within this tail, and its mark from the shared
    `LineClock`, which orders lines across strategies (see `merged_lines`). Both are increasing
    in the ring, so a reader finds its place by bisection; a batch of lines appended together
    has consecutive marks, so one offset per batch (mark - seq) records them.
    """

    def __init__(self, strategy: str, maxlen: int = 2000, clock: LineClock | None = None) -> None:
        self.strategy = strategy
        self.maxlen = maxlen
        self.clock = clock or LINE_CLOCK
        self.skipped = 0  # lines not put in the tail because a burst was sampled
        # ((capture time, stream, mark - seq), raw line or its classification)
        self._lines: deque[tuple[tuple[float, str, int], _Payload]] = deque(maxlen=maxlen)
        self._last_seq = 0
        self._last_mark = 0
        self._lock = threading.Lock()

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def last_mark(self) -> int:
        """The mark of the newest line (0 before the first)."""
        return self._last_mark

    def __len__(self) -> int:
        return len(self._lines)

    def extend(self, stream: str, raws: list[bytes], now: float | None = None) -> None:
        """Append raw lines (without their newline), numbered consecutively."""
        if not raws:
            return
        payloads: list[_Payload] | list[bytes] = raws
        if max(map(len, raws)) > RAW_KEEP_BYTES:
            payloads = [_compact(raw, stream) for raw in raws]
        when = time.time() if now is None else now
        clock = self.clock
        with self._lock, clock.lock:
            meta = (when, stream, clock.last - self._last_seq)
            self._lines.extend(zip(repeat(meta), payloads))
            self._last_seq += len(raws)
            clock.last += len(raws)
            self._last_mark = clock.last

    def lines_after(self, seq: int, limit: int = 1000) -> list[LogLine]:
        """The oldest `limit` lines still held whose seq is greater than `seq`.

        A view opening on a strategy asks for `last_seq - n` to start with the newest n lines.
        """
        with self._lock:
            if self._last_seq <= seq or limit <= 0:
                return []
            first = self._last_seq - len(self._lines) + 1
            start = max(seq + 1 - first, 0)
            entries = list(islice(self._lines, start, start + limit))
        name = self.strategy
        return [_line(number, name, entry) for number, entry in enumerate(entries, first + start)]

    def _marked(self, after: int, upto: int, limit: int) -> tuple[int, list[_Entry]]:
        """(seq of the first, entries): the newest `limit` held lines with a mark in
        (`after`, `upto`], oldest first. Bisection plus a copy of what is returned: never a
        walk over the rest of the ring."""
        with self._lock:
            lines = self._lines
            held = len(lines)
            first = self._last_seq - held + 1

            def mark(i: int) -> int:
                return lines[i][0][2] + first + i

            end = held
            if self._last_mark > upto:  # appended after the reader's snapshot of the clock
                end = bisect_right(range(held), upto, key=mark)
            start = bisect_right(range(end), after, key=mark)
            start = max(start, end - limit)
            if start >= end:
                return 0, []
            # From the right end: the new lines are the last ones, islice from the left would
            # walk the whole ring to reach them.
            entries = list(islice(reversed(lines), held - end, held - start))
        entries.reverse()
        return first + start, entries


_Payload = bytes | tuple[str, str, str, bool]
_Entry = tuple[tuple[float, str, int], _Payload]


def _line(number: int, name: str, entry: _Entry) -> LogLine:
    (when, stream, _), payload = entry
    level, kind, text, structured = (
        classify(payload, stream) if isinstance(payload, bytes) else payload
    )
    return LogLine(number, when, name, stream, level, kind, text, structured)


def merged_lines(tails: Iterable[Tail], after: int, limit: int) -> list[LogLine]:
    """The newest `limit` lines of all `tails` whose mark is greater than `after`, oldest
    first, with the mark as their `seq` (the tails share `LINE_CLOCK`).

    The cost follows what is new, not what is held: a tail with no line after the cursor is
    passed over in O(1), the others are bisected, and only the lines returned are copied and
    classified. Marks are consecutive, so the newest `limit` lines normally have the newest
    `limit` marks; only when some of those are not held here (another engine in this process,
    lines that fell off a tail) are up to `limit` lines of each tail compared.
    """
    tails = list(tails)
    clock = tails[0].clock if tails else LINE_CLOCK
    upto = clock.latest
    if limit <= 0 or after >= upto:
        return []
    low = max(after, upto - limit)
    picked = [(tail, *tail._marked(low, upto, limit)) for tail in tails if tail.last_mark > low]
    if low > after and sum(len(entries) for _, _, entries in picked) < upto - low:
        picked = [
            (tail, *tail._marked(after, upto, limit)) for tail in tails if tail.last_mark > after
        ]
    rows = [
        (entry[0][2] + seq, tail.strategy, entry)
        for tail, first, entries in picked
        for seq, entry in enumerate(entries, first)
    ]
    rows.sort(key=itemgetter(0))
    return [_line(mark, name, entry) for mark, name, entry in rows[-limit:]]


def _compact(raw: bytes, stream: str) -> _Payload:
    return raw if len(raw) <= RAW_KEEP_BYTES else classify(raw, stream)


class _Run:
    """One run's pair of pipes; drained once both reached end of file."""

    def __init__(self) -> None:
        self._open = len(STREAMS)
        self._lock = threading.Lock()
        self._waiters: list[asyncio.Future[bool]] = []
        self.done = False

    def stream_closed(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open > 0 or self.done:
                return
            self.done = True
            waiters, self._waiters = self._waiters, []
        for future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
                future.get_loop().call_soon_threadsafe(_resolve, future)

    async def wait(self, timeout: float) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self.done:
                return True
            self._waiters.append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(future)


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)


class _Pipe:
    """A registered read end: where its bytes go and the partial line it carries."""

    __slots__ = ("fd", "output", "run", "sampler", "stream")

    def __init__(self, fd: int, output: StrategyOutput, stream: str, run: _Run) -> None:
        self.fd = fd
        self.output = output
        self.stream = stream
        self.run = run
        self.sampler = LineSampler(output.tail.maxlen)


class _Cut:
    """What a failed write left of one stream, so that what follows stays in whole lines.

    `carry` is the unwritten rest of the line the file ends in (a failed write cut it): it is
    written before anything else. `skipping`: a line whose head was dropped goes on in the next
    chunks; its rest is dropped too, up to its newline.
    """

    __slots__ = ("carry", "skipping")

    def __init__(self, carry: bytes, skipping: bool) -> None:
        self.carry = carry
        self.skipping = skipping

    def take(self, data: bytes) -> tuple[bytes, int]:
        """(the bytes to write now, in place of `data`; how many bytes of `data` are dropped)."""
        dropped = 0
        if self.skipping:
            end = data.find(b"\n") + 1
            if not end:
                out, self.carry = self.carry, b""
                return out, len(data)
            self.skipping = False
            dropped, data = end, data[end:]
        out, self.carry = self.carry + data, b""
        return out, dropped

    @classmethod
    def after_failure(cls, rest: bytes, mid_line: bool, skipping: bool) -> tuple[_Cut, int]:
        """The state after a write left `rest` unwritten (the file ends mid-line if `mid_line`),
        and how many bytes of `rest` are dropped."""
        carry = b""
        if mid_line:  # keep the rest of the line the file ends in
            end = rest.find(b"\n") + 1 or len(rest)
            carry, rest = rest[:end], rest[end:]
        if rest:  # whole lines, perhaps followed by the head of one that goes on
            skipping = not rest.endswith(b"\n")
        dropped = len(rest)
        if len(carry) > CARRY_CAP:  # cut short, and ended here: its rest is dropped
            skipping = skipping or not carry.endswith(b"\n")
            dropped += len(carry) - (CARRY_CAP - 1)
            carry = carry[: CARRY_CAP - 1] + b"\n"
        return cls(carry, skipping), dropped

    @property
    def pending(self) -> bool:
        return bool(self.carry) or self.skipping


def _describe(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "disk full"
    return exc.strerror or str(exc)


class StrategyOutput:
    """One strategy's files and tail, kept across its runs (restarts append to the same files).

    Counters and `write_error` are updated by the capture thread and only read elsewhere.
    """

    def __init__(
        self,
        name: str,
        log_dir: Path,
        max_bytes: int,
        backups: int,
        tail_lines: int = 2000,
        *,
        capture: Capture | None = None,
    ) -> None:
        self.name = name
        folder = log_dir / "strategies"
        self.stdout_file = RotatingFile(folder / f"{name}.log", max_bytes, backups)
        try:
            self.stderr_file = RotatingFile(folder / f"{name}.err.log", max_bytes, backups)
        except OSError:
            self.stdout_file.close()
            raise
        self.tail = Tail(name, tail_lines)
        self.write_error: str | None = None
        self.bytes_written = 0
        self.lines_seen = 0
        self.dropped_bytes = 0
        self.closed = False
        self._capture = capture
        self._run: _Run | None = None
        self._errors: dict[str, str] = {}  # per stream, so one failing file cannot flap the state
        self._cuts: dict[str, _Cut] = {}  # per stream, after a failed write (see _Cut)
        self._lock = threading.Lock()  # close() from another thread must not race a write

    def file(self, stream: str) -> RotatingFile:
        return self.stdout_file if stream == "stdout" else self.stderr_file

    def set_limits(self, max_bytes: int, backups: int) -> None:
        """New rotation settings (configuration reload), used from the next write on."""
        for file in (self.stdout_file, self.stderr_file):
            file.max_bytes, file.backups = max_bytes, backups

    def open_pipes(self) -> tuple[int, int]:
        """New stdout/stderr pipes for a run; returns the write ends for the child.

        The caller passes them to the child and closes them right after spawning: the run counts
        as drained only when every copy of the write ends is closed.
        """
        if self._capture is None:
            raise RuntimeError(f"{self.name}: no capture thread to read the pipes")
        if self.closed:
            raise RuntimeError(f"{self.name}: output is closed")
        ends: list[int] = []
        try:
            for _ in STREAMS:
                ends.extend(os.pipe2(os.O_CLOEXEC))
        except OSError:
            for fd in ends:
                os.close(fd)
            raise
        read_out, write_out, read_err, write_err = ends
        for fd in (read_out, read_err):
            with contextlib.suppress(OSError):  # over the per-user pipe budget: keep 64 KiB
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            os.set_blocking(fd, False)  # so Capture.stop can drain without blocking
        run = _Run()
        try:
            self._capture.register(
                [_Pipe(read_out, self, "stdout", run), _Pipe(read_err, self, "stderr", run)]
            )
        except RuntimeError:
            os.close(write_out)
            os.close(write_err)
            raise
        self._run = run
        return write_out, write_err

    async def drained(self, timeout: float) -> bool:
        """True once the current run's pipes reached EOF and all their bytes were handled."""
        run = self._run
        return True if run is None else await run.wait(timeout)

    # ---- capture thread -------------------------------------------------------------------

    def consume(self, pipe: _Pipe, data: bytes, now: float) -> None:
        """Write a chunk to its file, then feed the sampled lines to the tail."""
        newlines = data.count(b"\n")
        with self._lock:
            if self.closed:
                self.dropped_bytes += len(data)
            else:
                self._write(pipe.stream, self.file(pipe.stream), data, newlines)
        lines, skipped = pipe.sampler.feed(data, newlines)
        if skipped:
            self.tail.skipped += skipped
        self.tail.extend(pipe.stream, lines, now)

    def _write(self, stream: str, file: RotatingFile, data: bytes, newlines: int) -> None:
        """Append a chunk. After a failure the stream resumes on a line boundary (see _Cut); every
        byte dropped is counted, and the problem reported until the stream is whole again."""
        cut = self._cuts.pop(stream, None)
        if cut is not None:
            data, dropped = cut.take(data)
            self.dropped_bytes += dropped
            newlines = data.count(b"\n")
            if not data:  # all of it inside a dropped line
                if cut.pending:
                    self._cuts[stream] = cut
                return
        before = file.written
        try:
            file.write(data)
        except OSError as exc:
            written = file.written - before
            self.bytes_written += written
            self.lines_seen += data.count(b"\n", 0, written)
            skipping = cut is not None and cut.skipping
            cut, dropped = _Cut.after_failure(data[written:], file.mid_line, skipping)
            self.dropped_bytes += dropped
            if cut.pending:
                self._cuts[stream] = cut
            self.set_stream_error(stream, f"cannot write {file.path.name}: {_describe(exc)}")
        else:
            self.bytes_written += len(data)
            self.lines_seen += newlines
            if cut is not None and cut.pending:
                self._cuts[stream] = cut  # still inside a dropped line: not whole again yet
            elif self._errors:
                self.set_stream_error(stream, None)

    def _write_carry(self, stream: str) -> None:
        """At the end of a stream, what a failed write left of it is written (if writing works
        again by then); a dropped line ended with the stream."""
        cut = self._cuts.get(stream)
        if cut is not None and not self.closed:
            cut.skipping = False
            self._write(stream, self.file(stream), b"", 0)

    def set_stream_error(self, stream: str, message: str | None) -> None:
        """Record one stream's write state; the owner hears about changes only, never per chunk."""
        if message is None:
            self._errors.pop(stream, None)
        else:
            self._errors[stream] = message
        current = next(iter(self._errors.values()), None)
        if current == self.write_error:
            return
        self.write_error = current
        if current is None:
            current = f"log writing works again ({self.dropped_bytes} bytes of output lost)"
        if self._capture is not None:
            self._capture.report(self.name, current)

    def end_of_stream(self, pipe: _Pipe, now: float) -> None:
        with self._lock:
            self._write_carry(pipe.stream)
        self.tail.extend(pipe.stream, pipe.sampler.flush(), now)

    def close(self) -> None:
        """Close the files; output still arriving from a leftover process is dropped and counted."""
        with self._lock:
            if not self.closed:
                for stream in STREAMS:
                    self._write_carry(stream)
                self.dropped_bytes += sum(len(cut.carry) for cut in self._cuts.values())
                self._cuts.clear()
            self.closed = True
            self.stdout_file.close()
            self.stderr_file.close()


class Capture:
    """ONE background thread for all strategies: epoll over every pipe plus a wake-up pipe.

    A new run's pipes are added to the epoll set by the registering thread itself (epoll_ctl is
    thread-safe), without waking the capture thread: a wake-up made it take the GIL just as the
    event loop was about to start the replacement of a crashed strategy. The wake-up pipe is
    only for stopping. Exceptions are caught per pipe and recorded in that strategy's
    `write_error`: the thread must outlive any one strategy's trouble.
    """

    def __init__(self, on_problem: ProblemHook | None = None) -> None:
        self.on_problem = on_problem
        self._outputs: dict[str, StrategyOutput] = {}
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._epoll.register(self._wake_r, select.EPOLLIN)
        self._lock = threading.Lock()
        self._pipes: dict[int, _Pipe] = {}  # by descriptor; changed under _lock
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.last_error: str | None = None  # an unexpected error outside any one pipe

    def start(self) -> None:
        if self._thread is not None or self._stopped:
            raise RuntimeError("capture already started or stopped")
        self._thread = threading.Thread(target=self._main, name="tui-monitor-capture", daemon=True)
        self._thread.start()

    def output(
        self, name: str, log_dir: Path, max_bytes: int, backups: int, tail_lines: int = 2000
    ) -> StrategyOutput:
        """The strategy's output, created on first use; later calls update its rotation limits."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("capture is stopped")
            current = self._outputs.get(name)
            if current is not None and not current.closed:
                current.set_limits(max_bytes, backups)
                return current
            created = StrategyOutput(name, log_dir, max_bytes, backups, tail_lines, capture=self)
            self._outputs[name] = created
            return created

    @property
    def outputs(self) -> dict[str, StrategyOutput]:
        with self._lock:
            return dict(self._outputs)

    def register(self, pipes: list[_Pipe]) -> None:
        failed: list[tuple[_Pipe, OSError]] = []
        with self._lock:
            if self._stopped:
                for pipe in pipes:
                    os.close(pipe.fd)
                raise RuntimeError("capture is stopped")
            for pipe in pipes:
                self._pipes[pipe.fd] = pipe
                try:
                    self._epoll.register(pipe.fd, select.EPOLLIN)
                except OSError as exc:  # a descriptor closed behind our back
                    failed.append((pipe, exc))
        for pipe, exc in failed:
            pipe.output.set_stream_error(pipe.stream, f"cannot watch {pipe.stream}: {exc!r}")
            self._finish(pipe)

    def report(self, strategy: str, message: str) -> None:
        if self.on_problem is None:
            return
        try:
            self.on_problem(strategy, message)
        except Exception as exc:
            self.last_error = f"on_problem failed: {exc!r}"

    def stop(self) -> None:
        """Drain what is readable, close every pipe and file, and join the thread."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._thread is None:
            self._shutdown()
        else:
            self._wake()
            self._thread.join()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"\0")

    # ---- capture thread -------------------------------------------------------------------

    def _main(self) -> None:
        try:
            while not self._stopped:
                try:
                    self._step()
                except Exception as exc:  # a bug must not end capture for everyone
                    self.last_error = f"capture loop: {exc!r}"
                    time.sleep(0.01)
        finally:
            self._shutdown()

    def _step(self) -> None:
        for fd, _ in self._epoll.poll():
            if fd == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass
                continue
            pipe = self._pipes.get(fd)
            if pipe is not None:
                self._service(pipe)

    def _service(self, pipe: _Pipe) -> bool:
        """Handle one read; False once the pipe is finished (or has nothing right now)."""
        try:
            # Into a reused buffer: a fresh 1 MiB per read, shrunk afterwards, cost 3x the copy.
            size = os.readv(pipe.fd, [self._buffer])
            data = bytes(self._view[:size])
        except BlockingIOError:
            return False
        except OSError as exc:
            pipe.output.set_stream_error(
                pipe.stream, f"cannot read {pipe.stream}: {_describe(exc)}"
            )
            data = b""
        if not data:
            self._finish(pipe)
            return False
        try:
            pipe.output.consume(pipe, data, time.time())
        except Exception as exc:
            pipe.output.set_stream_error(pipe.stream, f"capture error: {exc!r}")
        return len(data) == READ_SIZE

    def _finish(self, pipe: _Pipe) -> None:
        # Out of the map and the epoll set before the close: only then can a new pipe get the
        # same descriptor number.
        with self._lock:
            self._pipes.pop(pipe.fd, None)
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(pipe.fd)
        with contextlib.suppress(OSError):
            os.close(pipe.fd)
        try:
            pipe.output.end_of_stream(pipe, time.time())
        except Exception as exc:
            pipe.output.set_stream_error(pipe.stream, f"capture error: {exc!r}")
        pipe.run.stream_closed()

    def _shutdown(self) -> None:
        with self._lock:
            outputs = list(self._outputs.values())
            pipes = list(self._pipes.values())  # no more can come: _stopped is set
        for pipe in pipes:
            for _ in range(STOP_DRAIN_READS):
                if not self._service(pipe):
                    break
            if pipe.fd in self._pipes:
                self._finish(pipe)
        for output in outputs:
            output.close()
        self._epoll.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
