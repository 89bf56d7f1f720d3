"""The real `tui-monitor` command, end to end: a subprocess with a configuration in tmp_path and
real strategy processes. Version and usage, headless start and stop on SIGTERM/SIGINT (nothing left
running), SIGKILL of the supervisor (its strategies die with it), bad configurations (exit 2,
nothing started), systemd's notify protocol, the demo, and no escape sequence on stderr.

Every supervisor started here carries a unique marker in its environment, which its strategies and
their children inherit: that is how a test finds every process it caused, asserts that none is left,
and kills them all in its `finally`, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import FAST, PYTHON, ROOT, alive, pids_in_file, wait_for_sync, write_config
from tui_monitor import __version__
from tui_monitor.guardian import is_guardian
from tui_monitor.sdnotify import Notifier

MARK_ENV = "TUI_MONITOR_TEST_MARK"
MODULE = [PYTHON, "-m", "tui_monitor"]
START_TIMEOUT = 15.0  # generous bounds: a loaded CI machine must not make these tests flaky
EXIT_TIMEOUT = 15.0

#: A strategy that records its pid, optionally starts two grandchildren (one that ignores SIGTERM
#: and stays in the strategy's process group, one that left it with setsid), then heartbeats and
#: keeps running even once the channel is broken (so only a signal can end it) — or, with CRASH
#: set, exits with code 3 after a tenth of a second.
STRATEGY = """\
import json, os, signal, subprocess, sys, time

def note(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, f"{os.getpid()}\\n".encode())
    os.close(fd)

if len(sys.argv) > 1:  # a grandchild
    if sys.argv[1] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    note(os.environ["GRANDCHILD_FILE"])
    while True:
        time.sleep(1)

if "ENV_FILE" in os.environ:
    keys = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    with open(os.environ["ENV_FILE"], "w") as f:
        f.write(json.dumps({k: os.environ.get(k) for k in keys}))
if os.environ.get("GRANDCHILDREN"):
    subprocess.Popen([sys.executable, __file__, "stubborn"])
    subprocess.Popen([sys.executable, __file__, "escaped"], start_new_session=True)
note(os.environ["PID_FILE"])
if os.environ.get("CRASH"):
    time.sleep(0.1)
    sys.exit(3)
channel = int(os.environ["TUI_MONITOR_FD"])
while True:
    try:
        os.write(channel, b"alive\\n")
    except OSError:
        pass
    time.sleep(0.05)
"""

#: A strategy that sends hostile text over its channel: a raw heartbeat line with ANSI escapes and
#: Rich markup, a line that is not valid JSON because of a raw ESC, an unknown op holding ESC and a
#: C1 CSI, and an unknown op that looks like loguru/str.format markup.
HOSTILE = """\
import os, time
channel = int(os.environ["TUI_MONITOR_FD"])
os.write(channel, b"\\x1b[31mred\\x1b[0m [bold]x[/]\\n")
os.write(channel, b'{"op":"bogus\\x1b[31m"}\\n')
os.write(channel, b'{"op":"evil\\\\u001b[2J\\\\u009b31m"}\\n')
os.write(channel, b'{"op":"<red>{0}</red>"}\\n')
fd = os.open(os.environ["PID_FILE"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
os.write(fd, f"{os.getpid()}\\n".encode())
os.close(fd)
while True:
    try:
        os.write(channel, b"\\x1b]0;title\\x07still alive\\n")
    except OSError:
        pass
    time.sleep(0.05)
"""


# ------------------------------------------------------------------------------------ helpers


def entry_point() -> str | None:
    """The installed `tui-monitor` script next to this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "tui-monitor"
    if beside.exists():
        return str(beside)
    return shutil.which("tui-monitor")


def marked(mark: str) -> list[psutil.Process]:
    """Live (non-zombie) processes carrying `mark` in their environment, other than us."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or proc.environ().get(MARK_ENV) != mark:
                continue
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_marked(mark: str) -> None:
    for proc in marked(mark):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def base_env(mark: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID")}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **{MARK_ENV: mark})
    env.update(extra)
    return env


@dataclass
class Supervisor:
    proc: subprocess.Popen[bytes]
    err_path: Path
    mark: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_bytes(self) -> bytes:
        return self.err_path.read_bytes() if self.err_path.exists() else b""

    def stderr(self) -> str:
        return self.stderr_bytes().decode("utf-8", "replace")

    def wait_for(self, predicate: Callable[[str], Any], timeout: float = START_TIMEOUT) -> Any:
        """Poll stderr until `predicate(text)` is truthy; fail at once if the supervisor ends."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.stderr()
            value = predicate(text)
            if value:
                return value
            if self.proc.poll() is not None:
                pytest.fail(f"supervisor exited with {self.proc.returncode}; stderr:\n{text}")
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout} s; stderr:\n{text}")
            time.sleep(0.02)

    def wait_running(self, *names: str) -> None:
        self.wait_for(lambda text: all(running_line(text, name) for name in names))

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=EXIT_TIMEOUT)


