"""`tui-monitor logs`: the files, with or without a running supervisor; filters; following."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import running, script, wait_for, write_config
from tui_monitor.cli import main
from tui_monitor.logfiles import Follower, last_lines, show


def config_with_files(tmp_path: Path) -> Path:
    config = write_config(tmp_path, {"alpha": {"command": ["/bin/true"]}})
    folder = tmp_path / "logs" / "strategies"
    folder.mkdir(parents=True)
    (folder / "alpha.log.2").write_text("one\n")
    (folder / "alpha.log.1").write_text("two\n")
    order = json.dumps({"type": "order", "level": "INFO", "msg": "BUY 10"})
    (folder / "alpha.log").write_text(f"three\n{order}\nERROR boom \x1b[31mred\n")
    (folder / "alpha.err.log").write_text("Traceback (most recent call last):\n")
    (tmp_path / "logs" / "app.log").write_text(
        "2026-01-01 00:00:00.000 | INFO     | system   | supervisor | started\n"
        "2026-01-01 00:00:01.000 | WARNING  | strategy | alpha | alpha: no heartbeat for 5 s\n"
    )
    return config


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = main(args)
    return code, capsys.readouterr().out.splitlines()


def test_strategy_lines_across_rotations_without_a_supervisor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_with_files(tmp_path))
    code, lines = run(["logs", "alpha", "-c", config], capsys)
    assert code == 0
    assert lines[:3] == ["out│ one", "out│ two", "out│ three"]
    assert lines[-1] == "err│ Traceback (most recent call last):"
    assert "out│ ERROR boom ␛[31mred" in lines  # the escape is shown, never sent
    assert not any("\x1b" in line for line in lines)


def test_filters_by_level_and_type(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(config_with_files(tmp_path))
    _, lines = run(["logs", "alpha", "-c", config, "--type", "order"], capsys)
    assert lines == ['out│ {"type": "order", "level": "INFO", "msg": "BUY 10"}']
    _, lines = run(["logs", "alpha", "-c", config, "--level", "error"], capsys)
    assert lines == ["out│ ERROR boom ␛[31mred", "err│ Traceback (most recent call last):"]
    _, lines = run(["logs", "-c", config, "--level", "WARNING"], capsys)
    assert len(lines) == 1 and "no heartbeat" in lines[0]
    _, lines = run(["logs", "-c", config, "-n", "1"], capsys)
    assert len(lines) == 1 and "no heartbeat" in lines[0]


def test_unknown_strategy_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(config_with_files(tmp_path))
    assert main(["logs", "nope", "-c", config]) == 1
    assert "unknown strategy 'nope' (known: alpha)" in capsys.readouterr().err
    assert main(["logs", "alpha", "-c", config, "--level", "LOUD"]) == 2


def test_follow_sees_appends_and_rotation(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("old\n")
    follower = Follower(path)
    assert follower.read() == []  # starts at the end, like tail -f
    with open(path, "a") as f:
        f.write("new 1\nnew")
    assert follower.read() == [b"new 1"]
    with open(path, "a") as f:
        f.write(" 2\n")
    assert follower.read() == [b"new 2"]
    path.rename(tmp_path / "x.log.1")  # rotation: a new file appears under the name
    (tmp_path / "x.log").write_text("after rotation\n")
    assert follower.read() == [b"after rotation"]
    assert last_lines(path, 10) == [b"old", b"new 1", b"new 2", b"after rotation"]


async def test_logs_of_a_running_supervisor(tmp_path: Path, make_config) -> None:
    cmd = script(
        tmp_path,
        "talk",
        "import time\nwhile True:\n    print('hello', flush=True)\n    time.sleep(0.05)\n",
    )
    cfg = make_config({"talk": {"command": cmd}})
    async with running(cfg) as (engine, _):
        await wait_for(lambda: len(engine.log_lines("talk")) >= 2)
        out: list[str] = []
        stop = threading.Event()
        thread = threading.Thread(
            target=show,
            args=(cfg.monitor.log_dir, "talk"),
            kwargs={
                "count": 1,
                "follow": True,
                "level": None,
                "kind": None,
                "out": out.append,
                "stop": stop.is_set,
            },
        )
        thread.start()
        deadline = time.monotonic() + 5
        while len(out) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        thread.join(5)
        assert len(out) >= 4 and all(line == "out│ hello" for line in out)
