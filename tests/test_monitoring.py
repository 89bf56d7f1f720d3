"""Metrics, health, the HTTP endpoint, Prometheus export and alerts — with real causes, real HTTP
on loopback and a real webhook receiver."""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PYTHON, running, script, wait_for
from tui_monitor.events import Problem
from tui_monitor.health import DEGRADED, UNHEALTHY, HealthReport, Reason
from tui_monitor.httpapi import HttpApi
from tui_monitor.states import StrategyState as S

SLEEPER = "import time\nwhile True:\n    time.sleep(1)\n"
CRASHER = "import sys\nsys.exit(1)\n"


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str, bytes]:
    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers["Content-Type"], exc.read()

    return await asyncio.to_thread(fetch)


async def test_metrics_sweep_covers_system_supervisor_and_strategies(
    tmp_path: Path, make_config
) -> None:
    cmd = script(tmp_path, "busy", "while True:\n    sum(range(10000))\n")
    async with running(make_config({"a": {"command": cmd}}, metrics_interval=0.2)) as (e, _):
        await wait_for(lambda: e.metrics() is not None and "a" in e.metrics().strategies)
        await wait_for(lambda: e.metrics().strategies["a"].cpu_percent > 0, timeout=5)
        sample = e.metrics()
        assert 0 <= sample.system.memory_percent <= 100
        assert len(sample.system.per_cpu) >= 1
        assert sample.system.disks and sample.system.disks[0].total > 0
        assert sample.supervisor.threads >= 1 and sample.supervisor.rss > 0
        assert sample.info.hostname and sample.info.host_uptime > 0
        assert sample.strategies["a"].rss > 0 and sample.strategies["a"].processes >= 1
        assert len(e.metrics_history()) >= 1


