"""The control socket against a real engine, real strategies and real Unix sockets: the protocol,
bad and hostile clients, ownership (promise 6), stale sockets, and a fuzz test against a real
`tui-monitor run --no-ui` process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, ROOT, alive, script, wait_for, wait_for_sync, write_config
from tui_monitor.config import Config, load_config
from tui_monitor.control import protocol as p
from tui_monitor.control.server import (
    ControlServer,
    ControlSocketError,
    bind_socket,
    peer_allowed,
    peer_credentials,
)
from tui_monitor.control.sockaddr import unix_address
from tui_monitor.engine import Engine

HEARTBEATER = """
    import time
    from tui_monitor import client
    i = 0
    while True:
        i += 1
        client.heartbeat(f"tick {i}", progress=0.5)
        client.checkpoint({"i": i})
        if i % 10 == 1:
            print(f"working on {i}", flush=True)
        time.sleep(0.05)
"""

FAST = {"heartbeat_timeout": 0, "restart_delay": 0.05, "start_seconds": 0.1, "stop_timeout": 2}


def beat_config(folder: Path, **monitor: Any) -> Path:
    """A configuration with one heartbeating strategy, `beat`."""
    cmd = script(folder, "beat", HEARTBEATER)
    return write_config(
        folder, {"beat": {**FAST, "command": cmd, "heartbeat_timeout": 5}}, monitor or None
    )


@contextlib.asynccontextmanager
async def serving(
    config: Config, **server_args: Any
) -> AsyncIterator[tuple[Engine, ControlServer]]:
    """A started engine with its control server on the configured socket; both always closed."""
    engine = Engine(config)
    await engine.start()
    server = ControlServer(engine, config.monitor.control_socket, **server_args)
    try:
        await server.start()
        yield engine, server
    finally:
        await server.close()
        await engine.shutdown()


async def running_beat(tmp_path: Path, **server_args: Any):
    return serving(load_config(beat_config(tmp_path)), **server_args)


async def wait_for_async(
    fetch: Callable[[], Any], good: Callable[[Any], bool], timeout: float = 5.0
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if good(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {value!r}")
        await asyncio.sleep(0.05)


class Conn:
    """A raw protocol connection, for tests that speak the wire format themselves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.next_id = 0

    @classmethod
    async def open(cls, path: Path) -> Conn:
        with unix_address(path) as address:
            reader, writer = await asyncio.open_unix_connection(address, limit=2**24)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0) -> dict[str, Any] | None:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        return json.loads(line) if line else None

    async def ask(self, op: str, **args: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.send(p.encode({"v": 1, "id": self.next_id, "op": op, **args}))
        answer = await self.recv()
        assert answer is not None and answer["id"] == self.next_id, answer
        return answer

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(), timeout) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


# ---- the protocol ------------------------------------------------------------------------------


