"""The TOML configuration: loaded and validated completely before anything starts.

A supervisor that stops on the first typo, or worse starts half the strategies and then
fails, wastes the operator's time; so every check runs, and every problem is reported at
once as one line "FILE: key.path: reason" inside a single ConfigError.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import shlex
import shutil
import stat
import string
import tomllib
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from tui_monitor.errors import ConfigError

__all__ = [
    "DASHBOARD_KEYS",
    "DEFAULT_CONFIG_NAME",
    "KINDS",
    "RESTART_POLICIES",
    "STOP_SIGNALS",
    "Config",
    "DashboardConfig",
    "MonitorConfig",
    "StrategyConfig",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG_NAME = "tui-monitor.toml"

KINDS = ("service", "task")
RESTART_POLICIES = ("always", "on-failure", "never")
STOP_SIGNALS = ("TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "KILL")
#: `shell = true` runs the command with bash where there is one: POSIX sh (dash) cannot redirect
#: to a descriptor above 9, which `echo ok >&"$TUI_MONITOR_FD"` (the shell heartbeat) needs.
SHELL = "/bin/bash" if os.access("/bin/bash", os.X_OK) else "/bin/sh"

# Names become file names and job ids, hence no dots, slashes or spaces.
_STRATEGY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_ERROR_AT = re.compile(r"^(?P<msg>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$", re.S)
_TOML_ERROR_END = re.compile(r"^(?P<msg>.*) \(at end of document\)$", re.S)
_SHOW_MAX = 60
#: C0, DEL and C1: none of them may reach the operator's terminal raw (U+009B is a one-byte CSI).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class MonitorConfig:
    """Settings of the supervisor itself (the [monitor] table); all paths are absolute."""

    state_dir: Path
    log_dir: Path
    control_socket: Path
    http: str | None = None
    memory_threshold: float = 90.0
    disk_threshold: float = 90.0
    disk_paths: tuple[Path, ...] = ()
    metrics_interval: float = 2.0
    history_limit: int = 5000
    app_log_max_bytes: int = 10 * 1024 * 1024
    app_log_backups: int = 5
    restart_storm: int = 10
    restart_storm_window: float = 60.0


@dataclass(frozen=True)
class StrategyConfig:
    """One supervised program (a [strategies.NAME] table), with every default filled in."""

    name: str
    command: tuple[str, ...]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    shell: bool = False
    autostart: bool = True
    kind: str = "service"
    # "" means "the default for kind": services are always restarted, tasks only on failure.
    restart: str = ""
    heartbeat_timeout: float = 300.0
    start_seconds: float = 1.0
    max_restarts: int = 5
    restart_window: float = 600.0
    restart_delay: float = 60.0
    backoff_factor: float = 1.0
    backoff_max: float = 600.0
    restart_jitter: float = 0.0
    reset_after: float = 300.0
    fatal_cooldown: float = 0.0
    stop_timeout: float = 10.0
    stop_signal: str = "TERM"
    log_max_bytes: int = 50 * 1024 * 1024
    log_backups: int = 5

    def __post_init__(self) -> None:
        if not self.restart:
            default = "on-failure" if self.kind == "task" else "always"
            object.__setattr__(self, "restart", default)

    @property
    def job_id(self) -> str:
        """Identifier used by the engine, logs and the control socket."""
        return f"strategy_{self.name}"


@dataclass(frozen=True)
class AlertRule:
    """One [[alerts]] rule: on these events, run a command and/or POST JSON to a webhook."""

    name: str
    on: tuple[str, ...]
    strategies: tuple[str, ...] = ()  # empty: every strategy
    command: tuple[str, ...] | None = None
    webhook: str | None = None
    min_interval: float = 300.0  # seconds between two firings of this rule
    retries: int = 3
    timeout: float = 10.0


@dataclass(frozen=True)
class DashboardConfig:
    """The [dashboard] table: settings of the TUI only (the supervisor ignores them)."""

    #: Remapped keys only: action id -> Textual key names, comma-separated ("R", "ctrl+r,f5").
    keys: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """A whole validated configuration file."""

    path: Path
    monitor: MonitorConfig
    strategies: dict[str, StrategyConfig]
    alerts: tuple[AlertRule, ...] = ()
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)


# --------------------------------------------------------------------------- public entry points


def load_config(path: Path | str) -> Config:
    """Read and validate the file at ``path``; raise ConfigError listing every problem."""
    display = str(path)
    reason: str | None = None
    data = b""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = f"is a directory (expected a file such as {DEFAULT_CONFIG_NAME})"
    except PermissionError:
        reason = "permission denied"
    except NotADirectoryError:
        reason = "no such file (a parent is not a directory)"
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
    if reason is not None:
        raise ConfigError([f"{display}: cannot read: {reason}"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [f"{display}: line {line}: invalid UTF-8 (the file must be UTF-8 text)"]
        ) from None
    return _parse(text, Path(path), display)


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML ``text`` as if read from ``path`` (used for messages and as base dir)."""
    return _parse(text, Path(path), str(path))