def running_line(text: str, name: str) -> bool:
    return re.search(rf"(?m)\b{re.escape(name)}: \S+ -> running\b", text) is not None


@contextlib.contextmanager
def supervisor(
    args: list[str], cwd: Path, *, command: list[str] = MODULE, **env: str
) -> Iterator[Supervisor]:
    """Start the real command; whatever happens, kill it and everything it caused afterwards."""
    mark = uuid.uuid4().hex
    err_path = cwd / f"supervisor-{mark[:8]}.err"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [*command, *args],
            cwd=cwd,
            env=base_env(mark, **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield Supervisor(proc, err_path, mark)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=EXIT_TIMEOUT)
        kill_marked(mark)


def strategy_file(folder: Path) -> Path:
    path = folder / "strategy.py"
    path.write_text(STRATEGY)
    return path


def strategy_keys(folder: Path, name: str, *, grandchildren: bool = False, **env: str) -> dict:
    """Config keys of one STRATEGY process writing its pid to `<name>.pids`."""
    variables = {"PID_FILE": str(folder / f"{name}.pids"), **env}
    if grandchildren:
        variables |= {"GRANDCHILDREN": "1", "GRANDCHILD_FILE": str(folder / f"{name}.gpids")}
    return {
        **FAST,
        "command": [PYTHON, str(strategy_file(folder))],
        "env": variables,
    }


def started(folder: Path, *names: str) -> list[int]:
    """The pids of the strategies `names`, once each has written its pid file."""
    files = [folder / f"{name}.pids" for name in names]
    wait_for_sync(lambda: all(pids_in_file(f) for f in files), timeout=START_TIMEOUT)
    return [pid for f in files for pid in pids_in_file(f)]


def run_cli(args: list[str], cwd: Path, command: list[str] = MODULE) -> subprocess.CompletedProcess:
    """A command that must end by itself and leave no process behind."""
    mark = uuid.uuid4().hex
    try:
        result = subprocess.run(
            [*command, *args],
            cwd=cwd,
            env=base_env(mark),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=EXIT_TIMEOUT,
        )
        assert not marked(mark), f"processes left behind: {marked(mark)}"
        return result
    finally:
        kill_marked(mark)


def short_socket_path(tmp_path: Path) -> tuple[Path, Path | None]:
    """A socket path in tmp_path, or in a short temporary folder if that is over AF_UNIX's limit."""
    path = tmp_path / "notify.sock"
    if len(os.fsencode(path)) < 100:
        return path, None
    folder = Path(tempfile.mkdtemp(prefix="tmn-"))
    return folder / "notify.sock", folder


# ------------------------------------------------------------------------------------ 1. basics


def command_for(how: str) -> list[str]:
    if how == "module":
        return MODULE
    script = entry_point()
    if script is None:
        pytest.skip("the tui-monitor entry point is not installed")
    return [script]


