"""A deterministic `SupervisorView` for dashboard snapshots: fixed strategies, jobs, health,
metrics, log lines, events and runs — no process, no clock, no randomness.

Every number is fixed (uptimes and heartbeat ages do not move), so a screenshot taken with the
app's clock injected (`NOW`) and the time zone set to UTC is the same on every machine, every run.
Commands are recorded in `calls` and change nothing, so a screen stays what the snapshot expects.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from tui_monitor.errors import UnknownName
from tui_monitor.view import EventStream, SupervisorView

Json = dict[str, Any]

NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
STARTED = NOW - 3 * 86400 - 4 * 3600 - 5 * 60  # the supervisor has been up 3d04h
HOSTNAME = "trading-box-01"


def _strategy(name: str, state: str, **over: Any) -> Json:
    s: Json = {
        "name": name,
        "job_id": f"strategy_{name}",
        "kind": "service",
        "state": state,
        "state_reason": "first heartbeat",
        "state_since": NOW - 3600,
        "pid": None,
        "uptime": None,
        "heartbeat_age": None,
        "heartbeat_timeout": 60.0,
        "heartbeat_message": None,
        "progress": None,
        "restarts": 0,
        "total_restarts": 0,
        "max_restarts": 5,
        "last_exit_code": None,
        "last_exit_signal": None,
        "last_error": None,
        "autostart": True,
        "next_start_in": None,
    }
    s.update(over)
    return s


def _job(strategy: str, status: str, **over: Any) -> Json:
    j: Json = {
        "job_id": f"strategy_{strategy}",
        "strategy": strategy,
        "status": status,
        "progress": None,
        "restart_count": 0,
        "runs": 1,
        "pid": None,
        "started_at": NOW - 7200,
        "updated_at": NOW - 5,
        "checkpoint_at": None,
        "has_checkpoint": False,
        "last_error": None,
        "resumable": status in ("paused", "interrupted", "failed"),
        "not_resumable_because": None,
    }
    j.update(over)
    if not j["resumable"] and j["not_resumable_because"] is None:
        j["not_resumable_because"] = {
            "running": "it is running",
            "completed": "it has completed",
        }.get(status, "not resumable")
    return j


STRATEGIES: list[Json] = [
    _strategy(
        "btc_arbitrage",
        "running",
        pid=41233,
        uptime=3 * 3600 + 12 * 60 + 5,
        heartbeat_age=4.2,
        heartbeat_message="spread 0.12% on 3 venues, 418 orders today",
        progress=0.42,
        restarts=1,
        total_restarts=1,
        last_exit_code=1,
        state_since=NOW - 11525,
    ),
    _strategy(
        "eth_market_maker",
        "running",
        pid=41240,
        uptime=86400 + 7200,
        heartbeat_age=41.0,  # 68 % of its timeout: yellow
        heartbeat_message="quoting 24 levels; inventory 1.8 ETH",
        progress=0.87,
    ),
    _strategy(
        "sol_momentum",
        "running",
        pid=41251,
        uptime=95.0,
        heartbeat_age=55.0,  # 92 %: red
        heartbeat_message="waiting for the 5 m candle",
        progress=0.05,
        restarts=3,
        total_restarts=7,
        last_exit_signal="SIGKILL",
    ),
    _strategy(
        "news_scraper",
        "backoff",
        state_reason="exit code 2; restarting in 30 s",
        restarts=4,
        total_restarts=4,
        last_exit_code=2,
        last_error="exit code 2: ConnectionResetError: [Errno 104] Connection reset by peer",
        next_start_in=30.0,
    ),
    _strategy(
        "risk_report",
        "fatal",
        state_reason="restarted 5 times within 600 s; gave up (last: exit code 1)",
        restarts=5,
        total_restarts=5,
        last_exit_code=1,
        last_error="restarted 5 times within 600 s; gave up (last: exit code 1)",
    ),
    _strategy(
        "backtest_2024",
        "exited",
        kind="task",
        state_reason="completed (exit code 0)",
        last_exit_code=0,
        progress=1.0,
        heartbeat_timeout=0.0,
    ),
    _strategy(
        "fx_carry",
        "stopped",
        state_reason="stopped by operator",
        autostart=False,
        last_exit_signal="SIGTERM",
    ),
]

JOBS: list[Json] = [
    _job(
        "btc_arbitrage",
        "running",
        progress=0.42,
        restart_count=1,
        runs=2,
        pid=41233,
        checkpoint_at=NOW - 3,
        has_checkpoint=True,
    ),
    _job(
        "eth_market_maker",
        "running",
        progress=0.87,
        pid=41240,
        checkpoint_at=NOW - 65,
        has_checkpoint=True,
    ),
    _job("sol_momentum", "running", progress=0.05, restart_count=3, runs=8, pid=41251),
    _job(
        "news_scraper",
        "interrupted",
        restart_count=4,
        runs=5,
        checkpoint_at=NOW - 1800,
        has_checkpoint=True,
        last_error="exit code 2: ConnectionResetError: [Errno 104] Connection reset by peer",
    ),
    _job(
        "risk_report",
        "failed",
        restart_count=5,
        runs=6,
        last_error="restarted 5 times within 600 s; gave up (last: exit code 1)",
    ),
    _job("backtest_2024", "completed", progress=1.0, checkpoint_at=NOW - 7000, has_checkpoint=True),
    _job(
        "fx_carry",
        "paused",
        progress=0.3,
        checkpoint_at=NOW - 2 * 86400,
        has_checkpoint=True,
    ),
]

CHECKPOINTS: dict[str, Json] = {
    "strategy_btc_arbitrage": {
        "position": {"BTC": 0.25, "USDT": 15250.0},
        "orders_today": 418,
        "last_fill": "2025-06-15T15:06:37Z",
        "venues": ["binance", "kraken", "coinbase"],
    },
}

REASONS: list[Json] = [
    {
        "severity": "unhealthy",
        "code": "fatal",
        "message": "risk_report is fatal: restarted 5 times within 600 s; gave up",
        "strategy": "risk_report",
    },
    {
        "severity": "degraded",
        "code": "backoff",
        "message": "news_scraper is restarting (exit code 2)",
        "strategy": "news_scraper",
    },
]

METRICS: Json = {
    "time": NOW - 1,
    "system": {
        "cpu_percent": 37.5,
        "per_cpu": [12.0, 55.0, 81.0, 97.0, 20.0, 35.0, 5.0, 60.0],
        "load": [2.15, 1.87, 1.42],
        "memory_total": 32 * 1024**3,
        "memory_used": int(24.5 * 1024**3),
        "memory_percent": 76.6,
        "swap_total": 4 * 1024**3,
        "swap_used": 0,
        "swap_percent": 0.0,
        "disks": [
            {
                "path": "/srv/tui/state",
                "total": 500 * 1024**3,
                "used": 1,
                "free": 1,
                "percent": 63.0,
            },
            {
                "path": "/srv/tui/logs",
                "total": 500 * 1024**3,
                "used": 1,
                "free": 1,
                "percent": 93.0,
            },
        ],
        "net_sent_per_s": 0.0,
        "net_recv_per_s": 0.0,
        "disk_read_per_s": 0.0,
        "disk_write_per_s": 0.0,
    },
    "supervisor": {
        "pid": 41200,
        "status": "sleeping",
        "threads": 7,
        "open_files": 31,
        "cpu_percent": 1.5,
        "rss": 58 * 1024**2,
        "uptime": NOW - STARTED,
    },
    "info": {
        "hostname": HOSTNAME,
        "platform": "Linux-6.8.0-x86_64-with-glibc2.39",
        "architecture": "x86_64",
        "python": "3.11.9",
        "boot_time": NOW - 30 * 86400,
        "host_uptime": 30 * 86400.0,
    },
    "strategies": {
        "btc_arbitrage": {"cpu_percent": 12.5, "rss": 96 * 1024**2, "processes": 1},
        "eth_market_maker": {"cpu_percent": 48.0, "rss": 310 * 1024**2, "processes": 2},
        "sol_momentum": {"cpu_percent": 0.4, "rss": 41 * 1024**2, "processes": 1},
    },
    "sweep_seconds": 0.01,
}

#: Ten minutes of history: a fixed wave, so sparklines have a shape.
HISTORY: list[Json] = [
    {
        "time": NOW - 600 + 2 * i,
        "cpu_percent": float((i * 7) % 60 + 10),
        "memory_percent": 70.0 + (i % 13) * 0.5,
        "swap_percent": 0.0,
        "load1": 1.5,
    }
    for i in range(300)
]


def _line(seq: int, offset: float, strategy: str, text: str, **over: Any) -> Json:
    line: Json = {
        "seq": seq,
        "time": NOW - offset,
        "strategy": strategy,
        "stream": "stdout",
        "level": "INFO",
        "type": "strategy",
        "text": text,
        "structured": False,
    }
    line.update(over)
    return line


LOG_LINES: list[Json] = [
    _line(1, 60, "eth_market_maker", "requoting 24 levels around 3412.50"),
    _line(2, 50, "btc_arbitrage", "order 418 filled: buy 0.01 BTC @ 104250.0", type="order"),
    _line(3, 45, "news_scraper", "connection reset by peer", level="ERROR", stream="stderr"),
    _line(4, 40, "btc_arbitrage", "spread 0.12% on 3 venues"),
    _line(5, 30, "sol_momentum", "volatility high, widening stops", level="WARNING"),
    _line(6, 25, "btc_arbitrage", "heartbeat latency 12 ms", level="DEBUG"),
    _line(7, 20, "btc_arbitrage", "order 419 sent: sell 0.01 BTC @ 104290.0", type="order"),
    _line(8, 10, "btc_arbitrage", "checkpoint saved (418 orders)"),
    _line(9, 5, "eth_market_maker", "inventory 1.8 ETH, skew +0.3"),
    _line(10, 3, "btc_arbitrage", "spread 0.11% on 3 venues"),
]

EVENTS: list[Json] = [  # newest last, as the view interface promises
    {
        "time": NOW - 11600,
        "strategy": "btc_arbitrage",
        "kind": "state",
        "level": "INFO",
        "text": "btc_arbitrage: stopped -> starting pid 41100 (autostart)",
    },
    {
        "time": NOW - 11530,
        "strategy": "btc_arbitrage",
        "kind": "exit",
        "level": "WARNING",
        "text": "btc_arbitrage: pid 41100 ended with exit code 1 after 70.0 s",
    },
    {
        "time": NOW - 11529,
        "strategy": "btc_arbitrage",
        "kind": "state",
        "level": "WARNING",
        "text": "btc_arbitrage: running -> backoff (exit code 1; restarting in 5 s)",
    },
    {
        "time": NOW - 11525,
        "strategy": "btc_arbitrage",
        "kind": "state",
        "level": "INFO",
        "text": "btc_arbitrage: backoff -> starting pid 41233 (restarted after exit code 1)",
    },
    {
        "time": NOW - 11520,
        "strategy": "btc_arbitrage",
        "kind": "state",
        "level": "INFO",
        "text": "btc_arbitrage: starting -> running pid 41233 (first heartbeat)",
    },
]

RUNS: list[Json] = [
    {
        "time": NOW - 11530,
        "strategy": "btc_arbitrage",
        "pid": 41100,
        "exit_code": 1,
        "signal": None,
        "expected": False,
        "runtime": 70.0,
        "reason": "crashed: KeyError 'bid' in on_tick",
        "started_at": NOW - 11600,
        "kind": "exit",
        "level": "WARNING",
        "text": "btc_arbitrage: pid 41100 ended with exit code 1 after 70.0 s",
        "job_id": "strategy_btc_arbitrage",
        "checkpoint": None,
    },
]


class _QuietStream(EventStream):
    """No live events: it waits until closed."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    async def __anext__(self) -> Json:
        await self._closed.wait()
        raise StopAsyncIteration

    async def close(self) -> None:
        self._closed.set()