# --------------------------------------------------------------------------- formatting helpers


def _key(key: str) -> str:
    """One key-path component, quoted like TOML when it is not a bare key."""
    return key if _BARE_KEY.fullmatch(key) else _quote(key)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return repr(value)


def _show(value: Any) -> str:
    """A value as the user wrote it in TOML, shortened so one problem stays one line."""
    text = _toml(value)
    return text if len(text) <= _SHOW_MAX else text[: _SHOW_MAX - 3] + "..."


def _quote(text: str) -> str:
    """The one quoting helper: a TOML/JSON string literal with every control character escaped
    (json.dumps escapes C0; DEL and C1 it leaves raw, so they are escaped here too)."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m[0]):04x}", json.dumps(text, ensure_ascii=False))


def _path_text(path: Path) -> str:
    """A path for a message: as is, unless it holds control characters (then quoted)."""
    text = str(path)
    return _quote(text) if _CONTROL.search(text) else text


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {_quote(close[0])}?)" if close else ""


# --------------------------------------------------------------------------- value converters


class _Invalid(Exception):
    """A single value is wrong; the reason becomes the text after "key.path: "."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_MISSING: Any = object()
Converter = Callable[[Any], Any]


def _number(what: str, ok: Callable[[float], bool]) -> Converter:
    """Durations and ratios: int or float (never bool, never a "5m" string), finite."""

    def convert(value: Any) -> float:
        if not isinstance(value, bool) and isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if math.isfinite(number) and ok(number):
                return number
        raise _Invalid(f"expected {what}, got {_show(value)}")

    return convert