@pytest.mark.parametrize("how", ["entry-point", "module"])
def test_version(tmp_path: Path, how: str) -> None:
    result = run_cli(["--version"], tmp_path, command_for(how))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tui-monitor {__version__}"
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("how", ["entry-point", "module"])
def test_no_arguments_prints_usage_and_exits_2(tmp_path: Path, how: str) -> None:
    result = run_cli([], tmp_path, command_for(how))
    assert result.returncode == 2
    assert "usage: tui-monitor" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ 2. stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_headless_signal_stops_everything_and_exits_0(tmp_path: Path, sig: int) -> None:
    config = write_config(
        tmp_path,
        {
            "alpha": strategy_keys(tmp_path, "alpha", grandchildren=True),
            "beta": strategy_keys(tmp_path, "beta"),
        },
    )
    # SIGTERM: `python -m` with an explicit --config; SIGINT: the installed script with the
    # default tui-monitor.toml of the working folder.
    if sig == signal.SIGTERM:
        command, args = MODULE, ["run", "--no-ui", "--config", str(config)]
    else:
        command, args = command_for("entry-point"), ["run", "--no-ui"]
    with supervisor(args, tmp_path, command=command) as sup:
        sup.wait_running("alpha", "beta")
        strategies = started(tmp_path, "alpha", "beta")
        wait_for_sync(lambda: len(pids_in_file(tmp_path / "alpha.gpids")) == 2, timeout=10)
        grandchildren = pids_in_file(tmp_path / "alpha.gpids")
        assert len(strategies) == 2 and all(alive(p) for p in strategies + grandchildren)
        text = sup.stderr()
        assert "-> running" in text

        assert sup.stop(sig) == 0, sup.stderr()

        # The supervisor waited for its strategies: they are gone the moment it has exited.
        assert not any(alive(p) for p in strategies)
        # Grandchildren got their SIGKILL before it exited; allow the kernel a moment to finish.
        wait_for_sync(lambda: not any(alive(p) for p in grandchildren), timeout=3)
        wait_for_sync(lambda: not marked(sup.mark), timeout=3)
        text = sup.stderr()
        assert "Traceback" not in text
        assert re.search(r"alpha: \S+ -> stopped", text), text
        assert re.search(r"beta: \S+ -> stopped", text), text
        # Exactly one run each: the shutdown did not restart anything.
        assert len(pids_in_file(tmp_path / "alpha.pids")) == 1
        assert len(pids_in_file(tmp_path / "beta.pids")) == 1


def test_headless_survives_its_stderr_going_away(tmp_path: Path) -> None:
    """The terminal or journal reading stderr goes away: supervision goes on, SIGTERM still
    stops it cleanly."""
    keys = {**strategy_keys(tmp_path, "alpha", CRASH="1"), "max_restarts": 1000}
    config = write_config(tmp_path, {"alpha": keys})
    pid_file = tmp_path / "alpha.pids"
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [*MODULE, "run", "--no-ui", "--config", str(config)],
        cwd=tmp_path,
        env=base_env(mark),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_for_sync(lambda: pids_in_file(pid_file), timeout=START_TIMEOUT)
        assert proc.stderr is not None
        proc.stderr.close()  # every further line on stderr now meets a broken pipe
        before = len(pids_in_file(pid_file))
        wait_for_sync(lambda: len(pids_in_file(pid_file)) >= before + 2, timeout=START_TIMEOUT)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=EXIT_TIMEOUT) == 0
        wait_for_sync(lambda: not marked(mark), timeout=3)
    finally:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=EXIT_TIMEOUT)
        kill_marked(mark)


# ------------------------------------------------------------------------------------ 3. SIGKILL


def guardian_of(pid: int) -> psutil.Process:
    """The supervisor's guardian: a child shell waiting to run `tui_monitor.guardian`."""
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.Error):
            if is_guardian(child.cmdline()):
                return child
    raise AssertionError(f"supervisor {pid} has no guardian")


