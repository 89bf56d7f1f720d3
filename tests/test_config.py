"""Tests of the TOML configuration: every bad file must give precise, complete messages."""

from __future__ import annotations

import json
import os
import pickle
import shlex
import stat
import sys
from pathlib import Path

import pytest

from tui_monitor.config import (
    DEFAULT_CONFIG_NAME,
    SHELL,
    Config,
    StrategyConfig,
    load_config,
    parse_config,
)
from tui_monitor.errors import ConfigError, TuiMonitorError

PY = json.dumps(sys.executable)  # a TOML basic string naming a program that surely exists
NAME = DEFAULT_CONFIG_NAME


def strategy(extra: str = "", *, name: str = "alpha", command: str | None = PY) -> str:
    """A [strategies.NAME] table with a valid command unless told otherwise."""
    lines = [f"[strategies.{name}]"]
    if command is not None:
        lines.append(f"command = {command}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder that is the process cwd, so messages show the relative file name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile.txt").write_text("not a directory\n")
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)  # deliberately not executable
    (tmp_path / "subdir").mkdir()
    return tmp_path


def problems(text: str) -> list[str]:
    """Write ``text`` as the config in the cwd and return the reported problems."""
    Path(NAME).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(NAME)
    return info.value.problems


def load(text: str) -> Config:
    Path(NAME).write_text(text)
    return load_config(NAME)


# --------------------------------------------------------------------------- bad configurations