def _integer(what: str, ok: Callable[[int], bool]) -> Converter:
    def convert(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and ok(value):
            return value
        raise _Invalid(f"expected {what}, got {_show(value)}")

    return convert


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected a boolean, got {_show(value)}")


def _choice(choices: tuple[str, ...]) -> Converter:
    def convert(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        hint = _suggest(value, choices) if isinstance(value, str) else ""
        expected = ", ".join(_quote(c) for c in choices)
        raise _Invalid(f"expected one of {expected}, got {_show(value)}{hint}")

    return convert


def _stop_signal(value: Any) -> str:
    if isinstance(value, str):
        name = value.strip().upper()
        name = name.removeprefix("SIG")
        if name in STOP_SIGNALS:
            return name
    names = ", ".join(STOP_SIGNALS[:-1]) + f" or {STOP_SIGNALS[-1]}"
    raise _Invalid(f"expected a signal name ({names}), got {_show(value)}")


def _http(value: Any) -> str | None:
    if not isinstance(value, str):
        raise _Invalid(f'expected "host:port", got {_show(value)}')
    if value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep:
        raise _Invalid(f'expected "host:port", got {_show(value)}')
    if not host.strip():
        raise _Invalid(f'expected "host:port" with a non-empty host, got {_show(value)}')
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise _Invalid(f'IPv6 hosts need brackets, e.g. "[::1]:8080", got {_show(value)}')
    if not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        raise _Invalid(f'expected "host:port" with a port from 1 to 65535, got {_show(value)}')
    return value


_SECONDS_POSITIVE = _number("seconds > 0", lambda x: x > 0)
_SECONDS = _number("seconds >= 0", lambda x: x >= 0)
_PERCENT = _number("a percentage > 0 and <= 100", lambda x: 0 < x <= 100)
_FACTOR = _number("a number >= 1", lambda x: x >= 1)
_FRACTION = _number("a fraction from 0 to 1", lambda x: 0 <= x <= 1)
_COUNT = _integer("an integer >= 0", lambda x: x >= 0)
_BYTES = _integer("an integer > 0 (bytes)", lambda x: x > 0)

_MONITOR_FIELDS: dict[str, Converter] = {
    "http": _http,
    "memory_threshold": _PERCENT,
    "disk_threshold": _PERCENT,
    "metrics_interval": _SECONDS_POSITIVE,
    "history_limit": _integer("an integer >= 100", lambda x: x >= 100),
    "app_log_max_bytes": _BYTES,
    "app_log_backups": _COUNT,
    "restart_storm": _integer("an integer >= 1", lambda x: x >= 1),
    "restart_storm_window": _SECONDS_POSITIVE,
}
_MONITOR_PATHS = ("state_dir", "log_dir", "control_socket")
_MONITOR_KEYS = (*_MONITOR_PATHS, "disk_paths", *_MONITOR_FIELDS)

_STRATEGY_FIELDS: dict[str, Converter] = {
    "autostart": _boolean,
    "kind": _choice(KINDS),
    "restart": _choice(RESTART_POLICIES),
    "heartbeat_timeout": _SECONDS,
    "start_seconds": _SECONDS,
    "max_restarts": _COUNT,
    "restart_window": _SECONDS_POSITIVE,
    "restart_delay": _SECONDS,
    "backoff_factor": _FACTOR,
    "backoff_max": _SECONDS,
    "restart_jitter": _FRACTION,
    "reset_after": _SECONDS,
    "fatal_cooldown": _SECONDS,
    "stop_timeout": _SECONDS_POSITIVE,
    "stop_signal": _stop_signal,
    "log_max_bytes": _BYTES,
    "log_backups": _COUNT,
}
_STRATEGY_KEYS = ("command", "cwd", "env", "shell", *_STRATEGY_FIELDS)
_TOP_KEYS = ("monitor", "strategies", "alerts", "dashboard")

assert set(_STRATEGY_KEYS) <= {f.name for f in dataclasses.fields(StrategyConfig)}
assert set(_MONITOR_KEYS) <= {f.name for f in dataclasses.fields(MonitorConfig)}


# --------------------------------------------------------------------------- validation machinery


class _Section:
    """One TOML table under validation.

    Flags unknown keys on creation and keeps its problems ordered as the keys appear in the
    file, so the report reads top to bottom like the file does.
    """

    def __init__(
        self,
        display: str,
        table: dict[str, Any],
        path: str,
        known: tuple[str, ...] | None,
    ) -> None:
        self.display = display
        self.table = table
        self.path = path
        self._order = {key: index for index, key in enumerate(table)}
        self._items: list[tuple[int, int, str]] = []
        if known is not None:
            for key in table:
                if key not in known:
                    self.problem(key, "unknown key" + _suggest(key, known))

    def key_path(self, key: str, suffix: str = "") -> str:
        head = f"{self.path}.{_key(key)}" if self.path else _key(key)
        return head + suffix

    def problem(self, key: str, reason: str, suffix: str = "") -> None:
        """Record ``reason`` against ``key`` (``suffix`` adds e.g. "[2]" or ".NAME")."""
        self.add_lines(key, [f"{self.display}: {self.key_path(key, suffix)}: {reason}"])

    def add_lines(self, key: str, lines: list[str]) -> None:
        index = self._order.get(key, len(self._order))
        for line in lines:
            self._items.append((index, len(self._items), line))

    @property
    def failed(self) -> bool:
        return bool(self._items)

    def lines(self) -> list[str]:
        return [line for _, _, line in sorted(self._items)]

    def get(self, key: str) -> Any:
        return self.table.get(key, _MISSING)

    def take(self, key: str, convert: Converter, into: dict[str, Any]) -> None:
        """Convert ``key`` if present into ``into``; absent keys keep the dataclass default."""
        value = self.get(key)
        if value is _MISSING:
            return
        try:
            into[key] = convert(value)
        except _Invalid as exc:
            self.problem(key, exc.reason)


def _absolute(base: Path, raw: str) -> Path:
    """Resolve a user path: "~" expanded, relative paths taken from the config's folder."""
    try:
        return (base / Path(raw).expanduser()).resolve()
    except (OSError, RuntimeError) as exc:
        raise _Invalid(f"cannot resolve path {_show(raw)}: {exc}") from None


def _default_path(path: Path) -> Path:
    """Defaults must never fail: fall back to the unresolved absolute path."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _file_type(path: Path) -> str | None:
    """What is at `path`: "dir", "file", "other", or None when nothing is there.

    The one place config.py looks at the file system: pathlib's exists()/is_dir()/is_file()
    raise for a name too long, a folder without search permission and the like — here that is
    a reason (_Invalid), never a traceback."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise _Invalid(f"cannot use {_path_text(path)}: {reason}") from None
    except ValueError as exc:  # embedded NUL; the path checks reject it earlier
        raise _Invalid(f"cannot use {_path_text(path)}: {exc}") from None
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _folder_problem(directory: Path) -> str | None:
    """Why `directory` could not be used or created, or None."""
    try:
        if (kind := _file_type(directory)) is not None:
            shown = _path_text(directory)
            return None if kind == "dir" else f"exists but is not a directory: {shown}"
        for ancestor in directory.parents:
            if (kind := _file_type(ancestor)) is not None:
                if kind != "dir":
                    return f"cannot be created: {_path_text(ancestor)} is not a directory"
                return None
    except _Invalid as exc:
        return exc.reason
    return None


def _path_value(base: Path, value: Any) -> Path:
    if not isinstance(value, str) or not value or "\0" in value:
        raise _Invalid(f"expected a non-empty path string, got {_show(value)}")
    return _absolute(base, value)


def _parse(text: str, path: Path, display: str) -> Config:
    text = text.removeprefix("\ufeff")  # editors on Windows like to add a BOM
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_toml_error_line(display, text, str(exc))]) from None

    config_path = Path(os.path.abspath(path))
    base = config_path.parent
    root = _Section(display, data, "", _TOP_KEYS)

    monitor = _monitor(root, base)
    strategies = _strategies(root, base)
    alerts = _alerts(root, strategies)
    dashboard = _dashboard(root)

    if root.failed:
        raise ConfigError(root.lines())
    assert monitor is not None
    return Config(
        path=config_path,
        monitor=monitor,
        strategies=strategies,
        alerts=alerts,
        dashboard=dashboard,
    )