class FakeView(SupervisorView):
    """Fixed data; commands are recorded, never applied."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def info(self) -> Json:
        return {
            "protocol": 1,
            "version": "0.1.0",
            "pid": 41200,
            "started_at": STARTED,
            "config_path": "/srv/tui/tui-monitor.toml",
            "state_dir": "/srv/tui/state",
            "log_dir": "/srv/tui/logs",
            "control_socket": "/srv/tui/state/control.sock",
            "ops": [],
        }

    async def snapshot(self) -> Json:
        counts = {"total": len(JOBS)}
        for status in ("running", "paused", "interrupted", "failed", "completed"):
            counts[status] = sum(1 for j in JOBS if j["status"] == status)
        return copy.deepcopy(
            {
                "version": "0.1.0",
                "pid": 41200,
                "started_at": STARTED,
                "uptime": NOW - STARTED,
                "config_path": "/srv/tui/tui-monitor.toml",
                "state_dir": "/srv/tui/state",
                "log_dir": "/srv/tui/logs",
                "job_counts": counts,
                "strategies": STRATEGIES,
                "jobs": JOBS,
            }
        )

    async def health(self, detailed: bool = False) -> Json:
        snap = await self.snapshot()
        report: Json = {
            "status": "unhealthy",
            "reasons": copy.deepcopy(REASONS),
            "version": "0.1.0",
            "uptime": NOW - STARTED,
            "checked_at": NOW - 1,
            "counts": snap["job_counts"],
        }
        if detailed:
            report["strategies"] = snap["strategies"]
            report["jobs"] = snap["jobs"]
            report["metrics"] = copy.deepcopy(METRICS)
            report["metrics_history"] = copy.deepcopy(HISTORY)
        return report

    async def events(self) -> EventStream:
        return _QuietStream()

    async def _command(self, op: str, arg: Any) -> Json:
        self.calls.append((op, arg))
        return {"strategy": None, "job": None}

    async def start(self, name: str, fresh: bool = False) -> Json:
        return await self._command("start", name)

    async def stop(self, name: str) -> Json:
        return await self._command("stop", name)

    async def restart(self, name: str) -> Json:
        return await self._command("restart", name)

    async def resume(self, job_id: str, fresh: bool = False) -> Json:
        return await self._command("resume", job_id)

    async def log_lines(self, name: str | None, after: int = 0, limit: int = 500) -> list[Json]:
        lines = [
            line
            for line in LOG_LINES
            if line["seq"] > after and (name is None or line["strategy"] == name)
        ]
        return copy.deepcopy(lines[:limit])

    async def job(self, job_id: str) -> Json:
        job = next((j for j in JOBS if j["job_id"] == job_id), None)
        if job is None:
            raise UnknownName("job", job_id, [j["job_id"] for j in JOBS])
        record = {k: job[k] for k in ("job_id", "strategy", "status", "progress", "runs")}
        record["checkpoint"] = CHECKPOINTS.get(job_id)
        record["checkpoint_at"] = job["checkpoint_at"]
        record["last_error"] = job["last_error"]
        return copy.deepcopy(record)

    async def runs(self, name: str | None = None, limit: int = 50) -> list[Json]:
        return copy.deepcopy([r for r in RUNS if name in (None, r["strategy"])][-limit:])

    async def recent_events(self, name: str | None = None, limit: int = 100) -> list[Json]:
        return copy.deepcopy([e for e in EVENTS if name in (None, e["strategy"])][-limit:])

    async def close(self) -> None:
        return None
