"""Following every strategy's log at once: `Engine.log_lines(None, ...)` with its capture cursor.

Real strategies print numbered lines; the merged query must hand each line out once, in capture
(time) order, the newest `limit` when it cannot give them all, and cost what is new rather than
what the tails hold: a poll with nothing new touches no line (counted, not timed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import running, script, wait_for
from tests.test_control import serving
from tui_monitor import capture
from tui_monitor.capture import LineClock, Tail, merged_lines
from tui_monitor.tui.feed import Feed, FeedSettings
from tui_monitor.tui.messages import LogLinesArrived
from tui_monitor.view import LocalView, SocketView, SupervisorView

#: Prints `count` lines "NAME i" in flushed bursts, then idles.
PRINTER = """
import sys, time
name, count, burst = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(count):
    sys.stdout.write(f"{name} {i}\\n")
    if i % burst == burst - 1:
        sys.stdout.flush()
        time.sleep(0.005)
sys.stdout.flush()
time.sleep(600)
"""
NAMES = ["alpha", "beta", "gamma", "delta"]
COUNT = 250


def printers(tmp_path: Path, names: list[str], count: int, burst: int = 10) -> dict[str, Any]:
    cmd = script(tmp_path, "printer", PRINTER)
    return {name: {"command": [*cmd, name, str(count), str(burst)]} for name in names}


def everything_held(engine: Any, names: list[str], count: int) -> bool:
    return all(len(engine.runners[n].output.tail) >= count for n in names) and all(
        engine.log_lines(n, after=count - 1, limit=1)[0].text == f"{n} {count - 1}" for n in names
    )


def key(line: Any) -> tuple[int, str, str]:
    return (line.seq, line.strategy, line.text)


async def test_each_line_once_in_time_order_across_successive_polls(
    tmp_path: Path, make_config: Callable[..., Any]
) -> None:
    limit = len(NAMES) * COUNT  # within the bound: no poll can be cut
    async with running(make_config(printers(tmp_path, NAMES, COUNT))) as (engine, _):
        got: list[Any] = []
        cursor = polls = 0
        while True:
            done = everything_held(engine, NAMES, COUNT)  # before the poll: it sees all of it
            lines = engine.log_lines(None, after=cursor, limit=limit)
            polls += 1
            assert len(lines) <= limit
            if lines:
                if cursor:  # no gap: the next line after the cursor, whichever strategy printed it
                    assert lines[0].seq == cursor + 1
                cursor = lines[-1].seq
                got.extend(lines)
            if done:
                break
            await asyncio.sleep(0.003)
        assert engine.log_lines(None, after=cursor, limit=limit) == []

        # Every line exactly once, each strategy's in its own order, all of them in time order.
        texts = [(line.strategy, line.text) for line in got]
        assert sorted(texts) == sorted((n, f"{n} {i}") for n in NAMES for i in range(COUNT))
        for name in NAMES:
            mine = [line.text for line in got if line.strategy == name]
            assert mine == [f"{name} {i}" for i in range(COUNT)]
        seqs = [line.seq for line in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(got)))  # one more per line
        assert seqs[0] > 1_000_000_000_000  # above the start time in microseconds
        times = [line.time for line in got]
        assert times == sorted(times)
        assert polls > 1

        # The limit keeps the newest lines; the gap to the cursor counts the ones left out.
        assert list(map(key, engine.log_lines(None, after=0, limit=10))) == list(
            map(key, got[-10:])
        )
        behind = got[99].seq
        newest = engine.log_lines(None, after=behind, limit=50)
        assert list(map(key, newest)) == list(map(key, got[-50:]))
        assert newest[0].seq - behind - 1 == len(got) - 100 - 50
        assert list(map(key, engine.log_lines(None, after=got[-4].seq, limit=50))) == list(
            map(key, got[-3:])
        )

        # A cursor from an earlier supervisor (beyond the newest line) counts as 0.
        stale = engine.log_lines(None, after=cursor + 10**9, limit=5)
        assert list(map(key, stale)) == list(map(key, got[-5:]))
        alpha = engine.runners["alpha"].output.tail
        assert [line.seq for line in engine.log_lines("alpha", alpha.last_seq + 99, 3)] == [
            1,
            2,
            3,
        ]


class Counting:
    """Counts the lines classified (every line read from a tail is) and the tail reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.classified = 0
        self.reads: list[str] = []
        classify = capture.classify

        def counted_classify(*args: Any) -> Any:
            self.classified += 1
            return classify(*args)

        monkeypatch.setattr(capture, "classify", counted_classify)
        for method in ("lines_after", "_marked"):
            original = getattr(Tail, method, None)
            if original is not None:
                monkeypatch.setattr(Tail, method, self._wrap(original))

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def read(tail: Tail, *args: Any) -> Any:
            self.reads.append(tail.strategy)
            return original(tail, *args)

        return read

    @contextlib.contextmanager
    def fresh(self) -> Iterator[Counting]:
        self.classified, self.reads = 0, []
        yield self


FILLER = """
import sys, time
name = sys.argv[1]
for chunk in range(26):  # 2,600 lines in small bursts: the tail keeps them all, the ring fills
    sys.stdout.write("".join(f"{name} {chunk * 100 + i}\\n" for i in range(100)))
    sys.stdout.flush()
    time.sleep(0.01)
time.sleep(600)
"""


