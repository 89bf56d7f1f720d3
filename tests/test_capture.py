"""Strategy output capture: real pipes, real child processes, real files.

The promise under test: every byte a strategy writes reaches its files (across rotations, at full
speed, right up to a crash), hostile text is kept byte-exact on disk and bounded in memory, and a
failing disk never blocks the strategy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui_monitor.capture import (
    PARTIAL_CAP,
    Capture,
    LineSampler,
    StrategyOutput,
    Tail,
    _Pipe,
    _Run,
)
from tui_monitor.logline import MAX_LINE_CHARS, LogLine, classify
from tui_monitor.rotating import RotatingFile

pytestmark = pytest.mark.timeout(30)

MB = 1_000_000


# ---- helpers ---------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """Children buffer their output as usual, so chunks end mid-line like in production."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def spawn(output: StrategyOutput, code: str) -> subprocess.Popen[bytes]:
    out_w, err_w = output.open_pipes()
    try:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            env=child_env(),
        )
    finally:
        os.close(out_w)
        os.close(err_w)


async def finish(proc: subprocess.Popen[bytes], output: StrategyOutput, timeout: float = 15) -> int:
    """Wait for the child (not blocked by capture), then for its output to be on disk."""
    code = await asyncio.to_thread(proc.wait, timeout)
    assert await output.drained(timeout)
    return code


def rotated(path: Path) -> list[Path]:
    """The files of one stream, oldest first: path.N … path.1, path."""
    backups = sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
        reverse=True,
    )
    return [*backups, path] if path.exists() else backups


def read_all(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in rotated(path))


def newest(tail: Tail, count: int) -> list[LogLine]:
    return tail.lines_after(tail.last_seq - count)


def numbered_lines(count: int, tag: str = "line") -> str:
    return "".join(f"{tag} {i:07d} {'x' * (i % 150)}\n" for i in range(count))


GEN_LINES = """
import sys
w = sys.stdout.write
for i in range({count}):
    w(f"{tag} {{i:07d}} {{'x' * (i % 150)}}\\n")
"""


PAD = "p" * 85
GEN_FIXED = """
import sys
w = sys.stdout.write
for start in range(0, {count}, 1000):
    w("".join([f"{tag} {{i:07d}} {pad}\\n" for i in range(start, start + 1000)]))
"""


def fixed_lines(count: int, tag: str) -> bytes:
    return "".join([f"{tag} {i:07d} {PAD}\n" for i in range(count)]).encode()


@pytest.fixture
def problems() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def capture(problems: list[tuple[str, str]]) -> Iterator[Capture]:
    """A running capture thread; the test fails if that thread ever raised."""
    raised: list[threading.ExceptHookArgs] = []
    previous = threading.excepthook
    threading.excepthook = raised.append
    cap = Capture(on_problem=lambda name, message: problems.append((name, message)))
    cap.start()
    try:
        yield cap
    finally:
        cap.stop()
        threading.excepthook = previous
    assert not raised, raised


# ---- no lost lines ---------------------------------------------------------------------------


async def test_rotation_keeps_every_line_once_in_order(capture: Capture, tmp_path: Path) -> None:
    out = capture.output("rot", tmp_path, max_bytes=MB, backups=50)
    proc = spawn(out, GEN_LINES.format(count=200_000, tag="line"))
    assert await finish(proc, out) == 0

    log = tmp_path / "strategies" / "rot.log"
    files = rotated(log)
    expected = numbered_lines(200_000).encode()
    assert read_all(log) == expected
    assert len(files) > 10  # it did rotate, many times
    for old in files[:-1]:
        data = old.read_bytes()
        assert data.endswith(b"\n"), f"{old.name} was rotated mid-line"
        assert len(data) <= MB + 200
    assert out.bytes_written == len(expected)
    assert out.lines_seen == 200_000
    assert out.write_error is None
    assert (tmp_path / "strategies" / "rot.err.log").read_bytes() == b""


async def test_four_children_at_once_all_complete(capture: Capture, tmp_path: Path) -> None:
    outputs = [capture.output(f"s{i}", tmp_path, max_bytes=4 * MB, backups=20) for i in range(4)]
    procs = [spawn(o, GEN_FIXED.format(count=100_000, tag=o.name, pad=PAD)) for o in outputs]
    codes = await asyncio.gather(*(finish(p, o) for p, o in zip(procs, outputs, strict=True)))
    assert codes == [0, 0, 0, 0]
    for o in outputs:
        log = tmp_path / "strategies" / f"{o.name}.log"
        assert read_all(log) == fixed_lines(100_000, o.name)
        assert o.lines_seen == 100_000