async def test_fatal_strategy_is_unhealthy_with_its_reason(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", CRASHER)
    cfg = make_config({"a": {"command": cmd, "max_restarts": 1, "restart_delay": 0}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["a"].state is S.FATAL)
        report = engine.health()
        assert report.status == UNHEALTHY
        codes = {r.code for r in report.reasons}
        assert "fatal" in codes
        assert any("a is fatal" in r.message for r in report.reasons)


async def test_heartbeat_kill_in_progress_is_degraded(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "stuck",
        "import signal, time\nfrom tui_monitor import client\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nclient.heartbeat('once')\ntime.sleep(60)\n",
    )
    cfg = make_config({"a": {"command": cmd, "heartbeat_timeout": 0.3, "stop_timeout": 5}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["a"].state is S.STOPPING, timeout=5)
        report = engine.health()
        assert report.status == DEGRADED
        assert "heartbeat_overdue" in {r.code for r in report.reasons}


async def test_lowered_thresholds_trigger_memory_and_disk(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", SLEEPER)
    cfg = make_config(
        {"a": {"command": cmd}}, memory_threshold=0.01, disk_threshold=0.01, metrics_interval=0.1
    )
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.metrics() is not None)
        report = engine.health()
        assert report.status == DEGRADED
        codes = {r.code for r in report.reasons}
        assert {"memory", "disk"} <= codes
        assert any("threshold 0.01%" in r.message for r in report.reasons)


async def test_restart_storm_is_degraded(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "crash", CRASHER)
    cfg = make_config(
        {"a": {"command": cmd, "max_restarts": 50, "restart_delay": 0}}, restart_storm=3
    )
    async with running(cfg) as (engine, _):
        await wait_for(lambda: "restart_storm" in {r.code for r in engine.health().reasons})


def test_reasons_with_quotes_are_escaped_in_prometheus(tmp_path: Path) -> None:
    from tui_monitor import prom
    from tui_monitor.snapshot import EngineSnapshot

    snap = EngineSnapshot("1", 1, 0, 5, "c", "s", "l", job_counts={"total": 0, "failed": 0})
    nasty = 'quote " backslash \\ newline \n end'
    report = HealthReport(DEGRADED, (Reason(DEGRADED, "x", nasty),), "1", 5, 0)
    text = prom.render(snap, report, None).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    sample = families["tui_monitor_health_reason"].samples[0]
    assert sample.labels["message"] == nasty
    assert families["tui_monitor_health_status"].samples[0].value == 1


async def test_every_endpoint_over_real_http(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", SLEEPER)
    crash = script(tmp_path, "crash", CRASHER)
    cfg = make_config(
        {"alpha": {"command": cmd}, "beta": {"command": crash, "max_restarts": 0}},
        metrics_interval=0.2,
    )
    async with running(cfg) as (engine, _):
        api = HttpApi(engine, "127.0.0.1:0")
        await api.start()
        try:
            await wait_for(lambda: engine.runners["beta"].state is S.FATAL)
            await wait_for(lambda: engine.runners["alpha"].state is S.RUNNING)
            await wait_for(lambda: engine.metrics() is not None)
            for path in ("/health", "/api/v1/health"):
                status, ctype, body = await get(api.port, path)
                assert status == 503 and ctype == "application/json"
                data = json.loads(body)
                assert data["status"] == "unhealthy" and data["version"]
                assert any("beta is fatal" in r for r in data["reasons"])
            for path in ("/health/detailed", "/api/v1/health/detailed"):
                status, _, body = await get(api.port, path)
                data = json.loads(body)
                assert data["jobs"]["total"] == 2 and data["system"]["system"]["cpu_percent"] >= 0
                assert {s["name"] for s in data["strategies"]} == {"alpha", "beta"}
            for path in ("/metrics", "/api/v1/health/metrics"):
                status, ctype, body = await get(api.port, path)
                assert status == 200 and ctype.startswith("text/plain")
                families = {f.name: f for f in text_string_to_metric_families(body.decode())}
                up = {
                    s.labels["strategy"]: s.value
                    for s in families["tui_monitor_strategy_up"].samples
                }
                assert up == {"alpha": 1.0, "beta": 0.0}
                assert "tui_monitor_jobs" in families
                assert "tui_monitor_system_memory_percent" in families
            status, _, body = await get(api.port, "/api/v1/monitoring/strategies")
            assert status == 200 and len(json.loads(body)) == 2
            status, _, body = await get(api.port, "/api/v1/monitoring/jobs")
            assert json.loads(body)["counts"]["failed"] == 1
            status, ctype, body = await get(api.port, "/nope")
            assert status == 404 and json.loads(body)["error"]["type"] == "Not Found"
            status, _, body = await get(api.port, "/health", method="POST")
            assert status == 405 and "GET only" in json.loads(body)["error"]["message"]
            status, _, body = await get(api.port, "/health", method="HEAD")
            assert status == 503 and body == b""
        finally:
            await api.close()


async def test_healthy_is_200(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", SLEEPER)
    async with running(make_config({"a": {"command": cmd}})) as (engine, _):
        api = HttpApi(engine, "127.0.0.1:0")
        await api.start()
        try:
            await wait_for(lambda: engine.runners["a"].state is S.RUNNING)
            status, _, body = await get(api.port, "/health")
            assert status == 200 and json.loads(body)["status"] == "healthy"
        finally:
            await api.close()


async def test_slow_and_garbage_clients_do_not_stall_it(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", SLEEPER)
    async with running(make_config({"a": {"command": cmd}})) as (engine, _):
        api = HttpApi(engine, "127.0.0.1:0")
        await api.start()
        try:
            # Ten clients that connect and say nothing, one that sends garbage, one huge head.
            idle = [await asyncio.open_connection("127.0.0.1", api.port) for _ in range(10)]
            _, garbage = await asyncio.open_connection("127.0.0.1", api.port)
            garbage.write(b"\x00\xff garbage\r\n\r\n")
            reader, huge = await asyncio.open_connection("127.0.0.1", api.port)
            huge.write(b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 431")
            status, _, _ = await get(api.port, "/health")
            assert status == 200
            for _, writer in idle:
                writer.close()
            garbage.close()
            huge.close()
        finally:
            await api.close()


class Receiver:
    """A local webhook receiver (the Slack stand-in)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                outer.paths.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def alert_config(tmp_path: Path, strategies: str, alerts: str) -> Path:
    path = tmp_path / "tui-monitor.toml"
    path.write_text(strategies + alerts)
    return path


async def test_webhook_receives_fatal_alert(tmp_path: Path, receiver: Receiver) -> None:
    from tui_monitor.config import load_config

    cmd = script(tmp_path, "crash", CRASHER)
    path = alert_config(
        tmp_path,
        f"[strategies.a]\ncommand = {json.dumps(cmd)}\nmax_restarts = 1\nrestart_delay = 0\n"
        "heartbeat_timeout = 0\n",
        f'[[alerts]]\nname = "slack"\non = ["fatal"]\n'
        f'webhook = "http://127.0.0.1:{receiver.port}/services/T0/B0/SECRET"\n',
    )
    async with running(load_config(path)) as (_, _):
        await wait_for(lambda: any(b["event"] == "fatal" for b in receiver.bodies), timeout=10)
        fatal = next(b for b in receiver.bodies if b["event"] == "fatal")
        assert fatal["strategy"] == "a" and fatal["alert"] == "slack"
        assert "text" in fatal and "fatal" in fatal["text"]  # Slack incoming webhooks read "text"
        assert receiver.paths[0] == "/services/T0/B0/SECRET"
        assert len(receiver.bodies) == 1


async def test_alert_rate_limit_and_failing_command(tmp_path: Path, receiver: Receiver) -> None:
    from tui_monitor.config import load_config

    crash = script(tmp_path, "crash", CRASHER)
    sleeper = script(tmp_path, "s", SLEEPER)
    path = alert_config(
        tmp_path,
        f"[strategies.a]\ncommand = {json.dumps(crash)}\nmax_restarts = 20\nrestart_delay = 0.05\n"
        f"heartbeat_timeout = 0\n[strategies.b]\ncommand = {json.dumps(sleeper)}\n",
        f'[[alerts]]\nname = "hook"\non = ["restart"]\nmin_interval = 60\n'
        f'webhook = "http://127.0.0.1:{receiver.port}/hook"\n'
        f'[[alerts]]\nname = "hangs"\non = ["restart"]\nretries = 0\ntimeout = 0.3\n'
        f'command = [{json.dumps(PYTHON)}, "-c", "import time; time.sleep(30)"]\n'
        f'[[alerts]]\nname = "fails"\non = ["restart"]\nretries = 1\nmin_interval = 0\n'
        f'command = [{json.dumps(PYTHON)}, "-c", "raise SystemExit(3)"]\n',
    )
    async with running(load_config(path)) as (engine, rec):
        await wait_for(lambda: engine.runners["a"].total_restarts >= 5, timeout=10)
        await wait_for(
            lambda: any("alert hangs" in e.describe() for e in rec.of(Problem)), timeout=10
        )
        await wait_for(
            lambda: any("alert fails" in e.describe() for e in rec.of(Problem)), timeout=10
        )
        # Rate limited: many restarts, one webhook delivery.
        assert len(receiver.bodies) == 1
        hangs = next(e.describe() for e in rec.of(Problem) if "alert hangs" in e.describe())
        assert "did not finish within 0.3 s" in hangs
        # Supervision went on undisturbed.
        assert engine.runners["b"].state is S.RUNNING


async def test_webhook_secret_never_logged(tmp_path: Path) -> None:
    from tui_monitor.config import load_config

    crash = script(tmp_path, "crash", CRASHER)
    path = alert_config(
        tmp_path,
        f"[strategies.a]\ncommand = {json.dumps(crash)}\nmax_restarts = 0\nheartbeat_timeout = 0\n",
        '[[alerts]]\non = ["fatal"]\nretries = 0\ntimeout = 1\n'
        'webhook = "http://127.0.0.1:9/services/TOKEN-SHOULD-NOT-LEAK"\n',
    )
    async with running(load_config(path)) as (_, rec):
        await wait_for(lambda: any("alert alert-1" in e.describe() for e in rec.of(Problem)))
        message = next(e.describe() for e in rec.of(Problem) if "alert alert-1" in e.describe())
        assert "http://127.0.0.1/…" in message
    app_log = (tmp_path / "logs" / "app.log").read_text()
    assert "TOKEN-SHOULD-NOT-LEAK" not in app_log
    assert "alert alert-1: webhook" in app_log


async def test_host_serves_http_when_configured(tmp_path: Path, make_config) -> None:
    import socket

    from tui_monitor.host import SupervisorHost

    with socket.socket() as probe:  # a free port for the configuration
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = script(tmp_path, "s", SLEEPER)
    host = SupervisorHost(
        make_config({"a": {"command": cmd}}, http=f"127.0.0.1:{port}"), subreaper=False
    )
    await host.start()
    try:
        await wait_for(lambda: host.engine.runners["a"].state is S.RUNNING)
        status, _, body = await get(port, "/health")
        assert status == 200 and json.loads(body)["status"] == "healthy"
    finally:
        await host.stop()
    with pytest.raises(OSError):
        await get(port, "/health")  # closed with the supervisor


def test_unwatched_sweeps_carry_the_strategies_usage_over(tmp_path: Path) -> None:
    from tui_monitor.metrics import Sampler

    child = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(30)"])
    try:
        sampler = Sampler([tmp_path])
        first = sampler.sample({"a": child.pid})
        assert first.strategies["a"].processes == 1 and first.strategies["a"].rss > 0
        carried = sampler.sample({"a": child.pid}, per_strategy=False)
        assert carried.strategies["a"] is first.strategies["a"]
        assert sampler.sample({}, per_strategy=False).strategies == {}  # it stopped meanwhile
    finally:
        child.kill()
        child.wait()


async def test_a_view_asking_for_metrics_gets_a_fresh_sweep_at_once(
    tmp_path: Path, make_config
) -> None:
    from tui_monitor.monitoring import MetricsLoop

    config = make_config({}, metrics_interval=60)
    samples: list[object] = []
    loop = MetricsLoop(config.monitor, dict, samples.append)
    loop.start()
    try:
        await wait_for(lambda: len(samples) == 1)
        loop.watched()  # long before the 60 s interval is up
        await wait_for(lambda: len(samples) == 2)
        loop.watched()  # already watched: no extra sweep
        await asyncio.sleep(0.2)
        assert len(samples) == 2
    finally:
        await loop.close()


async def test_nobody_watching_slows_the_sampling_down(tmp_path: Path, make_config) -> None:
    from tui_monitor.monitoring import UNWATCHED_SLOWER, MetricsLoop

    config = make_config({}, metrics_interval=0.04)
    samples: list[object] = []
    loop = MetricsLoop(config.monitor, dict, samples.append)
    loop.start()
    try:
        await asyncio.sleep(0.8)  # unwatched: a sweep every 0.2 s
        unwatched = len(samples)
        loop.watched()
        await asyncio.sleep(0.8)  # watched: every 0.04 s
        watched = len(samples) - unwatched
        assert unwatched <= 0.8 / (0.04 * UNWATCHED_SLOWER) + 2
        assert watched >= 2 * unwatched
    finally:
        await loop.close()