def test_sigkill_of_supervisor_ends_its_strategies(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {"alpha": strategy_keys(tmp_path, "alpha"), "beta": strategy_keys(tmp_path, "beta")},
    )
    with supervisor(["run", "--no-ui", "--config", str(config)], tmp_path) as sup:
        sup.wait_running("alpha", "beta")
        strategies = started(tmp_path, "alpha", "beta")
        assert len(strategies) == 2 and all(alive(p) for p in strategies)

        sup.proc.send_signal(signal.SIGKILL)
        assert sup.proc.wait(timeout=EXIT_TIMEOUT) == -signal.SIGKILL

        # The strategies ignore their broken channel; only the guardian ends them.
        wait_for_sync(lambda: not any(alive(p) for p in strategies), timeout=10)
        app_log = tmp_path / "logs" / "app.log"
        wait_for_sync(lambda: "the supervisor died without stopping" in app_log.read_text())


def alpha_and_grandchildren(sup: Supervisor, folder: Path) -> tuple[list[int], list[int]]:
    """alpha running, with the two grandchildren it forks: (its processes, the grandchildren)."""
    sup.wait_running("alpha")
    family = started(folder, "alpha")
    wait_for_sync(lambda: len(pids_in_file(folder / "alpha.gpids")) == 2, timeout=10)
    return family, pids_in_file(folder / "alpha.gpids")


def test_grandchildren_of_a_sigkilled_supervisor_are_ended_by_its_guardian(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha", grandchildren=True)})
    with supervisor(["run", "--no-ui", "--config", str(config)], tmp_path) as sup:
        family, grandchildren = alpha_and_grandchildren(sup, tmp_path)
        sup.proc.send_signal(signal.SIGKILL)
        sup.proc.wait(timeout=EXIT_TIMEOUT)
        wait_for_sync(lambda: not any(alive(p) for p in family + grandchildren), timeout=10)


def test_what_outlives_a_supervisor_and_its_guardian_is_ended_by_the_next(
    tmp_path: Path,
) -> None:
    """Both SIGKILLed at once: nothing ends the strategies until the next supervisor starts,
    which finds them by pid and start time, and their daemons by marker (promise 2)."""
    config = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha", grandchildren=True)})
    with supervisor(["run", "--no-ui", "--config", str(config)], tmp_path) as sup:
        family, grandchildren = alpha_and_grandchildren(sup, tmp_path)
        guardian = guardian_of(sup.proc.pid)
        guardian.kill()
        sup.proc.send_signal(signal.SIGKILL)
        sup.proc.wait(timeout=EXIT_TIMEOUT)
        assert all(alive(p) for p in family + grandchildren)
    with supervisor(["run", "--no-ui", "--config", str(config)], tmp_path) as sup:
        wait_for_sync(lambda: not any(alive(p) for p in grandchildren), timeout=10)
        sup.wait_running("alpha")


# ------------------------------------------------------------------------------------ 4. bad config


def _assert_nothing_started(result: subprocess.CompletedProcess, folder: Path) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert not (folder / "state").exists()
    assert not (folder / "logs").exists()
    assert not (folder / "alpha.pids").exists()


@pytest.mark.parametrize("case", ["toml-syntax", "unknown-key", "bad-value", "relative-path"])
def test_bad_configuration_exits_2_and_starts_nothing(tmp_path: Path, case: str) -> None:
    keys = strategy_keys(tmp_path, "alpha")
    if case == "unknown-key":
        keys["heartbeat_timout"] = 1
    elif case in ("bad-value", "relative-path"):
        keys["heartbeat_timeout"] = "5m"
    config = write_config(tmp_path, {"alpha": keys})
    syntax_line = 0
    if case == "toml-syntax":
        text = config.read_text() + "restart_delay = \n"
        config.write_text(text)
        syntax_line = len(text.splitlines())
    shown = "tui-monitor.toml" if case == "relative-path" else str(config)

    result = run_cli(["run", "--no-ui", "--config", shown], tmp_path)

    _assert_nothing_started(result, tmp_path)
    message = result.stderr
    if case == "toml-syntax":
        assert f"{shown}: line {syntax_line}" in message, message
    elif case == "unknown-key":
        assert f"{shown}: strategies.alpha.heartbeat_timout: unknown key" in message, message
        assert '"heartbeat_timeout"' in message  # the suggestion
    else:
        assert message.startswith(f"{shown}: strategies.alpha.heartbeat_timeout: "), message
        assert '"5m"' in message


def test_missing_config_file_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = run_cli(["run", "--no-ui", "--config", str(missing)], tmp_path)
    _assert_nothing_started(result, tmp_path)
    assert str(missing) in result.stderr
    assert "no such file" in result.stderr


def test_missing_default_config_exits_2(tmp_path: Path) -> None:
    result = run_cli(["run", "--no-ui"], tmp_path)
    _assert_nothing_started(result, tmp_path)
    assert "tui-monitor.toml" in result.stderr


def test_state_dir_below_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    config = write_config(
        tmp_path, {"alpha": strategy_keys(tmp_path, "alpha")}, {"state_dir": "afile/state"}
    )
    result = run_cli(["run", "--no-ui", "--config", str(config)], tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert "monitor.state_dir" in result.stderr


def test_second_supervisor_on_same_state_refuses_and_starts_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"alpha": strategy_keys(tmp_path, "alpha")})
    args = ["run", "--no-ui", "--config", str(config)]
    with supervisor(args, tmp_path) as first:
        first.wait_running("alpha")
        pids = started(tmp_path, "alpha")
        with supervisor(args, tmp_path) as second:
            code = second.proc.wait(timeout=EXIT_TIMEOUT)
            assert code == 1, second.stderr()
            assert "already running" in second.stderr()
            assert "Traceback" not in second.stderr()
        assert pids_in_file(tmp_path / "alpha.pids") == pids  # no second copy started
        assert all(alive(p) for p in pids)
        assert first.proc.poll() is None
        assert first.stop(signal.SIGTERM) == 0


