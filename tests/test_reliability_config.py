"""Promise 5 against random input: configuration fuzzing with hypothesis.

Random TOML text, random mutations of a valid file, and well-formed TOML with random values for
every key either give a `Config` or a `ConfigError` whose every line starts with the file name and
names a key (or a line of the file) — never any other exception, which would be a traceback for
the operator. A valid configuration would really start a supervisor, so the command line itself
(`run --no-ui --config FILE`) is fuzzed with configurations made invalid on purpose: exit code 2,
every line naming the file, nothing started, no traceback.

Path components longer than the file system allows (255 bytes) are among the random values too:
checking them raises in pathlib, which must end as a problem line, not a traceback.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import PYTHON, ROOT
from tui_monitor import cli
from tui_monitor.config import (
    _ALERT_KEYS,
    _MONITOR_KEYS,
    _STRATEGY_KEYS,
    ALERT_EVENTS,
    Config,
    parse_config,
)
from tui_monitor.errors import ConfigError

#: A longer campaign: TUI_MONITOR_FUZZ_EXAMPLES=20000 (random, not derandomized, then).
CAMPAIGN = int(os.environ.get("TUI_MONITOR_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=CAMPAIGN or 100,
    derandomize=not CAMPAIGN,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)

# ---- TOML text from Python values ---------------------------------------------------------------


def toml_string(text: str) -> str:
    """A TOML basic string: every control character (DEL included) escaped."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(doc: dict[str, Any]) -> str:
    """Tables as [headers] (and [[alerts]]), so that every shape TOML allows is reachable."""
    lines: list[str] = []
    for key, value in doc.items():
        if not isinstance(value, dict | list) or (isinstance(value, list) and key != "alerts"):
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    for key, value in doc.items():
        if key == "strategies" and isinstance(value, dict):
            for name, body in value.items():
                if isinstance(body, dict):
                    lines.append(f"[strategies.{toml_key(name)}]")
                    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
                else:
                    lines.append(f"strategies.{toml_key(name)} = {toml_value(body)}")
        elif key == "alerts" and isinstance(value, list):
            if all(isinstance(item, dict) for item in value):
                for item in value:
                    lines.append("[[alerts]]")
                    lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
            else:
                lines.append(f"alerts = {toml_value(value)}")
        elif isinstance(value, dict):
            lines.append(f"[{toml_key(key)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()]
    return "\n".join(lines) + "\n"


# ---- random values for every key ---------------------------------------------------------------

SHORT_TEXT = st.text(max_size=40)
PATHS = st.sampled_from(
    ["", ".", "..", "/", "state", "logs", "nope/deeper", "~", "~nobody_here/x", "/etc/passwd",
     "/dev/null", "afile.txt", "subdir", "run.sh", "a\u0000b", "x" * 200, "x" * 300,
     "/proc/self/fd/0", "y" * 300 + "/state", "\u009b2J"]
)  # fmt: skip
PROGRAMS = st.sampled_from(
    [PYTHON, "python3", "sh", "/bin/sleep", "nope-not-a-program", "", " ", "./run.sh", "subdir",
     "/", "sleep 1", "'unclosed", "a\u0000b", "$HOME/x", "x" * 200]
)  # fmt: skip
NUMBERS = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 100, 65535, 65536, 10**18, 1e-300, 1e300]),
)
SCALARS = st.one_of(
    st.booleans(),
    NUMBERS,
    SHORT_TEXT,
    PATHS,
    st.datetimes(),
    st.dates(),
    st.times(),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(SHORT_TEXT, inner, max_size=4)
    ),
    max_leaves=8,
)
SPECIAL: dict[str, Any] = {
    "command": st.one_of(PROGRAMS, st.lists(st.one_of(PROGRAMS, VALUES), max_size=4)),
    "cwd": PATHS,
    "state_dir": PATHS,
    "log_dir": PATHS,
    "control_socket": PATHS,
    "disk_paths": st.lists(st.one_of(PATHS, VALUES), max_size=3),
    "env": st.dictionaries(SHORT_TEXT, st.one_of(SHORT_TEXT, VALUES), max_size=3),
    "kind": st.sampled_from(["service", "task", "Task", "", "cron"]),
    "restart": st.sampled_from(["always", "on-failure", "never", "sometimes"]),
    "stop_signal": st.sampled_from(["TERM", "sigint", "KILL", "STOP", "9", ""]),
    "http": st.sampled_from(
        ["127.0.0.1:0", "127.0.0.1:9300", "[::1]:80", "::1:80", ":80", "host:", "x:99999", ""]
    ),
    "on": st.lists(st.one_of(st.sampled_from(ALERT_EVENTS), VALUES), max_size=3),
    "webhook": st.sampled_from(["http://127.0.0.1:1/x", "ftp://x", "", "https://"]),
}


def value_for(key: str) -> st.SearchStrategy[Any]:
    return st.one_of(SPECIAL.get(key, NUMBERS), VALUES)