def _toml_error_line(display: str, text: str, message: str) -> str:
    if match := _TOML_ERROR_AT.match(message):
        return f"{display}: line {match['line']}: {match['msg']}"
    if match := _TOML_ERROR_END.match(message):
        return f"{display}: line {max(len(text.splitlines()), 1)}: {match['msg']}"
    return f"{display}: {message}"


def _table(root: _Section, key: str) -> dict[str, Any] | None:
    """The sub-table at ``key`` ({} when absent), or None after reporting a wrong shape."""
    value = root.get(key)
    if value is _MISSING:
        return {}
    if not isinstance(value, dict):
        root.problem(key, f"expected a table, got {_show(value)}")
        return None
    return value


def _monitor(root: _Section, base: Path) -> MonitorConfig | None:
    table = _table(root, "monitor")
    if table is None:
        return None
    sec = _Section(root.display, table, "monitor", _MONITOR_KEYS)
    values: dict[str, Any] = {}
    for key, convert in _MONITOR_FIELDS.items():
        sec.take(key, convert, values)

    paths: dict[str, Path] = {}
    for key in _MONITOR_PATHS:
        if (raw := sec.get(key)) is _MISSING:
            continue
        try:
            paths[key] = _path_value(base, raw)
        except _Invalid as exc:
            sec.problem(key, exc.reason)
    state_dir = paths.get("state_dir") or _default_path(base / "state")
    log_dir = paths.get("log_dir") or _default_path(base / "logs")
    control_socket = paths.get("control_socket") or state_dir / "control.sock"
    for key, directory in (("state_dir", state_dir), ("log_dir", log_dir)):
        if (problem := _folder_problem(directory)) is not None:
            sec.problem(key, problem)
    try:
        if _file_type(control_socket) == "dir":
            sec.problem("control_socket", f"is a directory: {_path_text(control_socket)}")
    except _Invalid as exc:
        sec.problem("control_socket", exc.reason)

    disk_paths: list[Path] = []
    raw_disks = sec.get("disk_paths")
    if raw_disks is not _MISSING:
        if not isinstance(raw_disks, list):
            sec.problem("disk_paths", f"expected a list of paths, got {_show(raw_disks)}")
        else:
            for index, raw in enumerate(raw_disks):
                try:
                    disk = _path_value(base, raw)
                except _Invalid as exc:
                    sec.problem("disk_paths", exc.reason, f"[{index}]")
                    continue
                try:
                    if _file_type(disk) is None:
                        shown = _path_text(disk)
                        sec.problem("disk_paths", f"path does not exist: {shown}", f"[{index}]")
                except _Invalid as exc:
                    sec.problem("disk_paths", exc.reason, f"[{index}]")
                disk_paths.append(disk)

    root.add_lines("monitor", sec.lines())
    if sec.failed:
        return None
    return MonitorConfig(
        state_dir=state_dir,
        log_dir=log_dir,
        control_socket=control_socket,
        disk_paths=tuple(disk_paths),
        **values,
    )