# (TOML text, the exact problem line without the "tui-monitor.toml: " prefix).
# "<DIR>" stands for the resolved folder of the config file.
BAD_CASES: list[tuple[str, str]] = [
    # top level
    ("strategy = 1\n", 'strategy: unknown key (did you mean "strategies"?)'),
    ("bogus = 1\n", "bogus: unknown key"),
    ("monitor = 3\n", "monitor: expected a table, got 3"),
    ('strategies = "x"\n', 'strategies: expected a table, got "x"'),
    ("alerts = 3\n", "alerts: expected an array of tables ([[alerts]]), got 3"),
    ("[alerts]\nx = 1\n", "alerts: expected an array of tables ([[alerts]]), got { x = 1 }"),
    ("alerts = [1, {a = 1}]\n", "alerts[0]: expected a table, got 1"),
    # [monitor]
    ('[monitor]\nstate_dri = "x"\n', 'monitor.state_dri: unknown key (did you mean "state_dir"?)'),
    ('[monitor]\nhttp = "localhost"\n', 'monitor.http: expected "host:port", got "localhost"'),
    (
        '[monitor]\nhttp = ":8080"\n',
        'monitor.http: expected "host:port" with a non-empty host, got ":8080"',
    ),
    (
        '[monitor]\nhttp = "localhost:0"\n',
        'monitor.http: expected "host:port" with a port from 1 to 65535, got "localhost:0"',
    ),
    (
        '[monitor]\nhttp = "localhost:http"\n',
        'monitor.http: expected "host:port" with a port from 1 to 65535, got "localhost:http"',
    ),
    (
        '[monitor]\nhttp = "localhost:65536"\n',
        'monitor.http: expected "host:port" with a port from 1 to 65535, got "localhost:65536"',
    ),
    ("[monitor]\nhttp = 8080\n", 'monitor.http: expected "host:port", got 8080'),
    (
        "[monitor]\nmemory_threshold = 0\n",
        "monitor.memory_threshold: expected a percentage > 0 and <= 100, got 0",
    ),
    (
        "[monitor]\ndisk_threshold = 100.5\n",
        "monitor.disk_threshold: expected a percentage > 0 and <= 100, got 100.5",
    ),
    ("[monitor]\nmetrics_interval = 0\n", "monitor.metrics_interval: expected seconds > 0, got 0"),
    (
        "[monitor]\nhistory_limit = 99\n",
        "monitor.history_limit: expected an integer >= 100, got 99",
    ),
    (
        "[monitor]\napp_log_max_bytes = 0\n",
        "monitor.app_log_max_bytes: expected an integer > 0 (bytes), got 0",
    ),
    (
        "[monitor]\napp_log_backups = -1\n",
        "monitor.app_log_backups: expected an integer >= 0, got -1",
    ),
    ("[monitor]\nrestart_storm = 0\n", "monitor.restart_storm: expected an integer >= 1, got 0"),
    (
        '[monitor]\nrestart_storm_window = "1m"\n',
        'monitor.restart_storm_window: expected seconds > 0, got "1m"',
    ),
    (
        '[monitor]\nstate_dir = "afile.txt"\n',
        "monitor.state_dir: exists but is not a directory: <DIR>/afile.txt",
    ),
    ("[monitor]\nlog_dir = 3\n", "monitor.log_dir: expected a non-empty path string, got 3"),
    (
        '[monitor]\ncontrol_socket = "subdir"\n',
        "monitor.control_socket: is a directory: <DIR>/subdir",
    ),
    (
        '[monitor]\ndisk_paths = "/"\n',
        'monitor.disk_paths: expected a list of paths, got "/"',
    ),
    (
        '[monitor]\ndisk_paths = ["/", "nowhere"]\n',
        "monitor.disk_paths[1]: path does not exist: <DIR>/nowhere",
    ),
    # [strategies.NAME]: names and shapes
    (
        strategy(name='"my.bot"'),
        'strategies."my.bot": invalid name: use letters, digits, "_" and "-" (at most 64), '
        "starting with a letter or digit",
    ),
    (
        strategy(name="_hidden"),
        'strategies._hidden: invalid name: use letters, digits, "_" and "-" (at most 64), '
        "starting with a letter or digit",
    ),
    (
        strategy(name="a" * 65),
        f'strategies.{"a" * 65}: invalid name: use letters, digits, "_" and "-" (at most 64), '
        "starting with a letter or digit",
    ),
    ('[strategies]\nalpha = "x"\n', 'strategies.alpha: expected a table, got "x"'),
    (
        strategy("hartbeat_timeout = 5"),
        'strategies.alpha.hartbeat_timeout: unknown key (did you mean "heartbeat_timeout"?)',
    ),
    (
        strategy('heartbeat_timeout = "5m"'),
        'strategies.alpha.heartbeat_timeout: expected seconds >= 0, got "5m"',
    ),
    (
        strategy("heartbeat_timeout = -1"),
        "strategies.alpha.heartbeat_timeout: expected seconds >= 0, got -1",
    ),
    (
        strategy("restart_delay = true"),
        "strategies.alpha.restart_delay: expected seconds >= 0, got true",
    ),
    (
        strategy("start_seconds = nan"),
        "strategies.alpha.start_seconds: expected seconds >= 0, got nan",
    ),
    (
        strategy("backoff_max = inf"),
        "strategies.alpha.backoff_max: expected seconds >= 0, got inf",
    ),
    (
        strategy('autostart = "yes"'),
        'strategies.alpha.autostart: expected a boolean, got "yes"',
    ),
    (strategy("shell = 1"), "strategies.alpha.shell: expected a boolean, got 1"),
    (
        strategy("max_restarts = 2.5"),
        "strategies.alpha.max_restarts: expected an integer >= 0, got 2.5",
    ),
    (
        strategy("restart_window = 0"),
        "strategies.alpha.restart_window: expected seconds > 0, got 0",
    ),
    (
        strategy("backoff_factor = 0.5"),
        "strategies.alpha.backoff_factor: expected a number >= 1, got 0.5",
    ),
    (
        strategy("restart_jitter = 2"),
        "strategies.alpha.restart_jitter: expected a fraction from 0 to 1, got 2",
    ),
    (
        strategy("reset_after = -0.5"),
        "strategies.alpha.reset_after: expected seconds >= 0, got -0.5",
    ),
    (
        strategy("fatal_cooldown = [1]"),
        "strategies.alpha.fatal_cooldown: expected seconds >= 0, got [1]",
    ),
    (strategy("stop_timeout = 0"), "strategies.alpha.stop_timeout: expected seconds > 0, got 0"),
    (
        strategy("log_max_bytes = 0"),
        "strategies.alpha.log_max_bytes: expected an integer > 0 (bytes), got 0",
    ),
    (
        strategy("log_backups = -2"),
        "strategies.alpha.log_backups: expected an integer >= 0, got -2",
    ),
    (
        strategy('kind = "daemon"'),
        'strategies.alpha.kind: expected one of "service", "task", got "daemon"',
    ),
    (
        strategy('restart = "on_failure"'),
        'strategies.alpha.restart: expected one of "always", "on-failure", "never", '
        'got "on_failure" (did you mean "on-failure"?)',
    ),
    (
        strategy('stop_signal = "FOO"'),
        "strategies.alpha.stop_signal: expected a signal name "
        '(TERM, INT, HUP, QUIT, USR1, USR2 or KILL), got "FOO"',
    ),
    (
        strategy("stop_signal = 15"),
        "strategies.alpha.stop_signal: expected a signal name "
        "(TERM, INT, HUP, QUIT, USR1, USR2 or KILL), got 15",
    ),
    # command
    (
        strategy(command=None),
        "strategies.alpha.command: required key missing: the program to run (a string or a list)",
    ),
    (strategy(command='""'), 'strategies.alpha.command: expected a non-empty command, got ""'),
    (
        strategy(command="[]"),
        "strategies.alpha.command: expected a non-empty list of strings, got []",
    ),
    (strategy(command=f"[{PY}, 1]"), "strategies.alpha.command[1]: expected a string, got 1"),
    (
        strategy(command="3"),
        "strategies.alpha.command: expected a string or a list of strings, got 3",
    ),
    (
        strategy(command='"nosuchprog-xyz --flag"'),
        'strategies.alpha.command: program "nosuchprog-xyz" not found on PATH',
    ),
    (
        strategy(command='"python \'unterminated"'),
        "strategies.alpha.command: cannot split into arguments: No closing quotation",
    ),
    (
        strategy("shell = true", command=f"[{PY}]"),
        f"strategies.alpha.command: expected a string when shell = true, got [{PY}]",
    ),
    (
        strategy("shell = true", command='"   "'),
        'strategies.alpha.command: expected a non-empty command, got "   "',
    ),
    (
        strategy(command='"./run.sh"'),
        'strategies.alpha.command: program "./run.sh" is not executable: <DIR>/run.sh',
    ),
    (
        strategy(command='"./missing.sh"'),
        'strategies.alpha.command: program "./missing.sh" not found: '
        "<DIR>/missing.sh does not exist",
    ),
    (
        strategy(command='"./subdir"'),
        'strategies.alpha.command: program "./subdir" is a directory: <DIR>/subdir',
    ),
    (
        strategy('env = { PATH = "/nonexistent-dir" }', command='"ls"'),
        'strategies.alpha.command: program "ls" not found on PATH (as set in env)',
    ),
    # cwd
    (strategy('cwd = "missing"'), "strategies.alpha.cwd: directory does not exist: <DIR>/missing"),
    (strategy('cwd = "afile.txt"'), "strategies.alpha.cwd: not a directory: <DIR>/afile.txt"),
    (strategy('cwd = ""'), 'strategies.alpha.cwd: expected a non-empty path string, got ""'),
    # paths the file system cannot even look at: a component longer than 255 bytes
    (
        strategy(f'cwd = "{"b" * 300}"'),
        f"strategies.alpha.cwd: cannot use <DIR>/{'b' * 300}: file name too long",
    ),
    (
        strategy(command=f'"./{"p" * 300}"'),
        f'strategies.alpha.command: program "./{"p" * 300}": '
        f"cannot use <DIR>/{'p' * 300}: file name too long",
    ),
    (
        f'[monitor]\nlog_dir = "{"c" * 300}/logs"\n',
        f"monitor.log_dir: cannot use <DIR>/{'c' * 300}/logs: file name too long",
    ),
    (
        f'[monitor]\ncontrol_socket = "{"c" * 300}"\n',
        f"monitor.control_socket: cannot use <DIR>/{'c' * 300}: file name too long",
    ),
    (
        f'[monitor]\ndisk_paths = ["/", "{"c" * 300}"]\n',
        f"monitor.disk_paths[1]: cannot use <DIR>/{'c' * 300}: file name too long",
    ),
    # control characters (C0, DEL, C1) never reach the terminal raw, in keys, values or paths
    (
        strategy(name='"x\\u009b2J\\u007f"'),
        'strategies."x\\u009b2J\\u007f": invalid name: use letters, digits, "_" and "-" '
        "(at most 64), starting with a letter or digit",
    ),
    (
        '[monitor]\nhttp = "\\u009b31m\\u0085"\n',
        'monitor.http: expected "host:port", got "\\u009b31m\\u0085"',
    ),
    (
        strategy('cwd = "\\u001b[2J\\u009b"'),
        'strategies.alpha.cwd: directory does not exist: "<DIR>/\\u001b[2J\\u009b"',
    ),
    # env
    (
        strategy('env = { "A=B" = "x" }'),
        'strategies.alpha.env."A=B": invalid variable name: must be non-empty without "=" or NUL',
    ),
    (
        strategy('env = { "" = "x" }'),
        'strategies.alpha.env."": invalid variable name: must be non-empty without "=" or NUL',
    ),
    (strategy("env = { PORT = 8080 }"), "strategies.alpha.env.PORT: expected a string, got 8080"),
    (strategy('env = "A=B"'), 'strategies.alpha.env: expected a table of strings, got "A=B"'),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CASES, ids=[c[1][:60] for c in BAD_CASES])
