"""The optional read-only HTTP endpoint: health for external monitors, metrics for Prometheus.

Off by default; `[monitor] http = "127.0.0.1:9300"` turns it on (loopback unless told otherwise).
A tiny HTTP/1.1 server on asyncio: one request per connection, a 5 s deadline and an 8 KiB limit
for the request head, a cap on concurrent connections — a slow or malicious client cannot stall
the supervisor. Every answer is JSON except /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from tui_monitor import prom
from tui_monitor.health import HealthReport
from tui_monitor.metrics import MetricsSample
from tui_monitor.snapshot import EngineSnapshot

HEAD_LIMIT = 8192
HEAD_TIMEOUT = 5.0
MAX_CONNECTIONS = 64


class Source(Protocol):
    def snapshot(self) -> EngineSnapshot: ...
    def health(self, snapshot: EngineSnapshot | None = None) -> HealthReport: ...
    def metrics(self) -> MetricsSample | None: ...


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class HttpApi:
    def __init__(self, source: Source, address: str) -> None:
        self.source = source
        self.host, self.port = parse_address(address)
        self._server: asyncio.Server | None = None
        self._active = 0
        routes: dict[str, Callable[[], tuple[int, str, bytes]]] = {
            "/health": self._health,
            "/health/detailed": self._detailed,
            "/metrics": self._metrics,
            "/api/v1/health": self._health,
            "/api/v1/health/detailed": self._detailed,
            "/api/v1/health/metrics": self._metrics,
            "/api/v1/monitoring/strategies": self._strategies,
            "/api/v1/monitoring/jobs": self._jobs,
        }
        self.routes = routes

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=HEAD_LIMIT
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]  # when 0 was asked for (tests)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # ---- answers ------------------------------------------------------------------------------

    @staticmethod
    def _json(status: int, body: Any) -> tuple[int, str, bytes]:
        return status, "application/json", json.dumps(body, indent=1).encode() + b"\n"

    @classmethod
    def error(cls, status: HTTPStatus, message: str) -> tuple[int, str, bytes]:
        return cls._json(status.value, {"error": {"type": status.phrase, "message": message}})

    def _health(self) -> tuple[int, str, bytes]:
        report = self.source.health()
        body = {
            "status": report.status,
            "reasons": [r.message for r in report.reasons],
            "version": report.version,
            "uptime": round(report.uptime, 3),
        }
        return self._json(200 if report.healthy else 503, body)

    def _detailed(self) -> tuple[int, str, bytes]:
        snap = self.source.snapshot()
        report = self.source.health(snap)
        metrics = self.source.metrics()
        body = {
            **report.to_dict(),
            "system": metrics.to_dict() if metrics else None,
            "strategies": [s.to_dict() for s in snap.strategies],
            "jobs": snap.job_counts,
        }
        return self._json(200 if report.healthy else 503, body)

    def _metrics(self) -> tuple[int, str, bytes]:
        snap = self.source.snapshot()
        text = prom.render(snap, self.source.health(snap), self.source.metrics())
        return 200, "text/plain; version=0.0.4; charset=utf-8", text

    def _strategies(self) -> tuple[int, str, bytes]:
        return self._json(200, [s.to_dict() for s in self.source.snapshot().strategies])

    def _jobs(self) -> tuple[int, str, bytes]:
        snap = self.source.snapshot()
        return self._json(
            200, {"counts": snap.job_counts, "jobs": [j.to_dict() for j in snap.jobs]}
        )

    def answer(self, method: str, target: str) -> tuple[int, str, bytes]:
        path = target.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        if method not in ("GET", "HEAD"):
            return self.error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only endpoint: GET only")
        route = self.routes.get(path)
        if route is None:
            return self.error(HTTPStatus.NOT_FOUND, f"no such path; try {', '.join(self.routes)}")
        return route()

    # ---- the connection -------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._active += 1
        try:
            if self._active > MAX_CONNECTIONS:
                return
            method, (status, ctype, body) = await self._respond(reader)
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\nCache-Control: no-store\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.drain(), HEAD_TIMEOUT)
        except Exception:  # a broken client must never hurt the supervisor
            pass
        finally:
            self._active -= 1
            writer.close()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[str, tuple[int, str, bytes]]:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
        except TimeoutError:
            return "GET", self.error(
                HTTPStatus.REQUEST_TIMEOUT, "request head not received in time"
            )
        except asyncio.LimitOverrunError:
            return "GET", self.error(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head too large"
            )
        except asyncio.IncompleteReadError:
            return "GET", self.error(HTTPStatus.BAD_REQUEST, "incomplete request")
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return "GET", self.error(HTTPStatus.BAD_REQUEST, "malformed request line")
        try:
            return parts[0], self.answer(parts[0], parts[1])
        except Exception as exc:  # the engine's answer failed: say so, in the one error shape
            return parts[0], self.error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}"
            )