def _strategies(root: _Section, base: Path) -> dict[str, StrategyConfig]:
    table = _table(root, "strategies")
    if table is None:
        return {}
    holder = _Section(root.display, table, "strategies", None)
    result: dict[str, StrategyConfig] = {}
    for name, body in table.items():
        name_ok = bool(_STRATEGY_NAME.fullmatch(name))
        if not name_ok:
            holder.problem(
                name,
                'invalid name: use letters, digits, "_" and "-" (at most 64), '
                "starting with a letter or digit",
            )
        if not isinstance(body, dict):
            holder.problem(name, f"expected a table, got {_show(body)}")
            continue
        sec = _Section(root.display, body, holder.key_path(name), _STRATEGY_KEYS)
        strategy = _strategy(sec, name, base)
        holder.add_lines(name, sec.lines())
        if name_ok and strategy is not None:
            result[name] = strategy
    root.add_lines("strategies", holder.lines())
    return result


def _strategy(sec: _Section, name: str, base: Path) -> StrategyConfig | None:
    values: dict[str, Any] = {}
    sec.take("shell", _boolean, values)
    for key, convert in _STRATEGY_FIELDS.items():
        sec.take(key, convert, values)
    env = _env(sec)
    cwd = _cwd(sec, base)
    command = _command(sec, cwd, env, shell=values.get("shell", False))
    if sec.failed or cwd is None or command is None:
        return None
    return StrategyConfig(name=name, command=command, cwd=cwd, env=env, **values)


def _env(sec: _Section) -> dict[str, str]:
    raw = sec.get("env")
    if raw is _MISSING:
        return {}
    if not isinstance(raw, dict):
        sec.problem("env", f"expected a table of strings, got {_show(raw)}")
        return {}
    env: dict[str, str] = {}
    for key, value in raw.items():
        suffix = "." + _key(key)
        if not key or "=" in key or "\0" in key:
            sec.problem(
                "env", 'invalid variable name: must be non-empty without "=" or NUL', suffix
            )
        elif not isinstance(value, str):
            sec.problem("env", f"expected a string, got {_show(value)}", suffix)
        elif "\0" in value:
            sec.problem("env", "value contains a NUL character", suffix)
        else:
            env[key] = value
    return env


def _cwd(sec: _Section, base: Path) -> Path | None:
    raw = sec.get("cwd")
    try:
        cwd = _absolute(base, ".") if raw is _MISSING else _path_value(base, raw)
        kind = _file_type(cwd)
    except _Invalid as exc:
        sec.problem("cwd", exc.reason)
        return None
    if kind is None:
        sec.problem("cwd", f"directory does not exist: {_path_text(cwd)}")
        return None
    if kind != "dir":
        sec.problem("cwd", f"not a directory: {_path_text(cwd)}")
        return None
    return cwd