# ------------------------------------------------------------------------------------ 5. sd_notify


def _receive(sock: socket.socket, until: Callable[[list[str]], bool], timeout: float) -> list[str]:
    """Datagrams (decoded) until `until(received)` holds; fails after `timeout` seconds."""
    received: list[str] = []
    deadline = time.monotonic() + timeout
    while not until(received):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"notify messages so far: {received!r}")
        sock.settimeout(min(remaining, 0.2))
        with contextlib.suppress(TimeoutError):
            received.append(sock.recv(65536).decode())
    return received


def _lines(messages: list[str]) -> list[set[str]]:
    return [set(m.split("\n")) for m in messages]


def test_sd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    sock_path, extra_dir = short_socket_path(tmp_path)
    env_file = tmp_path / "strategy-env.json"
    config = write_config(
        tmp_path, {"alpha": strategy_keys(tmp_path, "alpha", ENV_FILE=str(env_file))}
    )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(sock_path))
        with supervisor(
            ["run", "--no-ui", "--config", str(config)],
            tmp_path,
            NOTIFY_SOCKET=str(sock_path),
            WATCHDOG_USEC="200000",
        ) as sup:

            def ready_then_two_pings(got: list[str]) -> bool:
                lines = _lines(got)
                ready = [i for i, m in enumerate(lines) if "READY=1" in m]
                return bool(ready) and sum("WATCHDOG=1" in m for m in lines[ready[0] :]) >= 2

            before = _receive(sock, ready_then_two_pings, START_TIMEOUT)
            lines = _lines(before)
            assert "READY=1" in lines[0], before  # nothing before READY=1
            assert not any("STOPPING=1" in m for m in lines), before
            assert any(line.startswith("STATUS=") for line in lines[0]), before

            sup.wait_running("alpha")
            wait_for_sync(env_file.exists, timeout=10)
            wait_for_sync(lambda: env_file.read_text().endswith("}"), timeout=5)
            seen = json.loads(env_file.read_text())
            assert seen == {"NOTIFY_SOCKET": None, "WATCHDOG_USEC": None, "WATCHDOG_PID": None}

            sup.proc.send_signal(signal.SIGTERM)
            after = _receive(sock, lambda got: any("STOPPING=1" in m for m in _lines(got)), 10)
            assert sup.proc.wait(timeout=EXIT_TIMEOUT) == 0, sup.stderr()
            assert "Traceback" not in sup.stderr()
            assert not any("READY=1" in m for m in _lines(after))
    finally:
        sock.close()
        if extra_dir is not None:
            shutil.rmtree(extra_dir, ignore_errors=True)