def test_bad_configuration_is_reported_exactly(workdir: Path, text: str, expected: str) -> None:
    expected = expected.replace("<DIR>", str(workdir.resolve()))
    assert f"{NAME}: {expected}" in problems(text)


def test_enough_bad_cases() -> None:
    assert len(BAD_CASES) >= 25


def test_every_problem_is_reported_at_once(workdir: Path) -> None:
    text = (
        "[monitor]\n"
        "metrics_interval = -1\n"
        + strategy('heartbeat_timeout = "5m"')
        + strategy("autostart = 2", name="beta", command='"nosuchprog-xyz"')
    )
    found = problems(text)
    assert found == [
        f"{NAME}: monitor.metrics_interval: expected seconds > 0, got -1",
        f'{NAME}: strategies.alpha.heartbeat_timeout: expected seconds >= 0, got "5m"',
        f'{NAME}: strategies.beta.command: program "nosuchprog-xyz" not found on PATH',
        f"{NAME}: strategies.beta.autostart: expected a boolean, got 2",
    ]


def test_three_errors_give_three_lines(workdir: Path) -> None:
    text = strategy('kind = "x"\nrestart = "y"\nmax_restarts = -1')
    Path(NAME).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(NAME)
    assert len(info.value.problems) == 3
    assert str(info.value).splitlines() == info.value.problems
    assert isinstance(info.value, TuiMonitorError)