async def test_last_lines_before_a_crash_are_on_disk_once_drained(
    capture: Capture, tmp_path: Path
) -> None:
    out = capture.output("crash", tmp_path, max_bytes=MB, backups=3)
    proc = spawn(
        out,
        """
        import os, sys
        sys.stdout.write("working\\n" * 5000 + "last words before the crash\\n")
        sys.stdout.flush()
        sys.stderr.write("fatal: boom\\n")
        sys.stderr.flush()
        os._exit(1)
        """,
    )
    assert await finish(proc, out) == 1
    folder = tmp_path / "strategies"
    assert (folder / "crash.log").read_bytes().endswith(b"working\nlast words before the crash\n")
    assert (folder / "crash.err.log").read_bytes() == b"fatal: boom\n"
    texts = [line.text for line in newest(out.tail, 10)]
    assert "last words before the crash" in texts
    assert "fatal: boom" in texts

    # A restart appends to the same files and has its own drain.
    proc = spawn(out, "print('second run')")
    assert await finish(proc, out) == 0
    assert (folder / "crash.log").read_bytes().endswith(b"the crash\nsecond run\n")


async def test_drained_waits_for_every_copy_of_the_write_ends(
    capture: Capture, tmp_path: Path
) -> None:
    out = capture.output("held", tmp_path, max_bytes=MB, backups=1)
    assert await out.drained(0.01)  # no run yet: nothing to wait for
    out_w, err_w = out.open_pipes()
    os.write(out_w, b"partial line without newline")
    assert not await out.drained(0.1)  # a write end is still open (think: a grandchild)
    os.close(out_w)
    os.close(err_w)
    assert await out.drained(5)
    assert (tmp_path / "strategies" / "held.log").read_bytes() == b"partial line without newline"
    assert out.tail.lines_after(0)[-1].text == "partial line without newline"


# ---- untrusted text is text ------------------------------------------------------------------


HOSTILE = [
    b"bad \xff\xfe utf8",
    b"nul\x00byte",
    b"\x1b[31mred\x1b[0m",
    b"[bold]markup[/] [@click=app.quit]quit[/]",
    b"crlf\r",
]


async def test_hostile_output_is_byte_exact_on_disk_and_bounded_in_memory(
    capture: Capture, tmp_path: Path
) -> None:
    out = capture.output("hostile", tmp_path, max_bytes=4 * MB, backups=20, tail_lines=50)
    short = b"".join(line + b"\n" for line in HOSTILE)
    first = spawn(out, f"import sys; sys.stdout.buffer.write({short!r})")
    assert await finish(first, out) == 0
    tail = out.tail.lines_after(0)
    assert [line.text for line in tail] == [
        "bad \ufffd\ufffd utf8",
        "nul\x00byte",
        "\x1b[31mred\x1b[0m",
        "[bold]markup[/] [@click=app.quit]quit[/]",
        "crlf",
    ]

    big = """
    import sys
    out = sys.stdout.buffer
    out.write(b"z" * 10_000_000 + b"\\n")
    out.write(b"after the long line\\n" * 3000)
    out.write(b"y" * 10_000_000)
    """
    second = spawn(out, big)
    assert await finish(second, out) == 0

    expected = (
        short + b"z" * 10_000_000 + b"\n" + b"after the long line\n" * 3000 + b"y" * 10_000_000
    )
    assert read_all(tmp_path / "strategies" / "hostile.log") == expected
    assert out.bytes_written == len(expected)

    lines = out.tail.lines_after(0)
    assert len(out.tail) <= 50 and len(lines) <= 50
    assert all(len(line.text) <= MAX_LINE_CHARS + 1 for line in lines)
    assert lines[-1].text == "y" * MAX_LINE_CHARS + "…"  # the unfinished line, flushed at EOF


