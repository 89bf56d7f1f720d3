"""`tui-monitor status|jobs|health|start|stop|restart|resume` against a real running supervisor
(`python -m tui_monitor run --no-ui`): tables, `--json` shapes, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, ROOT, script, wait_for_sync, write_config
from tests.test_control import FAST, HEARTBEATER, Supervisor, _stale_socket
from tui_monitor import cli

# Heartbeat messages are untrusted text: this one tries to clear the screen and set the title.
HOSTILE = HEARTBEATER.replace('f"tick {i}"', 'f"tick {i} \\x1b[2J\\x1b]0;pwned\\x07 done"')


@pytest.fixture(scope="module")
def sup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supervisor]:
    folder = tmp_path_factory.mktemp("cli")
    config = write_config(
        folder,
        {
            "alpha": {**FAST, "command": script(folder, "alpha", HOSTILE), "heartbeat_timeout": 5},
            "beta": {**FAST, "command": script(folder, "beta", HEARTBEATER)},
        },
    )
    supervisor = Supervisor(config).start()
    wait_for_sync(
        lambda: all(
            s["state"] == "running" and s["heartbeat_message"]
            for s in supervisor.ask("snapshot")["strategies"]
        ),
        timeout=10,
    )
    yield supervisor
    assert supervisor.stop() == 0


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


def where(sup: Supervisor) -> list[str]:
    return ["--config", str(sup.config_path)]


# ---- status, jobs, health ----------------------------------------------------------------------


def test_status_table(sup: Supervisor, capsys) -> None:
    code, out, err = run(capsys, "status", *where(sup))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"supervisor pid {sup.proc.pid}, up ")
    header = lines[1]
    for column in ("NAME", "STATE", "PID", "UPTIME", "HEARTBEAT", "RESTARTS", "LAST EXIT"):
        assert column in header
    alpha = next(line for line in lines if line.startswith("alpha "))
    assert " running " in alpha and "/5" in alpha
    # Columns are aligned: every row's STATE starts where the header's does.
    col = header.index("STATE")
    assert all(line[col - 2 : col] == "  " for line in lines[2:])
    # Untrusted text is shown, never obeyed.
    assert "\x1b" not in out and "\x07" not in out
    assert "␛[2J" in alpha and "pwned" in alpha


def test_status_json(sup: Supervisor, capsys) -> None:
    code, data = run_json(capsys, "status", *where(sup))
    assert code == 0
    assert set(data) == {"supervisor", "strategies"}
    assert tuple(data["supervisor"]) == cli.SUPERVISOR_FIELDS
    assert data["supervisor"]["pid"] == sup.proc.pid
    assert data["supervisor"]["config_path"] == str(sup.config_path)
    names = [s["name"] for s in data["strategies"]]
    assert names == ["alpha", "beta"]
    alpha = data["strategies"][0]
    assert tuple(alpha) == cli.STRATEGY_FIELDS
    assert alpha["job_id"] == "strategy_alpha" and alpha["max_restarts"] == 5
    assert isinstance(alpha["pid"], int) and alpha["heartbeat_timeout"] == 5
    assert "\x1b[2J" in alpha["heartbeat_message"]  # JSON carries the text as it is


def test_jobs(sup: Supervisor, capsys) -> None:
    code, out, _ = run(capsys, "jobs", *where(sup))
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "JOB", "STRATEGY", "STATUS", "PROGRESS", "RESTARTS", "UPDATED", "LAST", "ERROR",
    ]  # fmt: skip
    alpha = next(row for row in rows if row.startswith("strategy_alpha "))
    assert " alpha " in alpha and " 50% " in alpha and " ago" in alpha

    code, data = run_json(capsys, "jobs", *where(sup))
    assert code == 0 and set(data) == {"jobs", "counts"}
    job = next(j for j in data["jobs"] if j["job_id"] == "strategy_alpha")
    assert tuple(job) == cli.JOB_FIELDS
    assert job["strategy"] == "alpha" and job["progress"] == 0.5
    assert data["counts"]["total"] >= 2


def test_health_of_a_healthy_supervisor(sup: Supervisor, capsys) -> None:
    code, out, _ = run(capsys, "health", *where(sup))
    assert code == 0 and out.splitlines()[0] == "health: healthy"
    code, data = run_json(capsys, "health", *where(sup))
    assert code == 0
    assert set(data) == {"status", "reasons", "version", "uptime", "checked_at", "counts"}
    assert data["status"] == "healthy" and data["reasons"] == []
    code, data = run_json(capsys, "health", "--detailed", *where(sup))
    assert code == 0
    assert [s["name"] for s in data["strategies"]] == ["alpha", "beta"]
    assert tuple(data["strategies"][0]) == cli.STRATEGY_FIELDS
    code, out, _ = run(capsys, "health", "--detailed", *where(sup))
    assert code == 0 and "NAME" in out and "alpha" in out


def test_the_state_folder_finds_the_supervisor_too(sup: Supervisor, capsys) -> None:
    code, data = run_json(capsys, "status", "--state", str(sup.config.monitor.state_dir))
    assert code == 0 and data["supervisor"]["pid"] == sup.proc.pid


def test_the_default_configuration_in_the_working_directory(
    sup: Supervisor, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(sup.config_path.parent)
    code, data = run_json(capsys, "status")
    assert code == 0 and data["supervisor"]["pid"] == sup.proc.pid


# ---- commands ----------------------------------------------------------------------------------


def test_stop_start_restart_resume(sup: Supervisor, capsys) -> None:
    w = where(sup)
    code, out, err = run(capsys, "stop", "beta", *w)
    assert code == 0, err
    assert out.strip() == "beta: stop done: beta is stopped; job strategy_beta is paused"

    code, out, err = run(capsys, "stop", "beta", *w)  # already stopped: nothing to do, fine
    assert code == 0, err

    code, data = run_json(capsys, "resume", "strategy_beta", *w)
    assert code == 0
    assert set(data) == {"ok", "action", "strategy", "job"}
    assert data["ok"] is True and data["action"] == "resume"
    assert data["strategy"]["name"] == "beta" and data["strategy"]["state"] in (
        "starting",
        "running",
    )
    assert tuple(data["strategy"]) == cli.STRATEGY_FIELDS
    assert data["job"]["status"] == "running" and tuple(data["job"]) == cli.JOB_FIELDS
    pid = data["strategy"]["pid"]

    code, out, err = run(capsys, "start", "beta", *w)
    assert code == 1 and out == ""
    assert err.strip() == "tui-monitor: beta is already starting" or (
        err.strip() == "tui-monitor: beta is already running"
    )

    code, data = run_json(capsys, "restart", "beta", *w)
    assert code == 0 and data["action"] == "restart"
    assert data["strategy"]["pid"] not in (None, pid)

    code, out, _ = run(capsys, "resume", "strategy_beta", *w)
    assert code == 1  # it is running
    code, data = run_json(capsys, "resume", "strategy_beta", *w)
    assert code == 1
    assert data == {
        "error": {
            "type": "command_refused",
            "message": "cannot resume strategy_beta: it is running",
        }
    }

    code, out, err = run(capsys, "stop", "beta", *w)
    assert code == 0
    code, data = run_json(capsys, "start", "beta", "--fresh", *w)
    assert code == 0 and data["job"]["restart_count"] == 0


def test_unknown_names_list_the_known_ones(sup: Supervisor, capsys) -> None:
    for argv in (["restart", "gamma"], ["stop", "gamma"], ["start", "gamma"]):
        code, out, err = run(capsys, *argv, *where(sup))
        assert code == 1 and out == ""
        assert err.strip() == "tui-monitor: unknown strategy 'gamma' (known: alpha, beta)"
    code, out, err = run(capsys, "resume", "strategy_gamma", *where(sup))
    assert code == 1
    assert "unknown job 'strategy_gamma' (known: strategy_alpha, strategy_beta)" in err
    code, data = run_json(capsys, "stop", "gamma", *where(sup))
    assert code == 1
    assert data == {
        "error": {
            "type": "unknown_name",
            "message": "unknown strategy 'gamma' (known: alpha, beta)",
        }
    }


# ---- no supervisor, bad configuration, bad usage --------------------------------------------


def test_no_supervisor_running(tmp_path: Path, capsys) -> None:
    state = tmp_path / "state"
    for argv in (["status"], ["jobs"], ["health"], ["stop", "x"], ["resume", "strategy_x"]):
        code, out, err = run(capsys, *argv, "--state", str(state))
        assert code == 3 and out == "", (argv, err)
        assert str(state / "control.sock") in err and "no supervisor is running" in err
    code, data = run_json(capsys, "status", "--state", str(state))
    assert code == 3
    assert data["error"]["type"] == "no_supervisor"
    assert data["error"]["socket"] == str(state / "control.sock")
    # A socket left behind by a dead supervisor is not a supervisor.
    state.mkdir()
    _stale_socket(state / "control.sock")
    code, _, err = run(capsys, "health", "--state", str(state))
    assert code == 3 and "nothing listens on" in err and str(state) in err


def test_no_supervisor_for_a_configuration(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, {"a": {"command": ["true"]}})
    code, _, err = run(capsys, "status", "--config", str(config))
    assert code == 3 and str(tmp_path / "state" / "control.sock") in err


def test_a_bad_configuration_is_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[monitor]\nstate_dirr = "x"\n')
    code, out, err = run(capsys, "status", "--config", str(bad))
    assert code == 2 and out == ""
    assert "monitor.state_dirr: unknown key" in err and str(bad) in err
    code, data = run_json(capsys, "status", "--config", str(bad))
    assert code == 2 and data["error"]["type"] == "config_error"
    assert any("state_dirr" in problem for problem in data["error"]["problems"])
    monkeypatch.chdir(tmp_path)  # no tui-monitor.toml here
    code, out, err = run(capsys, "jobs")
    assert code == 2
    assert "tui-monitor.toml: cannot read: no such file" in err and "--state DIR" in err


def test_bad_usage_is_exit_2(tmp_path: Path, capsys) -> None:
    for argv in (
        ["start"],
        ["resume"],
        ["status", "--config", "a.toml", "--state", str(tmp_path)],
        ["status", "--bogus"],
        ["frobnicate"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert "usage:" in err and "error:" in err
    code, data = run_json(capsys, "stop")
    assert code == 2 and data["error"]["type"] == "usage"
    assert cli.main([]) == 2


def test_health_of_an_unhealthy_supervisor(tmp_path: Path, capsys) -> None:
    config = write_config(
        tmp_path,
        {
            "ok": {**FAST, "command": script(tmp_path, "ok", HEARTBEATER)},
            "crashy": {**FAST, "command": ["sh", "-c", "exit 3"], "max_restarts": 0},
        },
    )
    bad = Supervisor(config).start()
    try:
        wait_for_sync(lambda: bad.ask("health")["status"] == "unhealthy", timeout=10)
        code, out, _ = run(capsys, "health", "--config", str(config))
        assert code == 1
        assert out.splitlines()[0] == "health: unhealthy"
        assert "fatal" in out and "crashy is fatal" in out
        code, data = run_json(capsys, "health", "--config", str(config))
        assert code == 1 and data["status"] == "unhealthy"
        assert {"severity": "unhealthy", "code": "fatal", "strategy": "crashy"}.items() <= (
            data["reasons"][0].items()
        )
        code, out, _ = run(capsys, "status", "--config", str(config))
        assert code == 0  # status reports; it does not judge
        crashy = next(line for line in out.splitlines() if line.startswith("crashy "))
        assert " fatal " in crashy and "code 3" in crashy and "0/0" in crashy
    finally:
        assert bad.stop() == 0


# ---- the real entry point, and one supervisor per state folder --------------------------------


def _cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "tui_monitor", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_the_command_line_as_a_process(sup: Supervisor) -> None:
    status = _cli("status", "--json", *where(sup))
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["supervisor"]["pid"] == sup.proc.pid
    health = _cli("health", *where(sup))
    assert health.returncode == 0 and health.stdout.startswith("health: healthy")
    code = (
        "import sys\n"
        "from tui_monitor.cli import main\n"
        f"rc = main(['jobs', '--config', {str(sup.config_path)!r}])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "sys.exit(10 if bad else rc)\n"
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_supervisor_on_the_same_folder_is_refused(sup: Supervisor) -> None:
    inode = os.stat(sup.socket).st_ino
    second = _cli("run", "--no-ui", "--config", str(sup.config_path))
    assert second.returncode == 1
    assert "a supervisor is already running on" in second.stderr
    assert str(sup.config.monitor.state_dir) in second.stderr
    assert "Traceback" not in second.stderr
    assert os.stat(sup.socket).st_ino == inode  # its socket untouched
    assert sup.ask("hello")["pid"] == sup.proc.pid


def test_a_supervisor_that_cannot_have_its_socket_starts_nothing(
    sup: Supervisor, tmp_path: Path
) -> None:
    """Another state folder, but the socket path of a live supervisor: refused before any
    strategy is started, and the live supervisor's socket is left alone."""
    marker = tmp_path / "started"
    body = f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(30)\n"
    config = write_config(
        tmp_path,
        {"m": {**FAST, "command": script(tmp_path, "marker", body)}},
        {"control_socket": str(sup.socket)},
    )
    inode = os.stat(sup.socket).st_ino
    result = _cli("run", "--no-ui", "--config", str(config))
    assert result.returncode == 1
    assert f"already listening on the control socket {sup.socket}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()
    assert os.stat(sup.socket).st_ino == inode
    assert sup.ask("hello")["pid"] == sup.proc.pid