def test_problems_follow_file_order(workdir: Path) -> None:
    text = strategy('stop_signal = "X"\nkind = "x"', command="3") + "bogus = 1\n"
    lines = problems(text)
    assert [line.split(": ")[1] for line in lines] == [
        "strategies.alpha.command",
        "strategies.alpha.stop_signal",
        "strategies.alpha.kind",
        "strategies.alpha.bogus",
    ]


def test_config_error_pickles() -> None:
    error = ConfigError(["a: b: c", "a: d: e"])
    copy = pickle.loads(pickle.dumps(error))
    assert copy.problems == error.problems
    assert str(copy) == "a: b: c\na: d: e"


# --------------------------------------------------------------------------- reading and syntax


def test_missing_file(workdir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("nope.toml")
    assert info.value.problems == ["nope.toml: cannot read: no such file"]


def test_directory_instead_of_file(workdir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config("subdir")
    (line,) = info.value.problems
    assert line.startswith("subdir: cannot read: is a directory")


def test_permission_denied(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, for whom chmod 000 changes nothing: simulate the OS answer.
    Path(NAME).write_text("")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    with pytest.raises(ConfigError) as info:
        load_config(NAME)
    assert info.value.problems == [f"{NAME}: cannot read: permission denied"]


def test_toml_syntax_error_names_the_line(workdir: Path) -> None:
    lines = problems('[monitor]\nhttp = "a:1"\nthis is not toml\n')
    assert lines == [f"{NAME}: line 3: Expected '=' after a key in a key/value pair"]


def test_toml_error_at_end_of_document(workdir: Path) -> None:
    (line,) = problems("[monitor]\nhttp =")
    assert line == f"{NAME}: line 2: Invalid value"


def test_duplicate_strategy_is_a_syntax_error(workdir: Path) -> None:
    (line,) = problems(strategy() + strategy())
    assert line.startswith(f"{NAME}: line 3: ")


def test_invalid_utf8(workdir: Path) -> None:
    Path(NAME).write_bytes(b"# ok\n# \xff\xfe bad\n")
    with pytest.raises(ConfigError) as info:
        load_config(NAME)
    assert info.value.problems == [f"{NAME}: line 2: invalid UTF-8 (the file must be UTF-8 text)"]


def test_path_shown_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / NAME).write_text("bogus = 1\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(Path("conf") / NAME)
    assert info.value.problems == [f"conf/{NAME}: bogus: unknown key"]
    absolute = tmp_path / "conf" / NAME
    with pytest.raises(ConfigError) as info:
        load_config(str(absolute))
    assert info.value.problems == [f"{absolute}: bogus: unknown key"]


# --------------------------------------------------------------------------- valid configurations


def test_empty_file_is_valid_and_has_defaults(workdir: Path) -> None:
    config = load("")
    base = workdir.resolve()
    assert config.path == Path(os.path.abspath(NAME))
    assert config.strategies == {}
    assert config.alerts == ()
    monitor = config.monitor
    assert monitor.state_dir == base / "state"
    assert monitor.log_dir == base / "logs"
    assert monitor.control_socket == base / "state" / "control.sock"
    assert monitor.http is None
    assert monitor.memory_threshold == 90.0
    assert monitor.disk_threshold == 90.0
    assert monitor.disk_paths == ()
    assert monitor.metrics_interval == 2.0
    assert monitor.history_limit == 5000
    assert monitor.app_log_max_bytes == 10 * 1024 * 1024
    assert monitor.app_log_backups == 5
    assert monitor.restart_storm == 10
    assert monitor.restart_storm_window == 60.0


def test_minimal_strategy_gets_defaults(workdir: Path) -> None:
    config = load(strategy())
    alpha = config.strategies["alpha"]
    assert alpha == StrategyConfig(
        name="alpha", command=(sys.executable,), cwd=workdir.resolve(), env={}
    )
    assert alpha.job_id == "strategy_alpha"
    assert alpha.heartbeat_timeout == 300.0
    assert alpha.max_restarts == 5
    assert alpha.restart_delay == 60.0
    assert alpha.restart_window == 600.0
    assert alpha.kind == "service"
    assert alpha.restart == "always"
    assert alpha.autostart is True
    assert alpha.shell is False
    assert alpha.stop_signal == "TERM"
    assert alpha.stop_timeout == 10.0
    assert alpha.backoff_factor == 1.0
    assert alpha.backoff_max == 600.0
    assert alpha.restart_jitter == 0.0
    assert alpha.reset_after == 300.0
    assert alpha.fatal_cooldown == 0.0
    assert alpha.start_seconds == 1.0
    assert alpha.log_max_bytes == 50 * 1024 * 1024
    assert alpha.log_backups == 5


def test_every_key_is_read(workdir: Path) -> None:
    text = (
        "[monitor]\n"
        'state_dir = "var/state"\n'
        'log_dir = "var/logs"\n'
        'control_socket = "/tmp/tm.sock"\n'
        'http = "127.0.0.1:8765"\n'
        "memory_threshold = 80\n"
        "disk_threshold = 95.5\n"
        'disk_paths = ["/", "subdir"]\n'
        "metrics_interval = 0.5\n"
        "history_limit = 100\n"
        "app_log_max_bytes = 1024\n"
        "app_log_backups = 0\n"
        "restart_storm = 3\n"
        "restart_storm_window = 30\n"
        + strategy(
            'cwd = "subdir"\n'
            'env = { GREETING = "hi" }\n'
            "autostart = false\n"
            'kind = "task"\n'
            'restart = "never"\n'
            "heartbeat_timeout = 0\n"
            "start_seconds = 0\n"
            "max_restarts = 0\n"
            "restart_window = 60\n"
            "restart_delay = 1.5\n"
            "backoff_factor = 2\n"
            "backoff_max = 30\n"
            "restart_jitter = 0.25\n"
            "reset_after = 0\n"
            "fatal_cooldown = 3600\n"
            "stop_timeout = 2\n"
            'stop_signal = "sigint"\n'
            "log_max_bytes = 4096\n"
            "log_backups = 0\n"
        )
    )
    config = load(text)
    base = workdir.resolve()
    monitor = config.monitor
    assert monitor.state_dir == base / "var" / "state"
    assert monitor.log_dir == base / "var" / "logs"
    assert monitor.control_socket == Path("/tmp/tm.sock").resolve()
    assert monitor.http == "127.0.0.1:8765"
    assert monitor.memory_threshold == 80.0
    assert isinstance(monitor.memory_threshold, float)
    assert monitor.disk_threshold == 95.5
    assert monitor.disk_paths == (Path("/"), base / "subdir")
    assert monitor.metrics_interval == 0.5
    assert monitor.history_limit == 100
    assert monitor.app_log_max_bytes == 1024
    assert monitor.app_log_backups == 0
    assert monitor.restart_storm == 3
    assert monitor.restart_storm_window == 30.0

    alpha = config.strategies["alpha"]
    assert alpha.cwd == base / "subdir"
    assert alpha.env == {"GREETING": "hi"}
    assert alpha.autostart is False
    assert (alpha.kind, alpha.restart) == ("task", "never")
    assert alpha.heartbeat_timeout == 0.0
    assert alpha.start_seconds == 0.0
    assert alpha.max_restarts == 0
    assert alpha.restart_window == 60.0
    assert alpha.restart_delay == 1.5
    assert alpha.backoff_factor == 2.0
    assert alpha.backoff_max == 30.0
    assert alpha.restart_jitter == 0.25
    assert alpha.reset_after == 0.0
    assert alpha.fatal_cooldown == 3600.0
    assert alpha.stop_timeout == 2.0
    assert alpha.stop_signal == "INT"
    assert alpha.log_max_bytes == 4096
    assert alpha.log_backups == 0


def test_relative_paths_use_the_config_folder_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "conf"
    (conf / "work").mkdir(parents=True)
    (conf / NAME).write_text('[monitor]\nstate_dir = "st"\n' + strategy('cwd = "work"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "conf" / NAME)
    base = conf.resolve()
    assert config.path == Path(os.path.abspath(Path("..") / "conf" / NAME))
    assert config.path.parent.resolve() == base
    assert config.monitor.state_dir == base / "st"
    assert config.monitor.control_socket == base / "st" / "control.sock"
    assert config.monitor.log_dir == base / "logs"
    assert config.strategies["alpha"].cwd == base / "work"


def test_default_cwd_is_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    config = parse_config(strategy(), Path("conf") / NAME)
    assert config.strategies["alpha"].cwd == (tmp_path / "conf").resolve()


def test_relative_program_is_found_from_cwd(workdir: Path) -> None:
    tool = workdir / "subdir" / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    config = load(strategy('cwd = "subdir"', command='"./tool.sh --fast"'))
    assert config.strategies["alpha"].command == ("./tool.sh", "--fast")


def test_program_searched_on_the_strategy_path(workdir: Path) -> None:
    bindir = workdir / "bin"
    bindir.mkdir()
    tool = bindir / "my-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    config = load(strategy(f"env = {{ PATH = {json.dumps(str(bindir))} }}", command='"my-tool"'))
    assert config.strategies["alpha"].command == ("my-tool",)
    assert config.strategies["alpha"].env == {"PATH": str(bindir)}


def test_string_command_is_split_with_shell_rules(workdir: Path) -> None:
    command = shlex.join([sys.executable, "-c", "print('hello world')", "a b"])
    config = load(strategy(command=json.dumps(command)))
    assert config.strategies["alpha"].command == (
        sys.executable,
        "-c",
        "print('hello world')",
        "a b",
    )


def test_list_command_is_kept_verbatim(workdir: Path) -> None:
    config = load(strategy(command=f'[{PY}, "-c", "import sys; print(sys.argv)", "a b"]'))
    assert config.strategies["alpha"].command == (
        sys.executable,
        "-c",
        "import sys; print(sys.argv)",
        "a b",
    )


def test_shell_command_runs_through_sh(workdir: Path) -> None:
    # The program inside need not exist: the shell resolves it when it runs.
    config = load(strategy("shell = true", command='"nosuchprog-xyz | tee out.log && echo $HOME"'))
    alpha = config.strategies["alpha"]
    assert alpha.shell is True
    assert alpha.command == (SHELL, "-c", "nosuchprog-xyz | tee out.log && echo $HOME")


def test_task_defaults_to_restart_on_failure(workdir: Path) -> None:
    config = load(
        strategy('kind = "task"')
        + strategy('kind = "task"\nrestart = "always"', name="beta")
        + strategy(name="gamma")
    )
    assert config.strategies["alpha"].restart == "on-failure"
    assert config.strategies["beta"].restart == "always"
    assert config.strategies["gamma"].restart == "always"


def test_strategies_keep_file_order(workdir: Path) -> None:
    names = ["zeta", "alpha", "Mid-1", "b_2", "9lives"]
    config = load("".join(strategy(name=name) for name in names))
    assert list(config.strategies) == names
    assert config.strategies["9lives"].job_id == "strategy_9lives"


@pytest.mark.parametrize(
    ("written", "stored"),
    [("TERM", "TERM"), ("SIGTERM", "TERM"), ("sighup", "HUP"), ("usr1", "USR1"), ("KILL", "KILL")],
)
def test_stop_signal_names(workdir: Path, written: str, stored: str) -> None:
    config = load(strategy(f'stop_signal = "{written}"'))
    assert config.strategies["alpha"].stop_signal == stored


@pytest.mark.parametrize(
    ("written", "stored"),
    [('""', None), ('"localhost:8080"', "localhost:8080"), ('"[::1]:9000"', "[::1]:9000")],
)
def test_http_setting(workdir: Path, written: str, stored: str | None) -> None:
    assert load(f"[monitor]\nhttp = {written}\n").monitor.http == stored


def test_unbracketed_ipv6_is_rejected(workdir: Path) -> None:
    (line,) = problems('[monitor]\nhttp = "::1:9000"\n')
    assert line.startswith(f"{NAME}: monitor.http: IPv6 hosts need brackets")


def test_alert_rules_are_parsed(workdir: Path) -> None:
    config = load(
        strategy()
        + '[[alerts]]\non = ["fatal", "heartbeat_missed"]\nwebhook = "https://hooks.example/x"\n'
        + f'\n[[alerts]]\nname = "page"\non = ["unhealthy"]\ncommand = [{PY}, "-c", "pass"]\n'
        + 'strategies = ["alpha"]\nmin_interval = 0\nretries = 0\ntimeout = 2\n'
    )
    first, second = config.alerts
    assert first.name == "alert-1" and first.on == ("fatal", "heartbeat_missed")
    assert first.webhook == "https://hooks.example/x" and first.min_interval == 300
    assert second.command == (sys.executable, "-c", "pass") and second.strategies == ("alpha",)
    assert (second.min_interval, second.retries, second.timeout) == (0, 0, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[alerts]]\nwebhook = "https://x"\n', "alerts[0].on: required key missing"),
        ('[[alerts]]\non = ["fatl"]\nwebhook = "https://x"\n', 'did you mean "fatal"?'),
        ('[[alerts]]\non = ["fatal"]\n', "alerts[0].on: an alert needs a command or a webhook"),
        ('[[alerts]]\non = ["fatal"]\nwebhook = "ftp://x"\n', "expected an http:// or https://"),
        (
            '[[alerts]]\non = ["fatal"]\nwebhook = "https://x"\nstrategies = ["nope"]\n',
            'alerts[0].strategies[0]: unknown strategy "nope"',
        ),
        ('[[alerts]]\non = ["fatal"]\nwebhook = "https://x"\nkind = 1\n', "alerts[0].kind"),
    ],
)
def test_bad_alert_rules(workdir: Path, text: str, expected: str) -> None:
    assert any(expected in line for line in problems(text))


def test_parse_config_uses_the_given_path(tmp_path: Path) -> None:
    path = tmp_path / "some.toml"
    config = parse_config(strategy(), path)
    assert config.path == path
    assert config.strategies["alpha"].cwd == tmp_path.resolve()
    with pytest.raises(ConfigError) as info:
        parse_config("bogus = 1\n", path)
    assert info.value.problems == [f"{path}: bogus: unknown key"]


def test_utf8_bom_is_accepted(workdir: Path) -> None:
    Path(NAME).write_text("\ufeff" + strategy(), encoding="utf-8")
    assert list(load_config(NAME).strategies) == ["alpha"]


def test_strategy_config_default_restart_follows_kind(tmp_path: Path) -> None:
    # The engine's own tests build StrategyConfig directly; the default must follow kind too.
    task = StrategyConfig(name="t", command=("true",), cwd=tmp_path, env={}, kind="task")
    assert task.restart == "on-failure"
    service = StrategyConfig(name="s", command=("true",), cwd=tmp_path, env={})
    assert service.restart == "always"


@pytest.mark.parametrize(("text", "expected"), BAD_CASES)
def test_bad_configuration_exits_2_and_starts_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    """Through the command itself: exit 2, the exact message, no traceback, nothing created."""
    from tui_monitor.cli import main

    Path(NAME).write_text(text)
    code = main(["run", "--no-ui"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{NAME}: {expected.replace('<DIR>', str(workdir.resolve()))}" in err.splitlines()
    assert "Traceback" not in err
    assert not (workdir / "state").exists() and not (workdir / "logs").exists()
