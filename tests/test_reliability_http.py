"""The HTTP endpoint under attack while a strategy is supervised: random bytes, truncated, huge,
slow and never-read requests, more idle connections than the cap. The endpoint answers what it can
in its one error shape, drops what it must, leaks no connection, and the supervisor keeps
supervising: the heartbeating strategy is never missed, never restarted. (The control socket has
its own fuzz test in test_control.py.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
from pathlib import Path

import pytest

from tests.conftest import running, script, wait_for
from tui_monitor import httpapi
from tui_monitor.events import HeartbeatMissed
from tui_monitor.httpapi import HttpApi

BEATER = """
    import time
    from tui_monitor import client
    i = 0
    while True:
        i += 1
        client.heartbeat(f"beat {i}")
        time.sleep(0.1)
"""

STATUSES = {200, 400, 404, 405, 408, 431, 503}
PATHS = ["/health", "/health/detailed", "/metrics", "/api/v1/monitoring/jobs", "/nope", "/"]


def random_request(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if kind == 1:
        valid = f"GET {rng.choice(PATHS)} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        return valid[: rng.randrange(1, len(valid))]  # truncated, then closed
    if kind == 2:
        method = rng.choice(["GET", "HEAD", "POST", "DELETE", "get", "", "G\x00T", "BREW"])
        target = rng.choice([*PATHS, "*", "http://127.0.0.1/health", "/health?x=1#y", "/%00"])
        version = rng.choice(["HTTP/1.1", "HTTP/1.0", "HTTP/9", "", "XTTP/1.1"])
        return f"{method} {target} {version}\r\n\r\n".encode("utf-8", "surrogateescape")
    if kind == 3:
        return b"GET /health HTTP/1.1\r\n" + b"X-Junk: " + b"\xff\xfe" * 2000 + b"\r\n\r\n"
    if kind == 4:
        return b"GET /health HTTP/1.1\n\n"  # bare newlines: never a complete head
    if kind == 5:
        return b"\r\n\r\n"
    if kind == 6:
        path = "/" + "/".join(
            rng.choice(["..", ".", "%2e%2e", "health", "\u202e"]) for _ in range(50)
        )
        return f"GET {path} HTTP/1.1\r\n\r\n".encode()
    if kind == 7:
        return b"GET /metrics HTTP/1.1\r\n\r\n" * rng.randrange(1, 20)  # pipelined
    if kind == 8:
        return b"POST /health HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n" + b"b" * 65536
    return b"GET /health HTTP/1.1\r\nHost: \x1b[2J\x00\r\n\r\n"


async def exchange(port: int, data: bytes, *, half_close: bool) -> bytes:
    """Send `data`; everything answered until the server closes (read all along, so that an
    answer is kept even when the server resets the connection afterwards)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reading = asyncio.ensure_future(collect(reader))
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(data)
            await writer.drain()
            if half_close:
                writer.write_eof()
        return await asyncio.wait_for(reading, 10)
    finally:
        writer.close()


async def collect(reader: asyncio.StreamReader) -> bytes:
    got = bytearray()
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            got += chunk
    return bytes(got)


def check_answer(raw: bytes) -> int | None:
    """An answer is HTTP/1.1 with one of the expected statuses and (unless /metrics) JSON."""
    if not raw:
        return None  # dropped (over the cap, or reset): allowed
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), raw[:200]
    status = int(status_line.split()[1])
    assert status in STATUSES, raw[:200]
    if b"application/json" in head and body:
        json.loads(body)
    return status


async def slowloris(port: int, seconds: float) -> bytes:
    """A request head trickled one byte at a time, never finished."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    reading = asyncio.ensure_future(collect(reader))
    try:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        for byte in b"GET /health HTTP/1.1\r\nX-Slow: " + b"s" * 10_000:
            if loop.time() > end or reading.done() or writer.transport.is_closing():
                break
            with contextlib.suppress(ConnectionError):
                writer.write(bytes([byte]))
                await writer.drain()
            await asyncio.sleep(0.05)
        return await asyncio.wait_for(reading, 10)
    finally:
        writer.close()


async def never_reads(port: int) -> None:
    """Asks for the biggest answer and never reads it."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.transport.set_write_buffer_limits(0)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    writer.write(b"GET /health/detailed HTTP/1.1\r\n\r\n" * 3)
    await asyncio.sleep(1.5)
    writer.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.timeout(60)
async def test_http_fuzz_while_supervising(
    tmp_path: Path, make_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(httpapi, "HEAD_TIMEOUT", 0.3)  # the 5 s deadline, shortened
    cmd = script(tmp_path, "beater", BEATER)
    # The fuzzing clients share this event loop with the engine (an outside client would not):
    # a 2 s deadline still shows a supervisor that stopped supervising.
    config = make_config({"beater": {"command": cmd, "heartbeat_timeout": 2}})
    async with running(config) as (engine, events):
        await wait_for(lambda: engine.runners["beater"].heartbeat_message is not None)
        pid = engine.runners["beater"].child.pid
        api = HttpApi(engine, "127.0.0.1:0")
        await api.start()
        fds = open_fds()
        try:
            rng = random.Random(9)
            # More idle connections than the cap: newcomers are dropped (not stalled) meanwhile.
            idle = [await asyncio.open_connection("127.0.0.1", api.port) for _ in range(100)]
            await asyncio.sleep(0.1)
            during = await exchange(api.port, b"GET /health HTTP/1.1\r\n\r\n", half_close=False)
            assert check_answer(during) in (200, None)
            for _, writer in idle:
                writer.close()
            await wait_for(lambda: api._active == 0, timeout=5)
            # Slow and never-reading clients, and random requests from a dozen clients at once.
            slow = [asyncio.ensure_future(slowloris(api.port, 1.5)) for _ in range(5)]
            lazy = [asyncio.ensure_future(never_reads(api.port)) for _ in range(3)]
            answers: list[int | None] = []

            async def client(seed: int) -> None:
                crng = random.Random(seed)
                for _ in range(20):
                    raw = await exchange(
                        api.port, random_request(crng), half_close=crng.random() < 0.5
                    )
                    answers.append(check_answer(raw))

            await asyncio.gather(*(client(rng.randrange(10**9)) for _ in range(24)))
            slow_answers = await asyncio.gather(*slow)
            await asyncio.gather(*lazy)

            assert len(answers) == 480
            assert {a for a in answers if a is not None} >= {200, 400, 404, 405}
            # A request head that never completes is cut off at the deadline.
            assert [check_answer(a) for a in slow_answers] == [408] * len(slow)
            # Still answering...
            for path in PATHS[:4]:
                raw = await exchange(
                    api.port, f"GET {path} HTTP/1.1\r\n\r\n".encode(), half_close=False
                )
                assert check_answer(raw) == 200, raw[:300]
            # ...nothing leaked (every connection handler ended, no descriptor kept)...
            await wait_for(lambda: api._active == 0, timeout=5)
            await wait_for(lambda: open_fds() <= fds + 2, timeout=5)
            # ...and supervising all the while.
            beater = engine.runners["beater"]
            assert not events.of(HeartbeatMissed)
            assert beater.child.pid == pid and beater.total_restarts == 0
            message = beater.heartbeat_message
            await wait_for(lambda: beater.heartbeat_message != message, timeout=2)
            assert engine.health().status == "healthy"
        finally:
            await api.close()