# ---- the tables themselves ---------------------------------------------------------------------


def test_tables_align_wide_text_and_defuse_control_characters() -> None:
    from tui_monitor import tables

    table = tables.render_table(
        ["NAME", "MESSAGE"], [["한글", "ok"], ["ab", tables.cell("\x1b[31mred\x00\n")]]
    )
    first, second, third = table.splitlines()
    # "한글" is four columns wide: MESSAGE starts in the same column on every line.
    assert first.index("MESSAGE") == tables.display_width(second[: second.index("ok")])
    assert third.index("␛") == first.index("MESSAGE")
    assert "\x1b" not in table and "\x00" not in table and "␛[31mred␀␊" in third
    long = tables.cell("x" * 500, 60)
    assert len(long) == 61 and long.endswith("…")
    assert tables.cell(None) == tables.cell("") == "-"


def test_durations_and_progress_read_well() -> None:
    from tui_monitor.tables import duration, progress

    assert [duration(x) for x in (None, 0.04, 9.94, 42, 245, 7380, 273600)] == [
        "-", "0.0s", "9.9s", "42s", "4m05s", "2h03m", "3d04h",
    ]  # fmt: skip
    assert [progress(x) for x in (None, 0.5, 1, 0, 42.5, True)] == [
        "-",
        "50%",
        "100%",
        "0%",
        "42.5",
        "-",
    ]