# ---- classification --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stream", "expected"),
    [
        (
            b'{"type": "order", "level": "INFO", "msg": "BUY 10 005930 @ 71,200"}',
            "stdout",
            ("INFO", "order", "BUY 10 005930 @ 71,200", True),
        ),
        (b'{"level": "warn", "msg": "slow"}', "stdout", ("WARNING", "strategy", "slow", True)),
        (b'{"level": "FATAL", "msg": "x"}', "stdout", ("CRITICAL", "strategy", "x", True)),
        (b'{"level": "chatty", "msg": "x"}', "stderr", ("INFO", "strategy", "x", True)),
        (b'{"type": "system", "msg": 42}', "stdout", ("INFO", "system", "42", True)),
        (
            b'{"type": "alien", "level": "ERROR", "msg": "x"}\r',
            "stdout",
            ("ERROR", "strategy", "x", True),
        ),
        (
            b'{"msg": "no level or type"}',
            "stdout",
            ("INFO", "strategy", '{"msg": "no level or type"}', False),
        ),
        (b'{"level": "ERROR"}', "stdout", ("ERROR", "strategy", '{"level": "ERROR"}', False)),
        (b"{not json", "stderr", ("WARNING", "strategy", "{not json", False)),
        (
            b"2024-05-01 12:00:00 ERROR order rejected",
            "stdout",
            ("ERROR", "strategy", "2024-05-01 12:00:00 ERROR order rejected", False),
        ),
        (b"[WARN] latency high", "stdout", ("WARNING", "strategy", "[WARN] latency high", False)),
        (b"FATAL: gone", "stdout", ("CRITICAL", "strategy", "FATAL: gone", False)),
        (b"DEBUG tick", "stderr", ("DEBUG", "strategy", "DEBUG tick", False)),
        (
            b"Traceback (most recent call last):",
            "stderr",
            ("ERROR", "strategy", "Traceback (most recent call last):", False),
        ),
        (
            b"INFORMATIONAL, not a level word",
            "stderr",
            ("WARNING", "strategy", "INFORMATIONAL, not a level word", False),
        ),
        (
            b"x" * 41 + b" ERROR too far in",
            "stdout",
            ("INFO", "strategy", "x" * 41 + " ERROR too far in", False),
        ),
        (b"plain text\r", "stdout", ("INFO", "strategy", "plain text", False)),
        (b"plain text", "stderr", ("WARNING", "strategy", "plain text", False)),
    ],
)
def test_classify(raw: bytes, stream: str, expected: tuple[str, str, str, bool]) -> None:
    assert classify(raw, stream) == expected


def test_classify_caps_and_refuses_costly_input() -> None:
    level, _, text, structured = classify(b"\xff" * 100_000, "stdout")
    assert (level, structured) == ("INFO", False)
    assert text == "\ufffd" * MAX_LINE_CHARS + "…"

    huge_json = json.dumps({"level": "ERROR", "msg": "m" * 70_000}).encode()
    level, _, text, structured = classify(huge_json, "stdout")  # too long to parse: plain text
    assert not structured and len(text) == MAX_LINE_CHARS + 1

    long_msg = json.dumps({"level": "ERROR", "msg": "m" * 5000}).encode()
    assert classify(long_msg, "stdout") == ("ERROR", "strategy", "m" * MAX_LINE_CHARS + "…", True)

    deep = b'{"msg": ' + b"[" * 30_000 + b"]" * 30_000 + b', "level": "INFO"}'
    level, _, text, _ = classify(deep, "stdout")  # no RecursionError escapes
    assert level == "INFO" and len(text) == MAX_LINE_CHARS + 1


async def test_json_lines_from_a_real_child(capture: Capture, tmp_path: Path) -> None:
    out = capture.output("json", tmp_path, max_bytes=MB, backups=1)
    proc = spawn(
        out,
        """
        import json, sys
        print(json.dumps({"type": "order", "level": "INFO", "msg": "BUY 10 005930 @ 71,200"}))
        print("ERROR: plain but loud")
        print("just chatter")
        sys.stdout.flush()
        print(json.dumps({"level": "warn", "msg": "from stderr"}), file=sys.stderr)
        print("unlabelled complaint", file=sys.stderr)
        """,
    )
    assert await finish(proc, out) == 0
    got = {
        line.text: (line.stream, line.level, line.type, line.structured)
        for line in out.tail.lines_after(0)
    }
    assert got == {
        "BUY 10 005930 @ 71,200": ("stdout", "INFO", "order", True),
        "ERROR: plain but loud": ("stdout", "ERROR", "strategy", False),
        "just chatter": ("stdout", "INFO", "strategy", False),
        "from stderr": ("stderr", "WARNING", "strategy", True),
        "unlabelled complaint": ("stderr", "WARNING", "strategy", False),
    }
    assert all(line.strategy == "json" for line in out.tail.lines_after(0))