def _command(
    sec: _Section, cwd: Path | None, env: dict[str, str], *, shell: bool
) -> tuple[str, ...] | None:
    raw = sec.get("command")
    if raw is _MISSING:
        sec.problem("command", "required key missing: the program to run (a string or a list)")
        return None
    if shell:
        if not isinstance(raw, str):
            sec.problem("command", f"expected a string when shell = true, got {_show(raw)}")
            return None
        if not raw.strip():
            sec.problem("command", f"expected a non-empty command, got {_show(raw)}")
            return None
        if "\0" in raw:
            sec.problem("command", "contains a NUL character")
            return None
        return (SHELL, "-c", raw)

    if isinstance(raw, str):
        try:
            argv = shlex.split(raw)
        except ValueError as exc:
            sec.problem("command", f"cannot split into arguments: {exc}")
            return None
        if not argv:
            sec.problem("command", f"expected a non-empty command, got {_show(raw)}")
            return None
    elif isinstance(raw, list):
        if not raw:
            sec.problem("command", "expected a non-empty list of strings, got []")
            return None
        argv = []
        for index, item in enumerate(raw):
            if isinstance(item, str):
                argv.append(item)
            else:
                sec.problem("command", f"expected a string, got {_show(item)}", f"[{index}]")
        if len(argv) != len(raw):
            return None
    else:
        sec.problem("command", f"expected a string or a list of strings, got {_show(raw)}")
        return None

    if any("\0" in arg for arg in argv):
        sec.problem("command", "contains a NUL character")
        return None
    if not argv[0]:
        sec.problem("command", "the program name is empty")
        return None
    if (reason := _program_problem(argv[0], cwd, env)) is not None:
        sec.problem("command", reason)
        return None
    return tuple(argv)


def _program_problem(program: str, cwd: Path | None, env: dict[str, str]) -> str | None:
    """Why ``program`` could not be executed, the way exec would look for it; None if fine."""
    shown = _quote(program)
    if "/" in program:
        candidate = Path(program)
        if not candidate.is_absolute():
            if cwd is None:
                return None  # the cwd problem is already reported
            candidate = cwd / candidate
        try:
            kind = _file_type(candidate)
        except _Invalid as exc:
            return f"program {shown}: {exc.reason}"
        where = _path_text(candidate)
        if kind == "dir":
            return f"program {shown} is a directory: {where}"
        if kind is None:
            return f"program {shown} not found: {where} does not exist"
        if kind != "file":
            return f"program {shown} is not a regular file: {where}"
        if not os.access(candidate, os.X_OK):
            return f"program {shown} is not executable: {where}"
        return None
    # The child runs with the strategy's PATH when it sets one, so look there.
    search = env.get("PATH")
    if shutil.which(program, path=search) is None:
        where = "on PATH (as set in env)" if search is not None else "on PATH"
        return f"program {shown} not found {where}"
    return None


ALERT_EVENTS = (
    "fatal",
    "heartbeat_missed",
    "restart",
    "degraded",
    "unhealthy",
    "recovered",
    "job_failed",
    "memory",
    "disk",
)
_ALERT_KEYS = (
    "name",
    "on",
    "strategies",
    "command",
    "webhook",
    "min_interval",
    "retries",
    "timeout",
)


def _alerts(root: _Section, strategies: dict[str, StrategyConfig]) -> tuple[AlertRule, ...]:
    raw = root.get("alerts")
    if raw is _MISSING:
        return ()
    if not isinstance(raw, list):
        root.problem("alerts", f"expected an array of tables ([[alerts]]), got {_show(raw)}")
        return ()
    rules: list[AlertRule] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            root.problem("alerts", f"expected a table, got {_show(item)}", f"[{index}]")
            continue
        sec = _Section(root.display, item, f"alerts[{index}]", _ALERT_KEYS)
        rule = _alert(sec, index, strategies)
        root.add_lines("alerts", sec.lines())
        if rule is not None and not sec.failed:
            rules.append(rule)
    return tuple(rules)


