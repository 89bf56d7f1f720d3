"""Child processes: spawn each in its own process group, see its exit the instant it happens, and
end its whole tree.

Exit detection uses a pidfd registered with the event loop (one file descriptor per child; no
polling tick and no watcher thread per child, unlike asyncio's 3.11 default). Children are started
directly, with no wrapper exec on the restart path: if the supervisor is killed, its guardian
(guardian.py) ends them, and failing that the next supervisor does (orphans.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field

import psutil

PR_SET_CHILD_SUBREAPER = 36

#: Environment variable every strategy process (and everything it forks) carries, so that the
#: supervisor can find descendants that escaped their process group.
INSTANCE_ENV = "TUI_MONITOR_INSTANCE"
JOB_ENV = "TUI_MONITOR_JOB_ID"
STATE_ENV = "TUI_MONITOR_STATE_DIR"
RUN_ENV = "TUI_MONITOR_RUN"  # one value per start of a strategy: its leftovers, not its successor


def become_subreaper() -> bool:
    """Make orphaned descendants (double-forked daemons) re-parent to us instead of PID 1."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


#: The open-files limit we started with, handed back to every child once we raised ours.
_child_nofile: tuple[int, int] | None = None


def raise_open_files_limit() -> tuple[int, int]:
    """Raise our soft RLIMIT_NOFILE to the hard limit: each strategy costs the supervisor a few
    descriptors (pipes, channel, pidfd), and the usual soft limit of 1024 would cap us at a few
    hundred strategies. Children get the original limit back (programs that use select() rely
    on it). Returns the limit now in force."""
    global _child_nofile
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft, hard
    if _child_nofile is None:
        _child_nofile = (soft, hard)
    return target, hard


def _restore_child_limits(pid: int) -> None:
    if _child_nofile is not None:
        with contextlib.suppress(OSError, ValueError):
            resource.prlimit(pid, resource.RLIMIT_NOFILE, _child_nofile)


@dataclass
class Child:
    """A running strategy process. `exited` resolves with its returncode the moment it ends."""

    popen: subprocess.Popen[bytes]
    pid: int
    started_mono: float
    exited: asyncio.Future[int] = field(repr=False)
    _pidfd: int = field(default=-1, repr=False)
    _on_exit: Callable[[Child], None] | None = field(default=None, repr=False)

    def on_exit(self, callback: Callable[[Child], None]) -> None:
        """Call `callback` from the exit notification itself, not a loop iteration later as a
        done-callback of `exited` would: the restart path starts there."""
        if self.exited.done():
            self.exited.get_loop().call_soon(callback, self)
        else:
            self._on_exit = callback

    @property
    def pgid(self) -> int:
        return self.pid  # process_group=0 makes the child the leader of its own group

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def signal_group(self, sig: int) -> bool:
        """Signal the child's whole process group, and the child itself through its pidfd: a
        strategy that moved to another group (setpgid) is still reached, and a pidfd can never
        hit a recycled pid. False if nothing was there to signal."""
        sent = False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)
            sent = True
        if self._pidfd >= 0:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                signal.pidfd_send_signal(self._pidfd, sig)
                sent = True
        return sent