# ---- the tail ------------------------------------------------------------------------------


def test_tail_incremental_reads_and_bounds() -> None:
    tail = Tail("t", maxlen=5)
    assert tail.lines_after(0) == [] and tail.last_seq == 0
    tail.extend("stdout", [b"a", b"b", b"c"], now=1.0)
    first = tail.lines_after(0)
    assert [(line.seq, line.text) for line in first] == [(1, "a"), (2, "b"), (3, "c")]
    assert tail.lines_after(3) == []
    tail.extend("stderr", [b"d", b"e", b"f", b"g"], now=2.0)
    assert tail.last_seq == 7 and len(tail) == 5
    assert [line.text for line in tail.lines_after(3)] == ["d", "e", "f", "g"]
    assert [line.seq for line in tail.lines_after(0)] == [3, 4, 5, 6, 7]  # 1, 2 fell off
    assert [line.seq for line in tail.lines_after(3, limit=2)] == [4, 5]
    assert tail.lines_after(99) == []
    d = tail.lines_after(3, limit=1)[0]
    assert (d.stream, d.level, d.time, d.strategy) == ("stderr", "WARNING", 2.0, "t")

    long_line = b'{"level": "ERROR", "msg": "' + b"q" * 20_000 + b'"}'
    tail.extend("stdout", [long_line])  # classified on arrival, not kept raw
    last = tail.lines_after(7)[0]
    assert last.structured and last.level == "ERROR" and len(last.text) == MAX_LINE_CHARS + 1


def test_sampler_joins_partial_lines_and_samples_bursts() -> None:
    sampler = LineSampler(keep=1000)
    assert sampler.feed(b"hel") == ([], 0)
    assert sampler.feed(b"lo\nwor") == ([b"hello"], 0)
    assert sampler.feed(b"ld\n") == ([b"world"], 0)

    burst = b"".join(b"%09d\n" % i for i in range(100_000))  # 1 MB, 100,000 lines
    lines, skipped = sampler.feed(burst, burst.count(b"\n"))
    assert lines[-1] == b"000099999"
    assert len(lines) <= 1000
    assert skipped + len(lines) == 100_000
    assert lines == [b"%09d" % i for i in range(100_000 - len(lines), 100_000)]

    # A line without newline is held only up to the cap, emitted cut once, the rest ignored.
    assert sampler.feed(b"x" * (PARTIAL_CAP - 10)) == ([], 0)
    lines, _ = sampler.feed(b"x" * 1000)
    assert lines == [b"x" * PARTIAL_CAP]
    assert sampler.feed(b"x" * 5000) == ([], 0)
    assert sampler.feed(b"x\nnext\ntail") == ([b"next"], 0)
    assert sampler.flush() == [b"tail"] and sampler.flush() == []


async def test_tail_is_sampled_under_a_burst(capture: Capture, tmp_path: Path) -> None:
    out = capture.output("burst", tmp_path, max_bytes=50 * MB, backups=1, tail_lines=100)
    code = """
    import sys
    block = b"".join(b"%07d %s\\n" % (i, b"b" * 90) for i in range(10_000))
    for _ in range(20):
        sys.stdout.buffer.write(block)
    """
    assert await finish(spawn(out, code), out) == 0
    assert out.lines_seen == 200_000
    assert out.tail.skipped > 0
    assert out.tail.last_seq + out.tail.skipped == 200_000  # every line is accounted for
    lines = out.tail.lines_after(0)
    assert len(lines) <= 100
    assert lines[-1].text == "0009999 " + "b" * 90
    assert [line.seq for line in lines] == list(range(lines[0].seq, out.tail.last_seq + 1))


# ---- rotation details ------------------------------------------------------------------------


