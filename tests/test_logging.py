"""The supervisor's log (loguru), strategy output through the engine, and the event history."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PYTHON, ROOT, running, script, wait_for
from tui_monitor.applog import get_logger
from tui_monitor.events import ProcessExited
from tui_monitor.states import StrategyState as S

HOSTILE = b"\x1b[31mred\x1b[0m [bold]bold[/] [@click=app.quit]quit[/] \xff\xfe bad \x00 nul"


async def test_last_lines_before_a_crash_reach_the_file(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "crash",
        """
        import os, sys
        for i in range(5000):
            sys.stdout.write(f"line {i}\\n")
        sys.stdout.write("last words\\n")
        sys.stdout.flush()
        sys.stderr.write("dying now\\n")
        sys.stderr.flush()
        os._exit(7)
        """,
    )
    cfg = make_config({"c": {"command": cmd, "max_restarts": 0}})
    async with running(cfg) as (engine, rec):
        await wait_for(lambda: rec.of(ProcessExited))
        out = (cfg.monitor.log_dir / "strategies" / "c.log").read_text()
        err = (cfg.monitor.log_dir / "strategies" / "c.err.log").read_text()
        assert out.splitlines()[-1] == "last words" and len(out.splitlines()) == 5001
        assert err == "dying now\n"
        tail = engine.log_lines("c", after=0, limit=10_000)
        assert tail[-1].text == "dying now" or tail[-1].text == "last words"
        assert {line.stream for line in tail} == {"stdout", "stderr"}


async def test_json_lines_are_recognised(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "j",
        """
        import time
        from tui_monitor import client
        client.log("BUY 10 005930 @ 71,200", type="order")
        client.log("careful", level="warning")
        print("plain line", flush=True)
        time.sleep(60)
        """,
    )
    async with running(make_config({"j": {"command": cmd}})) as (engine, _):
        await wait_for(lambda: len(engine.log_lines("j")) == 3)
        order, warning, plain = engine.log_lines("j")
        assert (order.type, order.level, order.text, order.structured) == (
            "order",
            "INFO",
            "BUY 10 005930 @ 71,200",
            True,
        )
        assert warning.level == "WARNING" and warning.type == "strategy"
        assert plain.text == "plain line" and not plain.structured
        everyone = engine.log_lines(None)
        assert [line.text for line in everyone][-3:] == [order.text, warning.text, plain.text]


async def test_hostile_output_is_byte_exact_in_files_and_capped_in_memory(
    tmp_path: Path, make_config
) -> None:
    parts = [HOSTILE + b"\n", b"x" * (10 * 1024 * 1024) + b"\n", HOSTILE + b"\n"]
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"".join(parts))
    cmd = script(
        tmp_path,
        "h",
        f"""
        import sys, time
        # Apart in time: the tail samples the end of each burst, the file keeps everything.
        for part in {parts!r}:
            sys.stdout.buffer.write(part)
            sys.stdout.flush()
            time.sleep(0.3)
        time.sleep(60)
        """,
    )
    async with running(make_config({"h": {"command": cmd}})) as (engine, _):
        await wait_for(lambda: len(engine.log_lines("h")) >= 3, timeout=10)
        await engine.stop_strategy("h")
        lines = engine.log_lines("h")
        assert lines[0].text.startswith("\x1b[31mred")  # kept as data; views escape it
        assert "[@click=app.quit]" in lines[0].text and "\ufffd" in lines[0].text
        assert lines[-1].text == lines[0].text
        assert all(len(line.text) <= 2001 for line in lines)
        assert engine.runners["h"].state is S.STOPPED
    assert (
        cfg_log := tmp_path / "logs" / "strategies" / "h.log"
    ).read_bytes() == payload.read_bytes()
    assert cfg_log.stat().st_size > 10 * 1024 * 1024


async def test_app_log_has_types_and_rotates_with_backups(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "c", "import sys\nsys.exit(1)\n")
    cfg = make_config(
        {"c": {"command": cmd, "max_restarts": 400, "restart_delay": 0}},
        app_log_max_bytes=4000,
        app_log_backups=2,
    )
    async with running(cfg) as (engine, _):
        get_logger("tests", "order").warning("an order-type record")
        await wait_for(lambda: engine.runners["c"].total_restarts >= 60, timeout=30)
    logs = cfg.monitor.log_dir
    assert (logs / "app.log.1").exists() and (logs / "app.log.2").exists()
    assert not (logs / "app.log.3").exists()
    text = "".join((logs / n).read_text() for n in ("app.log.2", "app.log.1", "app.log"))
    assert "| strategy | c | c: " in text
    assert "| system   | supervisor | supervisor" in text or "| system " in text


def test_get_logger_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="log type must be one of"):
        get_logger("x", "trade")


async def test_warnings_reach_the_event_history(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", "import time\ntime.sleep(60)\n")
    async with running(make_config({"s": {"command": cmd}})) as (engine, _):
        get_logger("tests", "order").warning("order rejected by the exchange")
        get_logger("tests").info("not kept: below WARNING")
        await asyncio.sleep(0.05)
        events = await engine.recent_events(None, 500)
        logs = [e for e in events if e.get("kind") == "log"]
        assert [e["message"] for e in logs] == ["order rejected by the exchange"]
        assert logs[0]["type"] == "order" and logs[0]["level"] == "WARNING"


async def test_engine_exception_goes_to_app_log_with_traceback(tmp_path: Path, make_config) -> None:
    cmd = script(tmp_path, "s", "import time\ntime.sleep(60)\n")
    cfg = make_config({"s": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: engine.runners["s"].state is S.RUNNING)

        async def broken() -> None:
            raise RuntimeError("injected failure in a task")

        asyncio.get_running_loop().create_task(broken())
        await asyncio.sleep(0.1)
        import gc

        gc.collect()  # an unretrieved task exception is reported when the task is collected
        await asyncio.sleep(0.1)
        assert engine.runners["s"].state is S.RUNNING
        events = await engine.recent_events(None, 200)
        assert any("injected failure" in (e.get("message") or "") for e in events)
    app_log = (cfg.monitor.log_dir / "app.log").read_text()
    assert "injected failure in a task" in app_log and "Traceback" in app_log


def test_nothing_reaches_the_terminal_without_the_console_sink(tmp_path: Path) -> None:
    """With the console sink off (the dashboard's case) loguru prints nothing to stderr."""
    config = tmp_path / "tui-monitor.toml"
    config.write_text(
        f'[strategies.s]\ncommand = ["{PYTHON}", "-c", "import sys; sys.exit(1)"]\n'
        "max_restarts = 1\nrestart_delay = 0\nheartbeat_timeout = 0\n"
    )
    code = textwrap.dedent(
        f"""
        import asyncio
        from tui_monitor.applog import get_logger
        from tui_monitor.config import load_config
        from tui_monitor.engine import Engine

        async def main():
            engine = Engine(load_config({str(config)!r}), console=False)
            await engine.start()
            get_logger("x").error("an error that must stay in app.log")
            await asyncio.sleep(0.5)
            await engine.shutdown()

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    assert "an error that must stay in app.log" in (tmp_path / "logs" / "app.log").read_text()