def _alert(sec: _Section, index: int, strategies: dict[str, StrategyConfig]) -> AlertRule | None:
    values: dict[str, Any] = {"name": f"alert-{index + 1}"}
    name = sec.get("name")
    if name is not _MISSING:
        if isinstance(name, str) and name:
            values["name"] = name
        else:
            sec.problem("name", f"expected a non-empty string, got {_show(name)}")
    on = sec.get("on")
    if on is _MISSING:
        sec.problem("on", f"required key missing: a list of events ({', '.join(ALERT_EVENTS)})")
    elif not isinstance(on, list) or not on:
        sec.problem("on", f"expected a non-empty list of event names, got {_show(on)}")
    else:
        for i, event in enumerate(on):
            if event not in ALERT_EVENTS:
                sec.problem(
                    "on",
                    f"unknown event {_show(event)}" + _suggest(str(event), ALERT_EVENTS)
                    if isinstance(event, str)
                    else f"expected an event name, got {_show(event)}",
                    f"[{i}]",
                )
        values["on"] = tuple(str(e) for e in on)
    names = sec.get("strategies")
    if names is not _MISSING:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            sec.problem("strategies", f"expected a list of strategy names, got {_show(names)}")
        else:
            for i, n in enumerate(names):
                if n not in strategies:
                    sec.problem("strategies", f"unknown strategy {_show(n)}", f"[{i}]")
            values["strategies"] = tuple(names)
    if sec.get("command") is not _MISSING:
        argv = _command(sec, None, {}, shell=False)
        if argv is not None:
            values["command"] = argv
    webhook = sec.get("webhook")
    if webhook is not _MISSING:
        if not isinstance(webhook, str) or not webhook.startswith(("http://", "https://")):
            sec.problem("webhook", f"expected an http:// or https:// URL, got {_show(webhook)}")
        else:
            values["webhook"] = webhook
    if command_missing := (sec.get("command") is _MISSING and webhook is _MISSING):
        sec.problem("on", "an alert needs a command or a webhook (or both)")
    del command_missing
    sec.take("min_interval", _SECONDS, values)
    sec.take("retries", _COUNT, values)
    sec.take("timeout", _SECONDS_POSITIVE, values)
    if sec.failed or "on" not in values:
        return None
    return AlertRule(**values)


# --------------------------------------------------------------------------- [dashboard]

#: The dashboard's actions, by the id `[dashboard] keys` remaps them with, and their default keys
#: (Textual key names; a comma separates several keys). The TUI builds its bindings from this.
DASHBOARD_KEYS: dict[str, str] = {
    # the main screen
    "restart": "r",
    "stop": "s",
    "start": "t",
    "resume": "u",
    "detail": "enter",
    "filter": "slash",
    "follow": "f",
    "all_logs": "a",
    "level": "l",
    "type": "y",
    "sort": "o",
    "zoom": "z",
    "health": "h",
    "help": "question_mark",
    "quit": "q",
    # the detail screen (restart, stop, start and resume act there too)
    "back": "escape,q",
    # a confirmation question
    "yes": "y",
    "no": "n,escape",
}
#: Which actions share a screen (main, detail, a question): a key may do one thing on each.
_KEY_SCREENS = (
    (
        *("restart", "stop", "start", "resume", "detail", "filter", "follow", "all_logs"),
        *("level", "type", "sort", "zoom", "health", "help", "quit"),
    ),
    ("back", "restart", "stop", "start", "resume"),
    ("yes", "no"),
)
#: Keys the dashboard needs for itself: moving around, the command palette, quitting.
_RESERVED_KEYS = {
    "tab": "moves between panels",
    "shift+tab": "moves between panels",
    "up": "moves the cursor",
    "down": "moves the cursor",
    "left": "moves the cursor",
    "right": "moves the cursor",
    "home": "moves the cursor",
    "end": "moves the cursor",
    "pageup": "moves the cursor",
    "pagedown": "moves the cursor",
    "ctrl+p": "opens the command palette",
    "ctrl+q": "always quits (asking first in run mode)",
    "ctrl+c": "always quits (asking first in run mode)",
}
_MODIFIERS = ("ctrl", "alt", "shift", "meta", "super", "hyper")
_NAMED_KEYS = frozenset(
    {"escape", "enter", "tab", "space", "backspace", "delete", "insert", "home", "end"}
    | {"pageup", "pagedown", "up", "down", "left", "right"}
    | {f"f{n}" for n in range(1, 25)}
)
#: Textual's names of characters (what it calls "?" in a binding): Unicode's, with a few renamed.
_CHAR_RENAMES = {
    "solidus": "slash",
    "reverse_solidus": "backslash",
    "commercial_at": "at",
    "hyphen_minus": "minus",
    "plus_sign": "plus",
    "low_line": "underscore",
}


def _char_key(char: str) -> str:
    """Textual's name of the key that types `char` ("?" -> "question_mark", "R" -> "R")."""
    if char.isalnum():
        return char
    name = unicodedata.name(char, char).lower().replace("-", "_").replace(" ", "_")
    return _CHAR_RENAMES.get(name, name)