def test_rotating_file_rotates_at_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "r.log"
    f = RotatingFile(path, max_bytes=100, backups=3)
    data = b"".join(b"%02d %s\n" % (i, b"-" * (i % 30)) for i in range(60))
    for start in range(0, len(data), 37):  # chunks that end mid-line
        f.write(data[start : start + 37])
    f.close()
    files = rotated(path)
    assert [p.name for p in files] == ["r.log.3", "r.log.2", "r.log.1", "r.log"]
    for old in files[:-1]:  # over the limit by at most the rest of the line being written
        assert old.read_bytes().endswith(b"\n") and old.stat().st_size <= 100 + 35
    assert data.endswith(read_all(path))  # older files beyond 3 backups were dropped
    assert oct(path.stat().st_mode & 0o777) == oct(0o640 & ~_umask())


def test_rotating_file_long_lines_backups_zero_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    f = RotatingFile(path, max_bytes=100, backups=10)
    f.write(b"a" * 50 + b"\n")
    f.write(b"L" * 130)  # longer than the limit: kept whole in a fresh file
    f.write(b"L" * 20 + b"\nnext\n")
    f.write(b"H" * 450 + b"\n")  # longer than twice the limit: split rather than unbounded
    f.close()
    assert read_all(path) == b"a" * 50 + b"\n" + b"L" * 150 + b"\nnext\n" + b"H" * 450 + b"\n"
    assert (path.parent / "long.log.5").read_bytes() == b"a" * 50 + b"\n"
    assert max(p.stat().st_size for p in rotated(path)) <= 200

    again = RotatingFile(path, max_bytes=100, backups=10)  # a restart appends
    assert again.size == path.stat().st_size
    again.close()

    single = tmp_path / "single.log"
    f = RotatingFile(single, max_bytes=10, backups=0)
    f.write(b"12345678\n")
    f.write(b"abc\n")  # no backups: the file is reopened empty
    f.close()
    assert single.read_bytes() == b"abc\n"
    assert rotated(single) == [single]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---- failures --------------------------------------------------------------------------------


async def test_write_error_never_blocks_the_child_and_recovers(
    capture: Capture, tmp_path: Path, problems: list[tuple[str, str]]
) -> None:
    out = capture.output("full", tmp_path, max_bytes=50 * MB, backups=1)
    good_fd = out.stdout_file.fd
    broken_fd = os.open(tmp_path / "strategies" / "full.log", os.O_RDONLY)
    out.stdout_file.fd = broken_fd  # every write now fails (EBADF), like a full disk
    try:
        # 5 MB: far more than a pipe holds, so a capture that stopped reading would block it.
        proc = spawn(out, GEN_LINES.format(count=50_000, tag="lost"))
        assert await finish(proc, out) == 0
        assert out.write_error is not None and "full.log" in out.write_error
        assert out.dropped_bytes == len(numbered_lines(50_000, "lost"))
        assert out.bytes_written == 0
        assert problems == [("full", out.write_error)]  # once, not per chunk
    finally:
        out.stdout_file.fd = good_fd
        os.close(broken_fd)

    proc = spawn(out, "print('space is back')")
    assert await finish(proc, out) == 0
    assert out.write_error is None
    assert len(problems) == 2 and problems[1][0] == "full"
    assert "works again" in problems[1][1]
    assert (tmp_path / "strategies" / "full.log").read_bytes() == b"space is back\n"
    assert newest(out.tail, 1)[0].text == "space is back"


def _full_pipe_output(tmp_path: Path) -> tuple[StrategyOutput, _Pipe, int]:
    """An output whose stdout file is a FIFO nobody drains yet: writes fail part-way (EAGAIN)
    once its 64 KiB are full, like on a full disk, and work again once the test reads it."""
    (tmp_path / "strategies").mkdir()
    fifo = tmp_path / "strategies" / "cut.log"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    out = StrategyOutput("cut", tmp_path, max_bytes=100 * MB, backups=1)
    os.set_blocking(out.stdout_file.fd, False)
    return out, _Pipe(-1, out, "stdout", _Run()), reader


def _drain(fd: int) -> bytes:
    data = bytearray()
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 1 << 20):
            data += chunk
    return bytes(data)