async def test_every_op_answers_in_the_documented_shape(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (engine, server):
        await wait_for(lambda: engine.runners["beat"].state.value == "running")
        c = await Conn.open(server.path)
        hello = await c.ask("hello")
        assert hello == {"v": 1, "id": 1, "ok": True, "result": hello["result"]}
        assert hello["result"]["protocol"] == 1 and hello["result"]["pid"] == os.getpid()
        assert set(hello["result"]["ops"]) == set(p.OPS)
        assert (await c.ask("version"))["result"]["version"] == hello["result"]["version"]

        snap = (await c.ask("snapshot"))["result"]
        assert set(snap) == set(engine.snapshot().to_dict())
        assert snap["pid"] == os.getpid() and snap["config_path"] == str(engine.config.path)
        (beat,) = snap["strategies"]
        assert beat["name"] == "beat" and beat["state"] == "running" and beat["pid"] > 0

        health = (await c.ask("health"))["result"]
        assert health["status"] == "healthy" and "strategies" not in health
        detailed = (await c.ask("health", detailed=True))["result"]
        assert [s["name"] for s in detailed["strategies"]] == ["beat"]
        assert [j["job_id"] for j in detailed["jobs"]] == ["strategy_beat"]

        lines = (await c.ask("log_lines", name="beat", after=0, limit=10))["result"]
        assert isinstance(lines, list) and all(isinstance(line, dict) for line in lines)
        pid = beat["pid"]
        restarted = (await c.ask("restart", name="beat"))["result"]
        assert restarted["strategy"]["name"] == "beat" and restarted["strategy"]["pid"] != pid
        assert restarted["job"]["job_id"] == "strategy_beat"
        stopped = (await c.ask("stop", name="beat"))["result"]
        assert stopped["strategy"]["state"] == "stopped" and stopped["job"]["status"] == "paused"
        resumed = (await c.ask("resume", job_id="strategy_beat"))["result"]
        assert resumed["strategy"]["state"] in ("starting", "running")
        refused = await c.ask("start", name="beat")
        assert refused["ok"] is False
        assert refused["error"]["type"] == "command_refused"
        assert refused["error"]["message"].startswith("beat is already")

        async def history(op: str) -> list[dict[str, Any]]:
            return (await c.ask(op, name="beat", limit=500))["result"]

        # History is written in batches off the loop: wait until the restart's exit is in.
        await wait_for_async(lambda: history("runs"), lambda runs: len(runs) >= 2)
        runs = await history("runs")
        assert runs[0]["strategy"] == "beat" and runs[0]["job_id"] == "strategy_beat"
        events = await history("events")
        assert {"state", "exit"} <= {e["kind"] for e in events}

        unknown = await c.ask("stop", name="nope")
        assert unknown["error"]["type"] == "unknown_name"
        assert unknown["error"]["known"] == ["beat"]
        assert unknown["error"]["what"] == "strategy" and unknown["error"]["name"] == "nope"
        assert "known: beat" in unknown["error"]["message"]
        unknown_job = await c.ask("resume", job_id="strategy_nope")
        assert unknown_job["error"]["known"] == ["strategy_beat"]
        c.close()


BAD_LINES: list[tuple[bytes, str]] = [
    (b"{not json\n", "bad_json"),
    (b"\xff\xfe\x00garbage\n", "bad_json"),
    (b"[1, 2, 3]\n", "bad_request"),
    (b'"just a string"\n', "bad_request"),
    (b'{"v": 1, "id": 1}\n', "bad_request"),
    (b'{"v": 2, "id": 1, "op": "snapshot"}\n', "bad_request"),
    (b'{"v": true, "id": 1, "op": "snapshot"}\n', "bad_request"),
    (b'{"id": 1, "op": "snapshot"}\n', "bad_request"),
    (b'{"v": 1, "id": {"x": 1}, "op": "snapshot"}\n', "bad_request"),
    (b'{"v": 1, "id": 1e400, "op": "snapshot"}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "explode"}\n', "unknown_op"),
    (b'{"v": 1, "id": 1, "op": 7}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "stop"}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "stop", "name": 5}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "stop", "name": ""}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "start", "name": "beat", "fresh": "yes"}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "log_lines", "name": "beat", "limit": -1}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "log_lines", "name": "beat", "after": 1.5}\n', "bad_request"),
    (b'{"v": 1, "id": 1, "op": "health", "detailed": null}\n', "bad_request"),
    (b"[" * 100_000 + b"\n", "bad_json"),
    (b'{"v": 1, "id": 1, "op": "x' + b"9" * 5000 + b'"}\n', "unknown_op"),
]


async def test_bad_requests_get_an_error_and_the_connection_goes_on(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (engine, server):
        c = await Conn.open(server.path)
        for line, expected in BAD_LINES:
            await c.send(line)
            answer = await c.recv()
            assert answer is not None and answer["ok"] is False, (line[:60], answer)
            assert answer["v"] == 1 and answer["error"]["type"] == expected, (line[:60], answer)
            assert len(answer["error"]["message"]) < 1000
        await c.send(b"\n\n   \n")  # blank lines are ignored
        assert (await c.ask("snapshot"))["ok"] is True
        # A string id is echoed; an id on a failed request too.
        await c.send(b'{"v": 1, "id": "abc", "op": "nope"}\n')
        assert (await c.recv())["id"] == "abc"
        c.close()
        assert engine.runners["beat"].state.value in ("starting", "running")


async def test_an_oversized_line_is_answered_and_closed(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (_, server):
        other = await Conn.open(server.path)
        c = await Conn.open(server.path)
        c.writer.write(b"x" * (p.MAX_LINE_BYTES + 10))
        answer = await c.recv()
        assert answer["error"]["type"] == "too_large" and answer["id"] is None
        assert await c.closed_by_server()
        # A line of exactly the limit is fine (and a bad request).
        c2 = await Conn.open(server.path)
        await c2.send(b" " * (p.MAX_LINE_BYTES - 1) + b"x\n")
        assert (await c2.recv())["error"]["type"] == "bad_json"
        assert (await c2.ask("hello"))["ok"]
        assert (await other.ask("snapshot"))["ok"]  # everyone else is still served
        for conn in (other, c, c2):
            conn.close()


async def test_idle_and_slow_clients_time_out(tmp_path: Path) -> None:
    async with await running_beat(tmp_path, idle_timeout=0.3) as (_, server):
        idle = await Conn.open(server.path)
        slow = await Conn.open(server.path)
        await slow.send(b'{"v": 1, "id": 1, "op": "snap')  # and then nothing more
        started = time.monotonic()
        for conn in (idle, slow):
            answer = await conn.recv()
            assert answer["error"]["type"] == "timeout" and answer["id"] is None
            assert await conn.closed_by_server()
            conn.close()
        assert time.monotonic() - started < 3
        fresh = await Conn.open(server.path)
        assert (await fresh.ask("hello"))["ok"]
        fresh.close()
        await wait_for(lambda: server.clients == 0)


async def test_a_half_closed_request_is_answered(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (_, server):
        c = await Conn.open(server.path)
        await c.send(b'{"v": 1, "id": 9, "op": "hello"}')  # no newline, then end of input
        c.writer.write_eof()
        answer = await c.recv()
        assert answer["id"] == 9 and answer["ok"] is True
        assert await c.closed_by_server()
        # A client that vanishes mid-request costs nothing.
        gone = await Conn.open(server.path)
        await gone.send(b'{"v": 1, "id": 1, "op": "sna')
        sock = gone.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        gone.writer.transport.abort()
        await wait_for(lambda: server.clients == 0)


async def test_subscribe_streams_events_until_the_client_leaves(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (engine, server):
        await wait_for(lambda: engine.runners["beat"].state.value == "running")
        sub = await Conn.open(server.path)
        assert (await sub.ask("subscribe"))["result"] == {"subscribed": True}
        cmd = await Conn.open(server.path)
        assert (await cmd.ask("restart", name="beat"))["ok"]
        kinds = []
        while ("state", "running") not in kinds:
            message = await sub.recv()
            assert set(message) == {"v", "event"} and message["v"] == 1
            event = message["event"]
            kinds.append((event["kind"], event.get("new")))
            assert isinstance(event["time"], float) and event["level"] in ("INFO", "WARNING")
        assert ("state", "stopping") in kinds and ("exit", None) in kinds
        # Input after subscribe is ignored; closing ends the subscription.
        await sub.send(b"garbage\n")
        subscribers = len(engine.bus._subscribers)
        sub.close()
        await wait_for(lambda: len(engine.bus._subscribers) == subscribers - 1)
        cmd.close()


async def test_subscribers_are_told_when_the_server_closes(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (_, server):
        sub = await Conn.open(server.path)
        await sub.ask("subscribe")
        await server.close()
        assert (await sub.recv()) == {"v": 1, "end": {"reason": "supervisor shutting down"}}
        assert await sub.closed_by_server()
        assert not server.path.exists()


async def test_a_subscriber_that_falls_behind_is_dropped(tmp_path: Path) -> None:
    async with await running_beat(tmp_path, queue_size=100) as (engine, server):
        sub = await Conn.open(server.path)
        await sub.ask("subscribe")
        for i in range(500):  # without yielding: the subscription's bounded queue overflows
            engine.publish_note(f"note {i}")
        got = []
        while (message := await sub.recv()) is not None and "event" in message:
            got.append(message)
        assert message == {"v": 1, "end": {"reason": "fell behind; events were lost"}}
        assert len(got) <= 100
        c = await Conn.open(server.path)
        assert (await c.ask("snapshot"))["ok"]
        c.close()


async def test_a_subscriber_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    async with await running_beat(tmp_path, max_buffer=64 * 1024) as (engine, server):
        raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with unix_address(server.path) as address:
            await asyncio.get_running_loop().sock_connect(raw, address)
        raw.sendall(b'{"v": 1, "id": 1, "op": "subscribe"}\n')
        await wait_for(lambda: server.clients == 1 and len(engine.bus._subscribers) >= 1)
        before = len(engine.bus._subscribers)
        # Never read. Events pile up in the server's write buffer until it gives up on us.
        for batch in range(400):
            for i in range(20):
                engine.publish_note(f"note {batch}/{i} " + "x" * 500)
            await asyncio.sleep(0)
            if server.clients == 0:
                break
        await wait_for(lambda: server.clients == 0)
        assert len(engine.bus._subscribers) == before - 1
        raw.close()
        c = await Conn.open(server.path)
        assert (await c.ask("hello"))["ok"]
        c.close()


async def test_commands_and_errors_never_break_the_server(tmp_path: Path) -> None:
    """An exception inside an op is an `internal` answer and a reported problem, not a crash."""
    async with await running_beat(tmp_path) as (engine, server):

        def boom(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("injected")

        engine.log_lines = boom  # type: ignore[method-assign]
        c = await Conn.open(server.path)
        answer = await c.ask("log_lines", name="beat")
        assert answer["error"]["type"] == "internal" and "injected" in answer["error"]["message"]
        assert (await c.ask("hello"))["ok"]
        c.close()


# ---- ownership and the socket file -------------------------------------------------------------


async def test_the_socket_is_the_owners_alone(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (_, server):
        st = os.stat(server.path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        assert stat.S_IMODE(os.stat(server.path.parent).st_mode) == 0o700
        c = await Conn.open(server.path)
        pid, uid, _ = peer_credentials(c.writer.get_extra_info("socket"))
        assert pid == os.getpid() and uid == os.geteuid()
        c.close()
    assert peer_allowed(1000, 1000) and not peer_allowed(0, 1000) and not peer_allowed(1001, 1000)


async def test_a_peer_with_another_uid_is_refused(tmp_path: Path) -> None:
    """SO_PEERCRED, for real: the server believes it belongs to uid 4242, and we are not."""
    problems: list[str] = []
    async with await running_beat(tmp_path, owner_uid=os.geteuid() + 4242) as (engine, server):
        engine.bus.add_listener(lambda e: problems.append(getattr(e, "message", "")))
        c = await Conn.open(server.path)
        answer = await c.recv()
        assert answer["ok"] is False and answer["error"]["type"] == "permission_denied"
        assert answer["id"] is None
        assert await c.closed_by_server()
        assert [m for m in problems if "refused a connection from uid" in m]


CONNECT_AS_OTHER = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connect": exc.__class__.__name__}))
    sys.exit(0)
s.sendall(b'{"v": 1, "id": 1, "op": "stop", "name": "beat"}\\n')
data = b""
while chunk := s.recv(65536):
    data += chunk
print(json.dumps({"answer": data.decode()}))
"""


def _python_for_nobody() -> str | None:
    """A Python interpreter uid 65534 may run (the test's own may live under /root)."""
    for candidate in (os.path.realpath(PYTHON), "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            subprocess.run(
                [candidate, "-c", "pass"], user=65534, group=65534, check=True, timeout=20, cwd="/"
            )
        except (OSError, subprocess.SubprocessError):
            continue
        return candidate
    return None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another user")
async def test_another_user_cannot_control_the_supervisor(tmp_path: Path) -> None:
    """As uid 65534: the 0700 folder and 0600 socket stop it; made reachable (test only), the
    peer check still refuses it and the strategy keeps running."""
    python = await asyncio.to_thread(_python_for_nobody)
    if python is None:
        pytest.skip("no Python interpreter that uid 65534 may run")
    outside = Path(tempfile.mkdtemp(prefix="tm-peer-", dir="/tmp"))
    try:
        config = load_config(beat_config(tmp_path, control_socket=str(outside / "c.sock")))
        async with serving(config) as (engine, server):
            await wait_for(lambda: engine.runners["beat"].state.value == "running")
            pid = engine.runners["beat"].child.pid

            def as_nobody() -> dict[str, Any]:
                result = subprocess.run(
                    [python, "-c", CONNECT_AS_OTHER, str(server.path)],
                    user=65534,
                    group=65534,
                    capture_output=True,
                    text=True,
                    timeout=20,
                    cwd="/",
                )
                assert result.returncode == 0, result.stderr
                return json.loads(result.stdout)

            os.chmod(outside, 0o755)  # the folder is reachable, the socket (0600) is not
            assert await asyncio.to_thread(as_nobody) == {"connect": "PermissionError"}
            os.chmod(server.path, 0o666)  # test only: let it connect, so the peer check acts
            answer = json.loads((await asyncio.to_thread(as_nobody))["answer"])
            assert answer["error"]["type"] == "permission_denied"
            assert "uid 65534" in answer["error"]["message"]
            assert engine.runners["beat"].child.pid == pid and alive(pid)
    finally:
        with contextlib.suppress(OSError):
            for child in outside.iterdir():
                child.unlink()
            outside.rmdir()


def _stale_socket(path: Path) -> None:
    """A socket file nobody listens on: what a SIGKILLed supervisor leaves behind."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with unix_address(path) as address:
        s.bind(address)
    s.close()


async def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    config = load_config(beat_config(tmp_path))
    path = config.monitor.control_socket
    path.parent.mkdir(mode=0o700)
    _stale_socket(path)
    async with serving(config) as (_, server):
        c = await Conn.open(server.path)
        assert (await c.ask("hello"))["ok"]
        c.close()
    assert not path.exists()


async def test_a_live_socket_is_never_taken_over(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (engine, server):
        inode = os.stat(server.path).st_ino
        with pytest.raises(ControlSocketError, match="already listening"):
            bind_socket(server.path)
        intruder = ControlServer(engine, server.path)
        with pytest.raises(ControlSocketError):
            await intruder.start()
        await intruder.close()
        assert os.stat(server.path).st_ino == inode
        c = await Conn.open(server.path)
        assert (await c.ask("hello"))["ok"]
        c.close()


async def test_a_socket_in_a_folder_locked_by_a_live_supervisor_is_left_alone(
    tmp_path: Path,
) -> None:
    """Even when nothing answers on it, a socket in another live supervisor's state folder is
    not ours to unlink."""
    other = tmp_path / "other-state"
    other.mkdir(mode=0o700)
    locker = subprocess.Popen(
        [
            PYTHON,
            "-c",
            "import sys, time; from pathlib import Path; from tui_monitor.lock import StateLock;"
            "StateLock(Path(sys.argv[1])).acquire(); print('locked', flush=True); time.sleep(30)",
            str(other),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        _stale_socket(other / "control.sock")
        with pytest.raises(ControlSocketError, match="belongs to the supervisor"):
            bind_socket(other / "control.sock", own_state_dir=tmp_path / "state")
        assert (other / "control.sock").exists()
    finally:
        locker.kill()
        locker.wait()
    bind_socket(other / "control.sock", own_state_dir=tmp_path / "state").close()


def test_a_file_that_is_not_a_socket_is_not_removed(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    path.write_text("precious")
    with pytest.raises(ControlSocketError, match="not a socket"):
        bind_socket(path)
    assert path.read_text() == "precious"


async def test_close_unlinks_only_its_own_socket(tmp_path: Path) -> None:
    async with await running_beat(tmp_path) as (_, server):
        path = server.path
        os.unlink(path)
        _stale_socket(path)  # a successor's socket now has the name
        successor = os.stat(path).st_ino
    assert path.exists() and os.stat(path).st_ino == successor


async def test_a_socket_path_longer_than_sun_path_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    config = load_config(beat_config(tmp_path, control_socket=str(deep / "control.sock")))
    assert len(str(config.monitor.control_socket)) > 107
    async with serving(config) as (_, server):
        c = await Conn.open(server.path)
        assert (await c.ask("hello"))["ok"]
        c.close()
        assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert not (deep / "control.sock").exists()


# ---- a real supervisor process ----------------------------------------------------------------


def request(path: Path, op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """One request on a fresh blocking connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        with unix_address(path) as address:
            s.connect(address)
        s.sendall(p.encode({"v": 1, "id": 1, "op": op, **args}))
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return json.loads(data)


class Supervisor:
    """`python -m tui_monitor run --no-ui --config FILE` as a real process."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.config = load_config(config_path)
        self.socket = self.config.monitor.control_socket
        self.log = config_path.parent / f"supervisor-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Supervisor:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "tui_monitor", "run", "--no-ui", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.config_path.parent,
            )
        if wait:
            wait_for_sync(self.answers, timeout=15, step=0.05)
        return self

    def answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"supervisor exited {self.proc.returncode}: {self.output()}")
        try:
            return request(self.socket, "hello", timeout=2)["ok"] is True
        except OSError:
            return False

    def ask(self, op: str, **args: Any) -> Any:
        answer = request(self.socket, op, **args)
        assert answer["ok"], answer
        return answer["result"]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def supervisor(tmp_path: Path) -> Callable[..., Supervisor]:
    started: list[Supervisor] = []

    def start(config_path: Path | None = None, wait: bool = True) -> Supervisor:
        sup = Supervisor(config_path or beat_config(tmp_path)).start(wait)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.stop()


def test_a_stale_socket_after_sigkill_is_replaced_by_the_next_supervisor(supervisor) -> None:
    first = supervisor()
    old_pid = first.proc.pid
    wait_for_sync(lambda: first.ask("snapshot")["strategies"][0]["pid"])
    first.kill()
    assert first.socket.exists()  # left behind
    with pytest.raises(ConnectionRefusedError):
        request(first.socket, "hello")
    second = supervisor(first.config_path)
    hello = second.ask("hello")
    assert hello["pid"] == second.proc.pid != old_pid
    wait_for_sync(lambda: second.ask("snapshot")["strategies"][0]["state"] == "running")
    assert stat.S_IMODE(os.stat(second.socket).st_mode) == 0o600
    assert second.stop() == 0
    assert not second.socket.exists()


# ---- fuzz ---------------------------------------------------------------------------------------

_JUNK_NAMES: list[Any] = [
    None, 0, -1, 1.5, True, [], {}, "", "nope", "strategy_nope", "../../etc/passwd", "x" * 3000,
    "\x00", "\u202e", "beat ", " beat", "BEAT", "strategy_beat ", {"name": "beat"}, ["beat"],
]  # fmt: skip
_JUNK_VALUES: list[Any] = [
    *_JUNK_NAMES,
    10**30,
    -(10**30),
    1e308,
    "1",
    "true",
    False,
    [[[[]]]],
    {"a": {"b": None}},
]


def _fuzz_message(rng: random.Random) -> tuple[bytes, bool]:
    """(bytes to send, whether to close abruptly afterwards). Never a valid command that would
    touch the real strategy `beat`."""
    kind = rng.randrange(12)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))) + b"\n", False
    if kind == 1:
        valid = p.encode({"v": 1, "id": rng.randrange(1000), "op": "snapshot"})
        return valid[: rng.randrange(1, len(valid))], rng.random() < 0.5
    if kind == 2:
        op = rng.choice([*p.OPS, "", "SNAPSHOT", "__init__", "shutdown", "exec"])
        message: dict[str, Any] = {"v": rng.choice([1, 1, 1, 0, 2, "1", None, 1.0]), "op": op}
        message["id"] = rng.choice([*_JUNK_VALUES, rng.randrange(10**6)])
        for key in rng.sample(["name", "job_id", "fresh", "after", "limit", "detailed"], 3):
            message[key] = rng.choice(_JUNK_VALUES)
        if op == "subscribe" or (
            op in p.COMMAND_OPS and str(message.get("name", "")).strip().lower() == "beat"
        ):
            message["op"] = "snapshot_"
        return json.dumps(message).encode() + b"\n", False
    if kind == 3:
        return b"[" * rng.randrange(1000, 200_000) + b"\n", False
    if kind == 4:
        return b'{"v": 1, "id": 1, "op": "' + b"\xc3\x28" * rng.randrange(1, 50) + b'"}\n', False
    if kind == 5:
        return rng.choice([b"\n", b"\r\n", b"\x00\n", b"{}\n", b"null\n", b'{"v":1}\n']), False
    if kind == 6:
        return json.dumps({"v": 1, "id": "q", "op": rng.choice(["health", "hello"])}).encode() + (
            b"\n"
        ), False
    if kind == 7:
        return b"", True  # abrupt close
    if kind == 8:
        return (
            json.dumps({"v": 1, "id": 1, "op": "log_lines", "name": "beat", "limit": 10**9})
            .encode()
            .replace(b"}", b"")
        ), rng.random() < 0.3
    if kind == 9:
        text = "".join(chr(rng.randrange(0x10FFFF)) for _ in range(50))
        return json.dumps({"v": 1, "id": text, "op": text}).encode() + b"\n", False
    if kind == 10:
        return b'{"v": 1, "id": 1, "op": "hello"}' * rng.randrange(1, 50) + b"\n", False
    return b'{"v": 1, "id": 1, "op": "stop", "name": "nope"}\n', False


async def _fuzz_connection(path: Path, seed: int, messages: int, answers: list[dict]) -> int:
    rng = random.Random(seed)
    sent = 0
    while sent < messages:
        with unix_address(path) as address:
            reader, writer = await asyncio.open_unix_connection(address, limit=2**24)

        async def read_all(reader: asyncio.StreamReader = reader) -> None:
            with contextlib.suppress(OSError):  # reset by the server after an oversized line
                while line := await reader.readline():
                    message = json.loads(line)  # every line the server sends is JSON...
                    assert message["v"] == 1  # ...of this protocol
                    answers.append(message)

        reading = asyncio.get_running_loop().create_task(read_all())
        abrupt = False
        try:
            while sent < messages:
                data, close = _fuzz_message(rng)
                sent += 1
                if rng.random() < 0.002:
                    data = b"y" * (p.MAX_LINE_BYTES + 2) + b"\n"
                writer.write(data)
                await writer.drain()
                if close:
                    abrupt = rng.random() < 0.7
                    if abrupt and rng.random() < 0.5:  # a reset rather than a close
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01" + b"\x00" * 7)
                        writer.transport.abort()
                    break
            if not abrupt:
                writer.write_eof()  # half-close: the server still answers what it got
                await asyncio.wait_for(asyncio.shield(reading), 10)
        except OSError:
            pass  # the server closed on us (oversized line): a new connection
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reading, 5)
            if not reading.done():
                reading.cancel()
            elif reading.exception() is not None:
                raise reading.exception()
    return sent


def test_fuzz_the_socket_while_a_strategy_is_supervised(supervisor) -> None:
    sup = supervisor()
    before = wait_for_sync(
        lambda: (s := sup.ask("snapshot")["strategies"][0])["state"] == "running" and s
    )
    answers: list[dict] = []

    async def fuzz() -> int:
        counts = await asyncio.gather(
            *(_fuzz_connection(sup.socket, seed, 200, answers) for seed in range(12))
        )
        return sum(counts)

    sent = asyncio.run(fuzz())
    assert sent == 12 * 200
    assert len(answers) > 500  # many messages merge into one bad line, or end abruptly
    assert {a["error"]["type"] for a in answers if not a.get("ok", True)} <= {
        "bad_json", "bad_request", "unknown_op", "unknown_name", "too_large", "timeout",
    }  # fmt: skip
    # Still answering, still supervising the same process, which still heartbeats.
    after = sup.ask("snapshot")["strategies"][0]
    assert after["pid"] == before["pid"] and after["state"] == "running"
    assert after["restarts"] == 0 and after["total_restarts"] == 0
    assert after["heartbeat_age"] is not None and after["heartbeat_age"] < 2
    assert sup.ask("health")["status"] == "healthy"
    time.sleep(0.3)
    assert sup.ask("snapshot")["strategies"][0]["heartbeat_message"] != before["heartbeat_message"]
    assert alive(after["pid"])
    assert "internal error" not in sup.output() and "Traceback" not in sup.output()
    assert sup.stop() == 0