async def test_a_poll_costs_what_is_new_not_what_is_held(
    tmp_path: Path, make_config: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"s{i:02d}" for i in range(20)]
    fill = script(tmp_path, "filler", FILLER)
    strategies: dict[str, Any] = {name: {"command": [*fill, name]} for name in names}
    strategies |= printers(tmp_path, ["late"], 5, burst=5)
    strategies["late"]["autostart"] = False
    async with running(make_config(strategies)) as (engine, _):
        tails = [engine.runners[name].output.tail for name in names]
        await wait_for(
            lambda: all(len(t) == t.maxlen and t.last_seq == 2600 for t in tails), timeout=60
        )
        count = Counting(monkeypatch)
        with count.fresh():
            backfill = engine.log_lines(None, after=0, limit=600)
        assert len(backfill) == 600 and count.classified == 600  # not 600 of each strategy
        cursor = backfill[-1].seq

        with count.fresh():
            assert engine.log_lines(None, after=cursor, limit=600) == []
            assert engine.log_lines(None, after=cursor, limit=100_000) == []
        # 20 full tails, 40,000 lines held: not one was read.
        assert count.classified == 0 and count.reads == []

        await engine.start_strategy("late")
        await wait_for(lambda: engine.runners["late"].output.tail.last_seq == 5)
        with count.fresh():
            lines = engine.log_lines(None, after=cursor, limit=600)
        assert [line.text for line in lines] == [f"late {i}" for i in range(5)]
        assert lines[0].seq == cursor + 1
        assert count.classified == 5 and count.reads == ["late"]  # the one tail with news


def test_the_newest_lines_win_when_some_fell_off_a_tail() -> None:
    """Marks of lines that fell off (or of another engine's tails) leave holes: the newest
    `limit` lines held are still found, across tails, oldest first."""
    clock = LineClock(start=1000)
    busy, quiet = Tail("busy", maxlen=3, clock=clock), Tail("quiet", maxlen=10, clock=clock)
    quiet.extend("stdout", [b"q0", b"q1"], 1.0)
    busy.extend("stdout", [b"b0", b"b1", b"b2", b"b3", b"b4"], 2.0)  # b0, b1 fall off
    quiet.extend("stdout", [b"q2"], 3.0)
    stray = Tail("elsewhere", clock=clock)  # not asked about: its mark is a hole too
    stray.extend("stdout", [b"x"], 4.0)
    busy.extend("stdout", [b"b5"], 5.0)  # b2 falls off
    lines = merged_lines([busy, quiet], after=0, limit=5)
    assert [line.text for line in lines] == ["q1", "b3", "b4", "q2", "b5"]
    assert [line.seq for line in lines] == [1002, 1006, 1007, 1008, 1010]
    assert [line.text for line in merged_lines([busy, quiet], after=1007, limit=5)] == [
        "q2",
        "b5",
    ]
    assert merged_lines([busy, quiet], after=1010, limit=5) == []


class Collector:
    """Stands in for the app: keeps what the feed posts."""

    def __init__(self) -> None:
        self.batches: list[LogLinesArrived] = []

    def post_message(self, message: Any) -> bool:
        if isinstance(message, LogLinesArrived):
            self.batches.append(message)
        return True


class Recording:
    """A view that records the limits the feed asks with."""

    def __init__(self, view: SupervisorView) -> None:
        self.view = view
        self.limits: list[tuple[str | None, int]] = []

    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> Any:
        self.limits.append((name, limit))
        return await self.view.log_lines(name, after, limit)


@pytest.mark.parametrize("where", ["local", "socket"])
async def test_the_feed_follows_all_in_batches(
    tmp_path: Path, make_config: Callable[..., Any], where: str
) -> None:
    """The dashboard's feed, in the supervisor's process and through the control socket (attach):
    it asks for one batch per tick, and every line after the first shown is either shown once
    or counted as skipped."""
    strategies = printers(tmp_path, NAMES, COUNT)
    for keys in strategies.values():
        keys["autostart"] = False
    async with serving(make_config(strategies)) as (engine, server):
        base: SupervisorView = LocalView(engine) if where == "local" else SocketView(server.path)
        view = Recording(base)
        app = Collector()
        settings = FeedSettings(logs_every=0.01, log_batch=100)
        feed = Feed(app, view, settings)  # type: ignore[arg-type]
        task = asyncio.create_task(feed.logs())
        try:
            await wait_for(lambda: view.limits)
            for name in NAMES:
                await engine.start_strategy(name)
            await wait_for(lambda: everything_held(engine, NAMES, COUNT), timeout=20)
            last = engine.log_lines(None, after=0, limit=1)[0].seq
            await wait_for(lambda: app.batches and app.batches[-1].lines[-1]["seq"] == last)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await base.close()
    assert all(limit == settings.log_batch for name, limit in view.limits)
    shown = [line for batch in app.batches for line in batch.lines]
    seqs = [line["seq"] for line in shown]
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
    assert all(len(batch.lines) <= settings.log_batch for batch in app.batches)
    skipped = sum(batch.skipped for batch in app.batches)
    assert len(shown) + skipped == seqs[-1] - seqs[0] + 1
    shown_texts = {line["text"] for line in shown}
    assert {f"{name} {COUNT - 1}" for name in NAMES} <= shown_texts  # the newest always shows