def table(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of `keys` (each with a random value) plus the odd unknown key."""
    known = st.lists(st.sampled_from(keys), unique=True, max_size=len(keys)).flatmap(
        lambda chosen: st.fixed_dictionaries({k: value_for(k) for k in chosen})
    )
    extra = st.dictionaries(
        st.sampled_from(["hartbeat", "x", "", " ", "Command"]), VALUES, max_size=1
    )
    return st.tuples(known, extra).map(lambda kv: {**kv[1], **kv[0]})


NAMES = st.one_of(
    st.sampled_from(["alpha", "b-2", "_x", "a.b", "", "x" * 65, "ünï", "a b"]), SHORT_TEXT
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "monitor": st.one_of(table(_MONITOR_KEYS), VALUES),
        "strategies": st.one_of(
            st.dictionaries(NAMES, st.one_of(table(_STRATEGY_KEYS), VALUES), max_size=3), VALUES
        ),
        "alerts": st.one_of(st.lists(table(_ALERT_KEYS), max_size=2), VALUES),
        "extra": VALUES,
    },
)

VALID = f"""
[monitor]
metrics_interval = 2

[strategies.alpha]
command = [{json.dumps(PYTHON)}, "-c", "pass"]
heartbeat_timeout = 30
env = {{ A = "1" }}

[[alerts]]
on = ["fatal"]
command = ["true"]
"""


# ---- the property ------------------------------------------------------------------------------


def check(text: str, path: Path) -> Config | None:
    """Config, or a ConfigError of lines "FILE: KEY...: reason" / "FILE: line N: reason"."""
    try:
        return parse_config(text, path)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError without a problem"
        for line in exc.problems:
            assert line.startswith(f"{path}: "), line
            assert not [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F], repr(line)
            rest = line[len(f"{path}: ") :]
            if rest.startswith("line "):
                number, _, message = rest[5:].partition(": ")
                assert number.isdigit() and message, line
                continue
            if rest.startswith('"'):  # a quoted key
                key, end = json.JSONDecoder().raw_decode(rest)
                rest = rest[end:]
            else:
                key = rest.split(":", 1)[0].split(".", 1)[0].split("[", 1)[0]
                rest = rest[len(key) :]
            assert key, f"names no key: {line}"
            assert ": " in rest and rest.split(": ", 1)[1], f"no reason: {line}"
        return None


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    (base / "afile.txt").write_text("a file\n")
    (base / "subdir").mkdir()
    (base / "run.sh").write_text("#!/bin/sh\n")
    return base


@FUZZ
@given(doc=DOCUMENTS)
def test_random_values_for_every_key(folder: Path, doc: dict[str, Any]) -> None:
    try:
        text = toml_document(doc)
    except TypeError:
        assume(False)
    check(text, folder / "tui-monitor.toml")


@FUZZ
@given(text=st.text(max_size=300))
def test_random_toml_text(folder: Path, text: str) -> None:
    check(text, folder / "tui-monitor.toml")


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(VALID)), st.integers(0, 5), st.text(max_size=5)), max_size=4
    )
)
def test_mutations_of_a_valid_file(folder: Path, edits: list[tuple[int, int, str]]) -> None:
    text = VALID
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    check(text, folder / "tui-monitor.toml")


def test_the_valid_file_is_valid(folder: Path) -> None:
    assert isinstance(check(VALID, folder / "tui-monitor.toml"), Config)


# ---- end to end through the command line, with configurations that are surely invalid ----------

INVALID = st.tuples(DOCUMENTS, st.sampled_from(["zz_unknown = 1\n", "[strategies.a]\n", "= x\n"]))


@settings(FUZZ, max_examples=40)
@given(case=INVALID)
def test_run_with_a_bad_configuration_exits_2(
    folder: Path, case: tuple[dict[str, Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    doc, poison = case
    try:
        text = toml_document(doc) + poison
    except TypeError:
        assume(False)
    path = folder / "bad.toml"
    path.write_text(text)
    capsys.readouterr()
    code = cli.main(["run", "--no-ui", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.rstrip("\n").split("\n")
    assert lines and all(line.startswith(f"{path}: ") for line in lines), err
    assert not (folder / "state").exists() and not (folder / "logs").exists()


def test_run_with_bad_configurations_as_a_process(tmp_path: Path) -> None:
    cases = [
        '[monitor]\nhttp = "x:99999"\n[strategies."a b"]\ncommand = 5\n',
        "[strategies.a]\ncommand = 'true'\nheartbeat_timeout = nan\nhartbeat = 1\n",
        '\x00\x01 not toml at all "',
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for index, text in enumerate(cases):
        path = tmp_path / f"bad{index}.toml"
        path.write_text(text)
        done = subprocess.run(
            [sys.executable, "-m", "tui_monitor", "run", "--no-ui", "--config", str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=30,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        lines = done.stderr.rstrip("\n").split("\n")
        assert all(line.startswith(f"{path}: ") for line in lines), done.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "text",
    [
        f'[strategies.a]\ncommand = ["/{"a" * 300}"]\n',
        f'[strategies.a]\ncommand = "true"\ncwd = "{"b" * 300}"\n',
        f'[monitor]\nstate_dir = "{"c" * 300}"\n',
        f'[monitor]\ncontrol_socket = "{"c" * 300}/control.sock"\n',
        f'[monitor]\ndisk_paths = ["{"c" * 300}"]\n',
    ],
    ids=["command", "cwd", "state_dir", "control_socket", "disk_paths"],
)
def test_a_path_component_too_long_is_a_config_error(folder: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        parse_config(text, folder / "tui-monitor.toml")


@pytest.mark.parametrize(
    "text",
    [
        '[strategies."x\\u009b2J"]\ncommand = "true"\n',
        '[monitor]\nhttp = "\\u009b31m\\u007f"\n',
    ],
    ids=["strategy-name", "value"],
)
def test_configuration_errors_carry_no_control_characters(folder: Path, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, folder / "tui-monitor.toml")
    for line in info.value.problems:
        assert not [c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F], repr(line)
