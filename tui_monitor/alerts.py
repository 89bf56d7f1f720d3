"""[[alerts]] rules: on events, run a command and/or POST JSON to a webhook (Slack-compatible).

Alerts are a courtesy, never a danger: each rule is rate limited, deliveries are retried with
backoff in the background, a failing or hanging command or webhook is logged and given up on, and
nothing here can block or crash supervision. Webhook URLs carry secrets (Slack's do): they are
never written to a log in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui_monitor import process
from tui_monitor.config import AlertRule
from tui_monitor.events import Event, HeartbeatMissed, StateChanged
from tui_monitor.health import HealthReport
from tui_monitor.states import StrategyState

BACKOFF_BASE = 1.0


@dataclass(frozen=True)
class Alert:
    event: str  # one of config.ALERT_EVENTS
    message: str
    strategy: str | None = None


def alerts_for_event(event: Event) -> list[Alert]:
    """Which alert events an engine event is."""
    if isinstance(event, HeartbeatMissed):
        return [Alert("heartbeat_missed", event.describe(), event.strategy)]
    if not isinstance(event, StateChanged):
        return []
    if event.new is StrategyState.FATAL:
        return [
            Alert("fatal", event.describe(), event.strategy),
            Alert(
                "job_failed",
                f"job strategy_{event.strategy} failed: {event.reason}",
                event.strategy,
            ),
        ]
    if event.new is StrategyState.STARTING and event.reason.startswith("restarted after"):
        return [Alert("restart", event.describe(), event.strategy)]
    if event.new is StrategyState.EXITED and "restart = never" in event.reason:
        return [Alert("job_failed", event.describe(), event.strategy)]
    return []


def redact(url: str) -> str:
    """scheme://host/… — enough to recognise the target, nothing of the token in its path."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}/…"


class Alerter:
    def __init__(
        self,
        rules: tuple[AlertRule, ...],
        log_dir: Path,
        report: Callable[[str, str], None],
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """`report(level, message)` tells the engine about deliveries that failed."""
        self.rules = rules
        self.log_dir = log_dir
        self._report = report
        self._now = now
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._health_status = "healthy"
        self._health_codes: set[str] = set()
        self.sent: list[tuple[str, str]] = []  # (rule, event) delivered, for views and tests

    # ---- inputs -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        for alert in alerts_for_event(event):
            self.fire(alert)

    def on_health(self, report: HealthReport) -> None:
        """Health transitions and new memory/disk reasons become alerts."""
        messages = "; ".join(r.message for r in report.reasons) or "all good"
        if report.status != self._health_status:
            name = "recovered" if report.status == "healthy" else report.status
            self.fire(Alert(name, f"health {self._health_status} -> {report.status}: {messages}"))
            self._health_status = report.status
        codes = {r.code for r in report.reasons}
        for code in ("memory", "disk"):
            if code in codes and code not in self._health_codes:
                reason = next(r.message for r in report.reasons if r.code == code)
                self.fire(Alert(code, reason))
        self._health_codes = codes

    # ---- firing -------------------------------------------------------------------------------

    def fire(self, alert: Alert) -> None:
        for rule in self.rules:
            if alert.event not in rule.on:
                continue
            if rule.strategies and alert.strategy not in rule.strategies:
                continue
            now = self._now()
            last = self._last.get(rule.name)
            if last is not None and now - last < rule.min_interval:
                self._suppressed[rule.name] = self._suppressed.get(rule.name, 0) + 1
                continue
            self._last[rule.name] = now
            suppressed = self._suppressed.pop(rule.name, 0)
            task = asyncio.get_running_loop().create_task(self._deliver(rule, alert, suppressed))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def payload(self, rule: AlertRule, alert: Alert, suppressed: int) -> dict[str, Any]:
        host = socket.gethostname()
        where = f" [{alert.strategy}]" if alert.strategy else ""
        return {
            "text": f"tui-monitor on {host}: {alert.event}{where}: {alert.message}",
            "alert": rule.name,
            "event": alert.event,
            "strategy": alert.strategy,
            "message": alert.message,
            "host": host,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "suppressed_since_last": suppressed,
        }

    async def _deliver(self, rule: AlertRule, alert: Alert, suppressed: int) -> None:
        body = self.payload(rule, alert, suppressed)
        if rule.command:
            await self._retrying(rule, "command", lambda: self._run_command(rule, body))
        if rule.webhook:
            await self._retrying(
                rule, f"webhook {redact(rule.webhook)}", lambda: self._post(rule, body)
            )
        self.sent.append((rule.name, alert.event))

    async def _retrying(self, rule: AlertRule, what: str, attempt: Callable[[], Any]) -> None:
        for n in range(rule.retries + 1):
            try:
                await attempt()
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if n == rule.retries:
                    self._report(
                        "WARNING", f"alert {rule.name}: {what} failed after {n + 1} tries ({error})"
                    )
                    return
                await asyncio.sleep(BACKOFF_BASE * 2**n)

    async def _run_command(self, rule: AlertRule, body: dict[str, Any]) -> None:
        assert rule.command is not None
        env = dict(os.environ)
        env.update(
            TUI_MONITOR_ALERT=rule.name,
            TUI_MONITOR_ALERT_EVENT=body["event"],
            TUI_MONITOR_ALERT_STRATEGY=body["strategy"] or "",
            TUI_MONITOR_ALERT_MESSAGE=body["message"],
            TUI_MONITOR_ALERT_JSON=json.dumps(body),
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = os.open(self.log_dir / "alerts.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            child = process.spawn(rule.command, cwd=self.log_dir, env=env, stdout=out, stderr=out)
        finally:
            os.close(out)
        try:
            code = await asyncio.wait_for(asyncio.shield(child.exited), rule.timeout)
        except TimeoutError:
            child.signal_group(signal.SIGKILL)
            await child.exited
            raise TimeoutError(f"command did not finish within {rule.timeout:g} s") from None
        if code != 0:
            raise RuntimeError(f"command exited with {code}")

    async def _post(self, rule: AlertRule, body: dict[str, Any]) -> None:
        assert rule.webhook is not None
        data = json.dumps(body).encode()

        def post() -> None:
            request = urllib.request.Request(
                rule.webhook,  # type: ignore[arg-type]
                data=data,
                headers={"Content-Type": "application/json", "User-Agent": "tui-monitor"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=rule.timeout) as response:
                    response.read(1024)
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"HTTP {exc.code}") from None
            except urllib.error.URLError as exc:
                raise RuntimeError(f"cannot reach the webhook ({exc.reason})") from None

        await asyncio.to_thread(post)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
