"""Promises 3 and 4 with hostile strategy output through the engine: markup, ANSI and OSC escape
sequences, C0 and C1 control characters, invalid UTF-8, NUL, a 10 MB line, a line without an end,
and a million tiny lines. The log files hold exactly the bytes written; the engine's tail
(`engine.log_lines`, what every view reads) stays bounded in lines and characters, and the process
does not balloon; `tui-monitor logs` shows it all without a raw control character. (The dashboard
panels are tested by the dashboard's owner.)"""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from tests.conftest import running, script, wait_for
from tui_monitor import cli
from tui_monitor.control import protocol
from tui_monitor.logline import MAX_LINE_CHARS
from tui_monitor.states import StrategyState as S
from tui_monitor.view import LocalView

HOSTILE = [
    b"\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J\x1b[H cleared?",
    b"[bold]markup[/bold] [@click=app.quit]quit[/] [link=file:///etc/passwd]x[/link]",
    b"<red>{0}</red> {message} %s %(x)s",
    b"C0 \x01\x02\x07\x08\x0b\x0c\x0e\x1f and C1 \xc2\x85 \xc2\x9b31m \xc2\x9d8;;x",
    b"invalid \xff\xfe\xc3\x28 \xed\xa0\x80 utf-8",
    b"nul \x00 in the middle \x00",
    b"cr \r overwrite",
    b"bidi \xe2\x80\xae reversed \xe2\x80\xac",
    b'{"level": "ERROR", "type": "order", "msg": "\\u001b[31mjson escape\\u001b[0m"}',
]
MILLION = 1_000_000
BIG = 10 * 1024 * 1024


def payload() -> bytes:
    parts = [line + b"\n" for line in HOSTILE]
    parts.append(b"L" * BIG + b"\n")
    parts.append(b"t\n" * MILLION)
    parts += [line + b"\n" for line in HOSTILE]
    parts.append(b"no newline at the end \x1b[5m")
    return b"".join(parts)


def no_controls(text: str) -> bool:
    return not [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.timeout(60)
async def test_hostile_output_is_exact_on_disk_and_bounded_in_memory(
    tmp_path: Path, make_config, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = payload()
    source = tmp_path / "payload.bin"
    source.write_bytes(expected)
    cmd = script(
        tmp_path,
        "hostile",
        f"""
        import sys, time
        data = open({str(source)!r}, "rb").read()
        out = sys.stdout.buffer
        for i in range(0, len(data), 1 << 16):  # at full speed, in pieces that cut lines
            out.write(data[i : i + (1 << 16)])
        out.flush()
        with open({str(tmp_path / "done")!r}, "w"):
            pass
        time.sleep(60)
        """,
    )
    config = make_config({"hostile": {"command": cmd}})
    me = psutil.Process()
    async with running(config) as (engine, _):
        rss = me.memory_info().rss
        output = engine.runners["hostile"].output
        await wait_for((tmp_path / "done").exists, timeout=30)
        await wait_for(lambda: output.bytes_written == len(expected), timeout=30)
        grown = me.memory_info().rss - rss

        lines = engine.log_lines("hostile", 0, 10**6)
        assert 0 < len(lines) <= 2000  # the tail is bounded in lines...
        assert all(len(line.text) <= MAX_LINE_CHARS + 1 for line in lines)  # ...and in size
        assert sum(len(line.text) for line in lines) < 2000 * (MAX_LINE_CHARS + 1)
        assert output.lines_seen == expected.count(b"\n")
        merged = engine.log_lines(None, 0, 500)
        assert 0 < len(merged) <= 500
        # Everything a view gets is plain JSON the control socket can send.
        view_lines = await LocalView(engine).log_lines("hostile", 0, 2000)
        assert all(protocol.encode({"v": 1, "line": line}) for line in view_lines)
        await engine.stop_strategy("hostile")
        assert engine.runners["hostile"].state is S.STOPPED
        tail = [line.text for line in engine.log_lines("hostile", 0, 10**6)]
        assert tail[-1] == "no newline at the end \x1b[5m"  # kept as data; views defuse it
    assert grown < 64 * 2**20, f"the supervisor grew by {grown / 2**20:.0f} MB"
    log = tmp_path / "logs" / "strategies" / "hostile.log"
    assert log.read_bytes() == expected  # byte-exact

    # The command line shows the same lines with every control character made visible.
    capsys.readouterr()
    assert cli.main(["logs", "hostile", "-n", "40", "--config", str(config.path)]) == 0
    shown = capsys.readouterr().out
    assert "no newline at the end" not in shown or "␛[5m" in shown
    assert no_controls(shown), [line for line in shown.splitlines() if not no_controls(line)][:3]
    assert "␛[31mred" in shown and "[bold]markup[/bold]" in shown
    assert json.dumps(shown)  # and it is text
