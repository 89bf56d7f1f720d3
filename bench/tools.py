"""The supervisors under test, each started the way an operator would, on generated configuration:

- floor: bench/floor.py, the least a supervisor can do (Popen, wait, Popen; output to a file);
- tui-monitor: the real CLI, `python -m tui_monitor run --no-ui --config FILE`;
- supervisord: from PyPI (the `bench` extra), `supervisord -n -c FILE`, children's output to files;
- pm2: from the npm registry, installed into bench/.cache/npm at bench time when Node is
  there, with PM2_HOME in the scenario's temporary folder (nothing global is touched), and
  `pm2 kill` at the end.

A scenario describes its programs and a restart policy once; each tool turns that into its own
configuration. Policies: "immediate" (restart at once, forever), "once" (never restart), and
"defaults" (the tool's own defaults, nothing set).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.common import BENCH_DIR, PYTHON, Mode, wait_until
from bench.procs import Tracker

TOOLS = ("floor", "tui-monitor", "supervisord", "pm2")
PEERS = ("supervisord", "pm2")
NPM_PREFIX = BENCH_DIR / ".cache" / "npm"
BIN = Path(sys.executable).parent


@dataclass
class Program:
    name: str
    argv: list[str]
    #: Per-tool settings on top of the policy: {"tui-monitor": {key: value}, "supervisord": ...}
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)


class Running:
    """A started supervisor. `procs()` are the processes whose cost is the supervisor's."""

    tool: str

    def __init__(self, tool: str, folder: Path, tracker: Tracker) -> None:
        self.tool = tool
        self.folder = folder
        self.tracker = tracker
        self.main: subprocess.Popen[Any] | None = None

    def procs(self) -> list[psutil.Process]:
        assert self.main is not None
        try:
            return [psutil.Process(self.main.pid)]
        except psutil.Error:
            return []

    def log_files(self, name: str) -> list[Path]:
        """Every file (rotated ones too) holding the program's stdout."""
        raise NotImplementedError

    def state(self, name: str) -> dict[str, Any]:
        """{"state": ..., "restarts": ...} as the tool itself reports it."""
        return {"state": "running (no policy)" if self.tool == "floor" else "?", "restarts": None}

    def status_argv(self) -> list[str] | None:
        """The tool's status command against this running supervisor."""
        return None

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop (SIGTERM to the supervisor), bounded; the tracker kills what is left."""
        if self.main is None or self.main.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.main.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.main.wait(timeout)


def _rotated(path: Path) -> list[Path]:
    """path, path.1, path.2, ... that exist."""
    found = [path] if path.exists() else []
    found += sorted(
        (p for p in path.parent.glob(path.name + ".*") if p.name[len(path.name) + 1 :].isdigit()),
        key=lambda p: int(p.name.rsplit(".", 1)[1]),
    )
    return found


# ---- floor -------------------------------------------------------------------------------------


class FloorRunning(Running):
    def log_files(self, name: str) -> list[Path]:
        return _rotated(self.folder / "logs" / f"{name}.log")


def start_floor(
    folder: Path, tracker: Tracker, programs: Sequence[Program], policy: str
) -> FloorRunning:
    running = FloorRunning("floor", folder, tracker)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    spec = {
        "programs": [
            {
                "name": p.name,
                "argv": p.argv,
                "cwd": str(folder),
                "out": str(folder / "logs" / f"{p.name}.log"),
                "restart": policy != "once",
                **p.extra.get("floor", {}),
            }
            for p in programs
        ]
    }
    (folder / "floor.json").write_text(json.dumps(spec))
    running.main = tracker.spawn(
        [PYTHON, str(BENCH_DIR / "floor.py"), str(folder / "floor.json")],
        cwd=folder,
        log=folder / "floor.out",
    )
    return running


# ---- tui-monitor -------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


TUI_POLICIES: dict[str, dict[str, Any]] = {
    "immediate": {
        "restart_delay": 0,
        "max_restarts": 1_000_000,
        "restart_window": 1,
        "heartbeat_timeout": 0,
        "stop_timeout": 5,
    },
    "once": {"kind": "task", "restart": "never", "heartbeat_timeout": 0, "stop_timeout": 5},
    "defaults": {},
}


def tui_command() -> list[str]:
    """The console script when installed, else the module."""
    script = BIN / "tui-monitor"
    return [str(script)] if script.exists() else [PYTHON, "-m", "tui_monitor"]


class TuiRunning(Running):
    def __init__(self, folder: Path, tracker: Tracker) -> None:
        super().__init__("tui-monitor", folder, tracker)
        self.config = folder / "tui-monitor.toml"

    def log_files(self, name: str) -> list[Path]:
        return _rotated(self.folder / "logs" / "strategies" / f"{name}.log")

    def procs(self) -> list[psutil.Process]:
        """The supervisor and its guardian (an idle shell that is part of its cost)."""
        from tui_monitor.guardian import is_guardian

        procs = super().procs()
        for proc in procs[:1]:
            with contextlib.suppress(psutil.Error):
                procs += [child for child in proc.children() if is_guardian(child.cmdline())]
        return procs

    def status_argv(self) -> list[str]:
        return [*tui_command(), "status", "--config", str(self.config)]

    def snapshot(self) -> dict[str, Any]:
        done = self.tracker.run([*self.status_argv(), "--json"], cwd=self.folder, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"tui-monitor status failed ({done.returncode}): {done.stderr}")
        return json.loads(done.stdout)

    def state(self, name: str) -> dict[str, Any]:
        for s in self.snapshot()["strategies"]:
            if s["name"] == name:
                return {
                    "state": s["state"],
                    "restarts": s["total_restarts"],
                    "next_start_in": s.get("next_start_in"),
                    "reason": s.get("state_reason"),
                }
        raise KeyError(name)

    def ready(self) -> bool:
        return (self.folder / "state" / "control.sock").exists()


def start_tui(
    folder: Path,
    tracker: Tracker,
    programs: Sequence[Program],
    policy: str,
    monitor: Mapping[str, Any] | None = None,
) -> TuiRunning:
    running = TuiRunning(folder, tracker)
    lines = ["[monitor]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (monitor or {}).items()]
    for p in programs:
        keys = {"command": p.argv, **TUI_POLICIES[policy], **p.extra.get("tui-monitor", {})}
        lines.append(f"\n[strategies.{p.name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    running.config.write_text("\n".join(lines) + "\n")
    running.main = tracker.spawn(
        [*tui_command(), "run", "--no-ui", "--config", str(running.config)],
        cwd=folder,
        log=folder / "tui-monitor.out",
    )
    return running


# ---- supervisord -------------------------------------------------------------------------------

SUPERVISORD_POLICIES: dict[str, dict[str, Any]] = {
    "immediate": {"autorestart": "true", "startsecs": 0, "startretries": 1_000_000},
    "once": {"autorestart": "false", "startsecs": 0},
    "defaults": {},
}


def supervisord_bin() -> Path | None:
    for name in ("supervisord",):
        local = BIN / name
        if local.exists():
            return local
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _ini(value: Any) -> str:
    return str(value).replace("%", "%%")


class SupervisordRunning(Running):
    def __init__(self, folder: Path, tracker: Tracker) -> None:
        super().__init__("supervisord", folder, tracker)
        self.config = folder / "supervisord.conf"

    def log_files(self, name: str) -> list[Path]:
        return _rotated(self.folder / "logs" / f"{name}.log")

    def ctl(self) -> list[str]:
        binary = supervisord_bin()
        assert binary is not None
        return [str(binary.parent / "supervisorctl"), "-c", str(self.config)]

    def status_argv(self) -> list[str]:
        return [*self.ctl(), "status"]

    def state(self, name: str) -> dict[str, Any]:
        done = self.tracker.run([*self.ctl(), "status", name], cwd=self.folder, timeout=30)
        words = done.stdout.split()
        state = words[1] if len(words) > 1 else f"? ({done.stderr.strip()})"
        return {"state": state, "restarts": None, "reason": " ".join(words[2:])}

    def ready(self) -> bool:
        return (self.folder / "supervisor.sock").exists()


def start_supervisord(
    folder: Path, tracker: Tracker, programs: Sequence[Program], policy: str
) -> SupervisordRunning:
    running = SupervisordRunning(folder, tracker)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sock = folder / "supervisor.sock"
    lines = [
        "[supervisord]",
        "nodaemon = true",
        f"logfile = {_ini(folder / 'supervisord.log')}",
        f"pidfile = {_ini(folder / 'supervisord.pid')}",
        f"childlogdir = {_ini(logs)}",
        "",
        "[unix_http_server]",
        f"file = {_ini(sock)}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl = unix://{_ini(sock)}",
    ]
    for p in programs:
        keys: dict[str, Any] = {
            "command": shlex.join(p.argv),
            "directory": folder,
            "stdout_logfile": logs / f"{p.name}.log",
            "redirect_stderr": "true",
            "stopwaitsecs": 5,
            **SUPERVISORD_POLICIES[policy],
            **p.extra.get("supervisord", {}),
        }
        lines += ["", f"[program:{p.name}]"] + [f"{k} = {_ini(v)}" for k, v in keys.items()]
    running.config.write_text("\n".join(lines) + "\n")
    binary = supervisord_bin()
    assert binary is not None
    running.main = tracker.spawn(
        [str(binary), "-n", "-c", str(running.config)], cwd=folder, log=folder / "supervisord.out"
    )
    return running


# ---- pm2 ---------------------------------------------------------------------------------------

PM2_POLICIES: dict[str, dict[str, Any]] = {
    "immediate": {"autorestart": True, "restart_delay": 0, "max_restarts": 1_000_000},
    "once": {"autorestart": False},
    "defaults": {},
}


def pm2_bin() -> Path:
    return NPM_PREFIX / "node_modules" / ".bin" / "pm2"


def pm2_version() -> str | None:
    try:
        return json.loads((NPM_PREFIX / "node_modules" / "pm2" / "package.json").read_text())[
            "version"
        ]
    except (OSError, ValueError, KeyError):
        return None


class Pm2Running(Running):
    def __init__(self, folder: Path, tracker: Tracker) -> None:
        super().__init__("pm2", folder, tracker)
        self.home = folder / "pm2home"
        self.env = {"PM2_HOME": str(self.home), "HOME": str(folder)}

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return self.tracker.run(
            [str(pm2_bin()), *args], cwd=self.folder, env=self.env, timeout=timeout
        )

    def daemon_pid(self) -> int | None:
        try:
            return int((self.home / "pm2.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def procs(self) -> list[psutil.Process]:
        pid = self.daemon_pid()
        try:
            return [psutil.Process(pid)] if pid else []
        except psutil.Error:
            return []

    def log_files(self, name: str) -> list[Path]:
        return _rotated(self.folder / "logs" / f"{name}.log")

    def status_argv(self) -> list[str]:
        return [str(pm2_bin()), "status"]

    def jlist(self) -> list[dict[str, Any]]:
        out = self.cli("jlist", timeout=60).stdout
        start = out.find("[")
        return json.loads(out[start:]) if start >= 0 else []

    def state(self, name: str) -> dict[str, Any]:
        for app in self.jlist():
            if app.get("name") == name:
                env = app.get("pm2_env", {})
                return {"state": env.get("status"), "restarts": env.get("restart_time")}
        return {"state": "?", "restarts": None}

    def stop(self, timeout: float = 60.0) -> None:
        self.cli("kill", timeout=timeout)


def start_pm2(
    folder: Path, tracker: Tracker, programs: Sequence[Program], policy: str
) -> Pm2Running:
    running = Pm2Running(folder, tracker)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    apps = []
    for p in programs:
        apps.append(
            {
                "name": p.name,
                "script": p.argv[0],
                "args": p.argv[1:],
                "interpreter": "none",
                "exec_mode": "fork",
                "cwd": str(folder),
                "out_file": str(logs / f"{p.name}.log"),
                "error_file": str(logs / f"{p.name}.err.log"),
                "merge_logs": True,
                "vizion": False,
                "watch": False,
                **PM2_POLICIES[policy],
                **p.extra.get("pm2", {}),
            }
        )
    eco = folder / "ecosystem.json"
    eco.write_text(json.dumps({"apps": apps}, indent=1))
    done = running.cli("start", str(eco), timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"pm2 start failed: {done.stderr[-2000:]}")
    pid = running.daemon_pid()
    if pid is None:
        raise RuntimeError("pm2 started no daemon (no pm2.pid)")
    return running


# ---- the set of tools one bench run uses -------------------------------------------------------


class Toolbox:
    """Which tools this run can use, and why the others are skipped."""

    def __init__(self, mode: Mode, *, pm2: bool = True, install_pm2: bool | None = None) -> None:
        self.mode = mode
        self.skipped: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        import tui_monitor

        self.versions["tui-monitor"] = tui_monitor.__version__
        self.versions["floor"] = f"Python {sys.version.split()[0]} (bench/floor.py)"
        if supervisord_bin() is None:
            self.skipped["supervisord"] = (
                "supervisord is not installed (`pip install -e '.[bench]'`, as `make bench` does)"
            )
        else:
            self.versions["supervisord"] = subprocess.run(
                [str(supervisord_bin()), "--version"], capture_output=True, text=True, timeout=30
            ).stdout.strip()
        if not pm2:
            self.skipped["pm2"] = "pm2 left out (--no-pm2)"
        else:
            install = (not mode.smoke) if install_pm2 is None else install_pm2
            reason = self._ensure_pm2(install)
            if reason:
                self.skipped["pm2"] = reason
            else:
                node = subprocess.run(
                    ["node", "--version"], capture_output=True, text=True, timeout=30
                ).stdout.strip()
                self.versions["pm2"] = f"{pm2_version()} (Node {node})"

    @staticmethod
    def _ensure_pm2(install: bool) -> str | None:
        if shutil.which("node") is None:
            return "Node.js is not installed (no `node` on PATH)"
        if pm2_bin().exists() and pm2_version():
            return None
        if not install:
            return f"pm2 is not installed in {NPM_PREFIX} (smoke runs do not install it)"
        if shutil.which("npm") is None:
            return "npm is not installed"
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        print(f"bench: installing pm2 into {NPM_PREFIX} (npm install)", file=sys.stderr)
        try:
            done = subprocess.run(
                ["npm", "install", "--prefix", str(NPM_PREFIX), "pm2", "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=600,
            )
        except subprocess.TimeoutExpired:
            return "npm install pm2 timed out"
        if done.returncode != 0 or not pm2_bin().exists():
            return f"npm install pm2 failed: {done.stderr.strip()[-300:]}"
        return None

    def has(self, tool: str) -> bool:
        return tool not in self.skipped

    def use(self, tools: Sequence[str] = TOOLS) -> list[str]:
        return [t for t in tools if self.has(t)]

    def start(
        self,
        tool: str,
        folder: Path,
        tracker: Tracker,
        programs: Sequence[Program],
        policy: str,
        monitor: Mapping[str, Any] | None = None,
    ) -> Running:
        folder.mkdir(parents=True, exist_ok=True)
        if tool == "floor":
            return start_floor(folder, tracker, programs, policy)
        if tool == "tui-monitor":
            return start_tui(folder, tracker, programs, policy, monitor)
        if tool == "supervisord":
            return start_supervisord(folder, tracker, programs, policy)
        if tool == "pm2":
            return start_pm2(folder, tracker, programs, policy)
        raise ValueError(tool)

    def skipped_note(self, tools: Sequence[str] = TOOLS) -> str:
        notes = [f"{t}: skipped — {self.skipped[t]}" for t in tools if t in self.skipped]
        return ("\n".join(f"- {n}" for n in notes) + "\n\n") if notes else ""


def started_count(stamp_dir: Path) -> int:
    """How many children have written their first stamp."""
    count = 0
    for path in stamp_dir.glob("*.txt"):
        with contextlib.suppress(OSError):
            count += path.stat().st_size > 0
    return count


def wait_started(stamp_dir: Path, count: int, timeout: float) -> None:
    wait_until(
        lambda: started_count(stamp_dir) >= count,
        timeout,
        step=0.05,
        what=f"{count} children started",
    )


#: What had to be killed after a graceful stop, per scenario and tool (reported in the doc).
CLEANUP_LOG: list[str] = []


@contextlib.contextmanager
def supervised(
    tools: Toolbox,
    tool: str,
    folder: Path,
    programs: Sequence[Program],
    policy: str,
    *,
    scenario: str,
    monitor: Mapping[str, Any] | None = None,
) -> Iterator[Running]:
    """Start `tool` on `programs` in `folder`; on the way out stop it gracefully (bounded), kill
    whatever is left and check with psutil that no process of it remains."""
    tracker = Tracker()
    running: Running | None = None
    try:
        running = tools.start(tool, folder, tracker, programs, policy, monitor)
        yield running
    finally:
        try:
            if running is not None:
                running.stop()
        finally:
            killed = tracker.cleanup()
        if killed:
            CLEANUP_LOG.append(
                f"{scenario}, {tool}: killed after the graceful stop: {', '.join(killed)}"
            )