_CHAR_NAMES = frozenset(_char_key(c) for c in string.punctuation)


def _one_key(key: str) -> str:
    """One key, normalised to Textual's name for it, or _Invalid saying what is wrong."""
    if len(key) == 1:
        if not key.isprintable() or key.isspace():
            raise _Invalid(f'{_quote(key)} is not a key (write e.g. "space" or "tab")')
        return _char_key(key)
    *mods, base = key.split("+")
    if base == "" and mods:  # "ctrl++"
        mods, base = mods[:-1], "+"
    for mod in mods:
        if mod not in _MODIFIERS:
            hint = _suggest(mod, _MODIFIERS) or f" (modifiers: {', '.join(_MODIFIERS)})"
            raise _Invalid(f"{_quote(key)}: unknown modifier {_quote(mod)}{hint}")
    if len(set(mods)) != len(mods):
        raise _Invalid(f"{_quote(key)}: a modifier is repeated")
    if len(base) == 1:
        if not base.isprintable() or base.isspace():
            raise _Invalid(f"{_quote(key)} is not a key")
        if mods and base.isupper():
            raise _Invalid(f"{_quote(key)}: write the letter in lower case after a modifier")
        return "+".join([*mods, _char_key(base)])
    if base in _NAMED_KEYS or base in _CHAR_NAMES:
        return "+".join([*mods, base])
    known = sorted(_NAMED_KEYS | _CHAR_NAMES)
    raise _Invalid(
        f"{_quote(key)}: unknown key {_quote(base)}"
        + (_suggest(base, known) or ' (a character, or a name such as "enter" or "f5")')
    )


def _key_list(value: Any) -> str:
    """A `[dashboard] keys` value: a key, keys separated by commas, or a list of keys."""
    if isinstance(value, str):
        parts = value.split(",") if len(value) > 1 else [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        raise _Invalid(
            f'expected a key such as "R" or "ctrl+r" (or a list of keys), got {_show(value)}'
        )
    keys: list[str] = []
    for part in parts:
        part = part.strip() if len(part) > 1 else part
        if not part:
            raise _Invalid(f"expected a key, got {_show(value)} (an empty key)")
        key = _one_key(part)
        if key in _RESERVED_KEYS:
            raise _Invalid(f"{_quote(key)} is reserved: it {_RESERVED_KEYS[key]}")
        if key not in keys:
            keys.append(key)
    return ",".join(keys)


def _dashboard(root: _Section) -> DashboardConfig:
    table = _table(root, "dashboard")
    if not table:
        return DashboardConfig()
    sec = _Section(root.display, table, "dashboard", ("keys",))
    keys: dict[str, str] = {}
    raw = sec.get("keys")
    if raw is not _MISSING and not isinstance(raw, dict):
        sec.problem("keys", f"expected a table of action = key, got {_show(raw)}")
    elif raw is not _MISSING:
        for action, value in raw.items():
            suffix = "." + _key(action)
            if action not in DASHBOARD_KEYS:
                hint = (
                    _suggest(action, DASHBOARD_KEYS) or f" (actions: {', '.join(DASHBOARD_KEYS)})"
                )
                sec.problem("keys", f"unknown action{hint}", suffix)
                continue
            try:
                keys[action] = _key_list(value)
            except _Invalid as exc:
                sec.problem("keys", exc.reason, suffix)
        # A key does one thing per screen: a remapped key must not be another action's too.
        clashes: set[tuple[str, str, str]] = set()
        for screen in _KEY_SCREENS:
            owner: dict[str, str] = {}
            for action in screen:
                for key in keys.get(action, DASHBOARD_KEYS[action]).split(","):
                    other = owner.setdefault(key, action)
                    if other == action:
                        continue
                    culprit, victim = (action, other) if action in keys else (other, action)
                    if culprit not in keys or (culprit, key, victim) in clashes:
                        continue  # the defaults never clash; restart & co. are on two screens
                    clashes.add((culprit, key, victim))
                    how = "also" if victim in keys else "already"
                    sec.problem(
                        "keys",
                        f"{_quote(key)} is {how} the key of {_quote(victim)}",
                        "." + _key(culprit),
                    )
    root.add_lines("dashboard", sec.lines())
    return DashboardConfig(keys=keys)