def create_time(pid: int) -> float | None:
    """A process's start time, which with its pid identifies it after a supervisor restart (None
    if it is gone). Blocking: reading /proc/PID/stat waits until a new child's exec has finished,
    so call it off the event loop."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def spawn(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str],
    pass_fds: Sequence[int] = (),
    stdin: int = subprocess.DEVNULL,
    stdout: int | None = None,
    stderr: int | None = None,
    new_session: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
    monotonic: float = 0.0,
    on_exit_hook: Callable[[], None] | None = None,
) -> Child:
    """Start `argv` in a new process group (or session) and watch its exit. Raises OSError if it
    cannot run."""
    loop = loop or asyncio.get_running_loop()
    try:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            pass_fds=tuple(pass_fds),
            start_new_session=new_session,
            process_group=None if new_session else 0,
            close_fds=True,
        )
    except OSError:
        resolve_program(argv[0], cwd, env)  # raises what is wrong, in words
        raise
    _restore_child_limits(popen.pid)
    exited: asyncio.Future[int] = loop.create_future()
    child = Child(popen, popen.pid, monotonic, exited)
    try:
        _watch_exit(child, loop, on_exit_hook)
    except OSError:
        # Unwatched, it would run on unsupervised while a failed start launches another copy.
        _own_pids.discard(popen.pid)
        with contextlib.suppress(OSError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.kill()
        popen.wait()
        raise
    return child


def resolve_program(program: str, cwd: str | os.PathLike[str], env: Mapping[str, str]) -> str:
    """The executable's path, checked after a failed start so that the error says what is wrong
    (not on PATH, not executable). Raises FileNotFoundError / PermissionError like exec would."""
    if "/" in program:
        path = os.path.join(cwd, program)
        if not os.path.exists(path):
            raise FileNotFoundError(2, "No such file or directory", program)
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise PermissionError(13, "Permission denied (not an executable file)", program)
        return os.path.abspath(path)
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise FileNotFoundError(2, "No such file or directory (not found on PATH)", program)
    return found


def _watch_exit(
    child: Child, loop: asyncio.AbstractEventLoop, on_exit_hook: Callable[[], None] | None
) -> None:
    _own_pids.add(child.pid)
    try:
        child._pidfd = os.pidfd_open(child.pid)
    except ProcessLookupError:
        # Already gone and reaped by someone else: report what Popen knows.
        _own_pids.discard(child.pid)
        child.exited.set_result(child.popen.wait())
        return

    def on_readable() -> None:
        returncode = child.popen.poll()
        if returncode is None:  # spurious wake-up; the pidfd stays registered
            return
        loop.remove_reader(child._pidfd)
        os.close(child._pidfd)
        child._pidfd = -1
        _own_pids.discard(child.pid)
        if not child.exited.done():
            child.exited.set_result(returncode)
        if child._on_exit is not None:
            try:
                child._on_exit(child)
            except Exception as exc:  # the reaping below must happen all the same
                loop.call_exception_handler({"message": "exit callback failed", "exception": exc})
        if on_exit_hook is not None:
            on_exit_hook()

    loop.add_reader(child._pidfd, on_readable)


#: pids this process spawned and reaps itself (through their pidfd callbacks).
_own_pids: set[int] = set()


def reap_orphans() -> list[int]:
    """Reap adopted orphans (when we are a subreaper) without stealing the exit status of our own
    children. `WNOWAIT` peeks at the next zombie; ours are left for their pidfd callback, which
    calls this again once it has reaped them."""
    reaped: list[int] = []
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return reaped
        if info is None or info.si_pid in _own_pids:
            return reaped
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.si_pid, 0)
        reaped.append(info.si_pid)


def child_pids(pid: int) -> list[int] | None:
    """Direct children of `pid` from /proc/PID/task/*/children: a few small reads, where
    psutil's children() scans the whole process table. None where the kernel lacks the file."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(x) for x in f.read().split())
        except FileNotFoundError:
            if not os.path.exists(f"/proc/{pid}"):
                return found
            return None  # no CONFIG_PROC_CHILDREN
        except OSError:
            continue
    return found


def descendant_pids(pid: int) -> list[int]:
    """Every descendant of `pid`, cheaply for the small trees strategies have."""
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = child_pids(todo.pop())
        if kids is None:  # fall back to the process-table scan
            with contextlib.suppress(psutil.Error):
                return [p.pid for p in psutil.Process(pid).children(recursive=True)]
            return out
        out.extend(kids)
        todo.extend(kids)
    return out


def descendants_outside_group(child: Child) -> list[psutil.Process]:
    """Descendants of `child` that left its process group (setsid/setpgid): killpg misses them."""
    outside: list[psutil.Process] = []
    for pid in descendant_pids(child.pid):
        try:
            if os.getpgid(pid) != child.pgid:
                outside.append(psutil.Process(pid))
        except (ProcessLookupError, psutil.Error):
            continue
    return outside


def find_marked(
    instance: str | None = None,
    job_id: str | None = None,
    *,
    state_dir: str | None = None,
    exclude_instance: str | None = None,
    run: str | None = None,
) -> list[psutil.Process]:
    """Processes of this user carrying our markers, wherever they re-parented: of one supervisor
    instance (and job), or of any supervisor of one state folder except `exclude_instance`."""
    found: list[psutil.Process] = []
    uid = os.getuid()
    me = os.getpid()
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.pid == me or proc.info["uids"] is None or proc.info["uids"].real != uid:
                continue
        except psutil.Error:
            continue
        if _carries_marker(proc, instance, job_id, state_dir, exclude_instance, run):
            found.append(proc)
    return found


def find_marked_below(
    root: int, skip: Container[int], instance: str, job_id: str, run: str
) -> list[psutil.Process] | None:
    """Processes of one run among `root`'s descendants, not looking inside `skip` (the live
    strategies' own trees). When the supervisor is a subreaper, whatever an ended run left
    behind is re-parented below it, so this finds what `find_marked` would at the cost of a
    few small reads instead of a scan of the whole process table — which, done after every
    restart, held the GIL long enough to delay other strategies' heartbeat deadlines. None
    where the kernel cannot list children (then only the scan will do)."""
    if child_pids(root) is None:
        return None
    found: list[psutil.Process] = []
    todo = [root]
    while todo:
        for pid in child_pids(todo.pop()) or []:
            if pid in skip:
                continue
            todo.append(pid)
            try:
                proc = psutil.Process(pid)
            except psutil.Error:
                continue
            if _carries_marker(proc, instance, job_id, None, None, run):
                found.append(proc)
    return found


def _carries_marker(
    proc: psutil.Process,
    instance: str | None,
    job_id: str | None,
    state_dir: str | None,
    exclude_instance: str | None,
    run: str | None,
) -> bool:
    try:
        env = proc.environ()
    except psutil.Error:  # gone, or not ours to read
        return False
    return _marked(env, instance, job_id, state_dir, exclude_instance, run)


def _marked(
    env: Mapping[str, str],
    instance: str | None,
    job_id: str | None,
    state_dir: str | None,
    exclude_instance: str | None,
    run: str | None,
) -> bool:
    if INSTANCE_ENV not in env:
        return False
    if instance is not None and env.get(INSTANCE_ENV) != instance:
        return False
    if job_id is not None and env.get(JOB_ENV) != job_id:
        return False
    if run is not None and env.get(RUN_ENV) != run:
        return False
    if state_dir is not None and env.get(STATE_ENV) != state_dir:
        return False
    return not (exclude_instance is not None and env.get(INSTANCE_ENV) == exclude_instance)


def kill_processes(procs: Sequence[psutil.Process], sig: int = signal.SIGKILL) -> int:
    killed = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
            killed += 1
    return killed


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def parse_signal(name: str) -> int:
    name = name.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    return int(signal.Signals[name])