def test_notifier_abstract_namespace() -> None:
    name = f"tui-monitor-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "200000"})
        assert notifier.enabled
        assert notifier.watchdog_interval == pytest.approx(0.1)
        assert notifier.ready("1 running")
        assert sock.recv(4096) == b"READY=1\nSTATUS=1 running"
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.status("all good")
        assert sock.recv(4096) == b"STATUS=all good"
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_notifier_without_listener_or_socket_is_quiet() -> None:
    nobody = Notifier({"NOTIFY_SOCKET": f"@tui-monitor-test-nobody-{uuid.uuid4().hex}"})
    assert nobody.enabled
    assert nobody.ready() is False  # nobody listens: reported, never raised
    off = Notifier({})
    assert not off.enabled and off.watchdog_interval is None
    assert off.ready() is False and off.watchdog() is False
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"})
    assert other.watchdog_interval is None  # the watchdog is for another process
    mine = Notifier(
        {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    )
    assert mine.watchdog_interval == pytest.approx(0.1)


# ------------------------------------------------------------------------------------ 6. demo


DEMO_NAMES = ("feed", "crashy", "hangs", "batch")


def test_demo_headless_starts_and_stops_on_sigint(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    with supervisor(["demo", "--no-ui", "--dir", str(demo_dir)], tmp_path) as sup:
        sup.wait_running(*DEMO_NAMES)
        assert (demo_dir / "tui-monitor-demo.toml").is_file()

        def demo_children() -> dict[int, str]:
            found = {}
            for proc in psutil.Process(sup.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    cmdline = " ".join(proc.cmdline())
                    match = re.search(r"tui_monitor/demo/(\w+)\.py", cmdline)
                    if match:
                        found[proc.pid] = match.group(1)
            return found

        children = wait_for_sync(
            lambda: (c := demo_children()) and set(c.values()) >= set(DEMO_NAMES) and c,
            timeout=START_TIMEOUT,
        )
        assert all(
            proc.environ().get(MARK_ENV) == sup.mark for proc in map(psutil.Process, children)
        )

        assert sup.stop(signal.SIGINT) == 0, sup.stderr()

        wait_for_sync(lambda: not any(alive(p) for p in children), timeout=3)
        wait_for_sync(lambda: not marked(sup.mark), timeout=3)
        assert "Traceback" not in sup.stderr()
        assert (demo_dir / "state").is_dir() and (demo_dir / "logs").is_dir()
        assert not (tmp_path / "state").exists()  # --dir, not the working folder


# ------------------------------------------------------------------------------------ 7. escapes


def test_stderr_never_carries_escape_sequences(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.py"
    hostile.write_text(HOSTILE)
    config = write_config(
        tmp_path,
        {
            "alpha": {
                **FAST,
                "command": [PYTHON, str(hostile)],
                "env": {"PID_FILE": str(tmp_path / "alpha.pids")},
            }
        },
    )
    with supervisor(["run", "--no-ui", "--config", str(config)], tmp_path) as sup:
        sup.wait_running("alpha")
        sup.wait_for(lambda text: "evil" in text and "<red>{0}</red>" in text)
        sup.wait_for(lambda text: "JSON" in text)
        assert sup.stop(signal.SIGTERM) == 0, sup.stderr()

    raw = sup.stderr_bytes()
    assert b"\x1b" not in raw, raw
    assert b"\x07" not in raw, raw  # BEL (ends an OSC title sequence)
    assert "\x9b" not in raw.decode("utf-8", "replace"), raw  # C1 CSI
    text = raw.decode()
    assert "Traceback" not in text
    warning = next(line for line in text.splitlines() if "evil" in line)
    assert "WARNING" in warning and "alpha" in warning
    assert "<red>{0}</red>" in text  # shown verbatim: neither markup nor a format string