def test_a_line_cut_by_a_failed_write_is_finished_first(tmp_path: Path) -> None:
    """After a write failed part-way, the next bytes written are the rest of the line it cut;
    lines dropped meanwhile are dropped whole (the tail of one whose head was lost too), and
    every byte is either in the file or counted as lost."""
    out, pipe, reader = _full_pipe_output(tmp_path)
    stream = b"".join(b"<%08d:%s>\n" % (i, b"y" * 50) for i in range(10_000))
    chunks = [stream[i : i + 10_000] for i in range(0, len(stream), 10_000)]  # cut mid-line
    got = bytearray()
    cuts = 0
    try:
        for index, chunk in enumerate(chunks):
            out.consume(pipe, chunk, 0.0)
            if out.write_error is not None and out.stdout_file.mid_line:
                cuts += 1
            if index % 9 == 8:  # room again, now and then
                got += _drain(reader)
        got += _drain(reader)
        out.end_of_stream(pipe, 0.0)  # writes what is left of a cut line
        got += _drain(reader)
    finally:
        out.close()
        os.close(reader)
    assert cuts >= 5 and out.dropped_bytes > 0  # else this test proves nothing
    assert out.write_error is None
    assert len(got) + out.dropped_bytes == len(stream) == out.bytes_written + out.dropped_bytes
    lines = bytes(got).split(b"\n")
    assert lines.pop() == b""
    numbers = [int(line[1:9]) for line in lines]
    assert lines == [b"<%08d:%s>" % (n, b"y" * 50) for n in numbers]  # whole, none glued
    assert numbers == sorted(set(numbers)) and len(numbers) < 10_000


def test_a_cut_line_still_unwritten_at_close_is_counted_as_lost(tmp_path: Path) -> None:
    out, pipe, reader = _full_pipe_output(tmp_path)
    try:
        out.consume(pipe, b"x" * 70_000 + b"\nnext line\n", 0.0)  # cut: 64 KiB fit
        assert out.stdout_file.mid_line and out.write_error is not None
        out.close()  # the pipe is still full: the rest of the cut line is lost, and counted
        got = _drain(reader)
    finally:
        os.close(reader)
    assert len(got) + out.dropped_bytes == 70_000 + len(b"\nnext line\n")


def test_problems_are_reported_on_change_only(tmp_path: Path) -> None:
    """One failing file must not flap the state while the other stream keeps working."""
    calls: list[tuple[str, str]] = []
    cap = Capture(on_problem=lambda name, message: calls.append((name, message)))
    out = cap.output("p", tmp_path, max_bytes=MB, backups=1)
    out.set_stream_error("stdout", "cannot write p.log: disk full")
    out.set_stream_error("stderr", None)  # stderr works: stdout is still failing
    out.set_stream_error("stdout", "cannot write p.log: disk full")
    out.set_stream_error("stderr", "cannot write p.err.log: disk full")
    assert calls == [("p", "cannot write p.log: disk full")]
    out.set_stream_error("stdout", None)
    assert out.write_error == "cannot write p.err.log: disk full"
    out.set_stream_error("stderr", None)
    assert out.write_error is None
    assert [message for _, message in calls][1:] == [
        "cannot write p.err.log: disk full",
        "log writing works again (0 bytes of output lost)",
    ]
    cap.stop()  # never started: closes everything from this thread
    assert out.closed


async def test_stop_drains_and_closes(tmp_path: Path) -> None:
    cap = Capture()
    cap.start()
    out = cap.output("s", tmp_path, max_bytes=MB, backups=1)
    proc = spawn(out, "print('before stop')")
    await asyncio.to_thread(proc.wait, 10)
    cap.stop()
    cap.stop()  # idempotent
    assert (tmp_path / "strategies" / "s.log").read_bytes() == b"before stop\n"
    assert out.closed
    with pytest.raises(RuntimeError):
        out.open_pipes()
    with pytest.raises(RuntimeError):
        cap.output("t", tmp_path, max_bytes=MB, backups=1)


def test_output_is_remembered_and_limits_update(capture: Capture, tmp_path: Path) -> None:
    first = capture.output("same", tmp_path, max_bytes=MB, backups=1)
    again = capture.output("same", tmp_path, max_bytes=2 * MB, backups=4)
    assert again is first
    assert (first.stdout_file.max_bytes, first.stderr_file.backups) == (2 * MB, 4)
    assert capture.outputs == {"same": first}
    assert first.stdout_file.path == tmp_path / "strategies" / "same.log"
    assert first.stderr_file.path == tmp_path / "strategies" / "same.err.log"
