"""Shared test helpers: configurations written to real files, strategies as real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tui_monitor.config import Config, load_config
from tui_monitor.engine import Engine
from tui_monitor.events import Event

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    raise TypeError(value)


def write_config(
    folder: Path, strategies: dict[str, dict[str, Any]], monitor: dict[str, Any] | None = None
) -> Path:
    """Write a tui-monitor.toml; `strategies` maps names to their keys."""
    lines = ["[monitor]"]
    for key, value in (monitor or {}).items():
        lines.append(f"{key} = {toml_value(value)}")
    for name, keys in strategies.items():
        lines.append(f"\n[strategies.{name}]")
        for key, value in keys.items():
            lines.append(f"{key} = {toml_value(value)}")
    path = folder / "tui-monitor.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def script(folder: Path, name: str, body: str) -> list[str]:
    """A Python strategy file; returns its command."""
    path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return [PYTHON, str(path)]


#: Fast defaults for tests: everything in fractions of a second.
FAST = {
    "heartbeat_timeout": 0,
    "restart_delay": 0.05,
    "start_seconds": 0.1,
    "stop_timeout": 1,
}


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    def make(strategies: dict[str, dict[str, Any]], **monitor: Any) -> Config:
        merged = {name: {**FAST, **keys} for name, keys in strategies.items()}
        return load_config(write_config(tmp_path, merged, monitor))

    return make


async def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.01) -> Any:
    """Poll `predicate` until it is truthy (test helper only; the engine itself never polls)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


def wait_for_sync(predicate: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


def alive(pid: int) -> bool:
    """True if `pid` runs and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pids_in_file(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().split()]


@pytest.fixture
def same_screen_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For screens compared across machines: UTC for every time shown, and no environment that
    changes colours or animations."""
    for name in ("NO_COLOR", "TEXTUAL_COLOR_SYSTEM", "TEXTUAL_ANIMATIONS", "TEXTUAL_THEME"):
        monkeypatch.delenv(name, raising=False)
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run their own supervisors; one inherited from a parent must not confuse them."""
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "TUI_MONITOR_FD"):
        monkeypatch.delenv(key, raising=False)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")


class Recorder:
    """Every event an engine publishes, in order."""

    def __init__(self, engine: Engine) -> None:
        self.events: list[Event] = []
        engine.bus.add_listener(self.events.append)

    def states(self, name: str) -> list[Any]:
        return [
            e.new for e in self.events if getattr(e, "kind", "") == "state" and e.strategy == name
        ]

    def of(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def __iter__(self):
        return iter(self.events)


@contextlib.asynccontextmanager
async def running(config: Config, **engine_args: Any) -> AsyncIterator[tuple[Engine, Recorder]]:
    """A started engine (real processes) that is always shut down."""
    engine = Engine(config, **engine_args)
    recorder = Recorder(engine)
    await engine.start()
    try:
        yield engine, recorder
    finally:
        await engine.shutdown()
