"""`tui-monitor logs`: read the log files — running supervisor or not — like `tail`, `tail -F`.

Strategy output is `logs/strategies/<name>.log` (stdout) and `<name>.err.log` (stderr), rotated to
`.1` … `.N`; the supervisor's own log is `logs/app.log`. Lines are printed with control characters
made visible (a log file is data, and must not drive the terminal), filtered by level and type the
way views filter them (JSON lines carry theirs; plain lines get one from a cheap heuristic).
"""

from __future__ import annotations

import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tui_monitor.logline import classify
from tui_monitor.text import safe_text

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TYPES = ("system", "strategy", "order")
FOLLOW_INTERVAL = 0.2
_APP_LINE = re.compile(rb"^\S+ \S+ \| (?P<level>\w+) +\| (?P<type>\w+) +\|")


@dataclass(frozen=True)
class Source:
    """One log file and how to read a level and a type off its lines."""

    path: Path
    label: str  # printed before each line ("" for none)
    kind: str  # "app" or the stream: "stdout" / "stderr"

    def level_and_type(self, raw: bytes) -> tuple[str, str]:
        if self.kind == "app":
            m = _APP_LINE.match(raw)
            return (m["level"].decode(), m["type"].decode()) if m else ("INFO", "system")
        level, kind, _, _ = classify(raw, self.kind)
        return level, kind


def sources(log_dir: Path, name: str | None) -> list[Source]:
    if name is None:
        return [Source(log_dir / "app.log", "", "app")]
    base = log_dir / "strategies"
    return [
        Source(base / f"{name}.log", "out│ ", "stdout"),
        Source(base / f"{name}.err.log", "err│ ", "stderr"),
    ]


def known_strategies(log_dir: Path) -> list[str]:
    folder = log_dir / "strategies"
    if not folder.is_dir():
        return []
    names = {p.name.split(".")[0] for p in folder.iterdir() if ".log" in p.name}
    return sorted(names)


def rotated(path: Path) -> list[Path]:
    """The file and its backups, oldest first: name.log.N … name.log.1, name.log."""
    backups = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), p))
    return [p for _, p in sorted(backups, reverse=True)] + ([path] if path.exists() else [])


def last_lines(path: Path, count: int) -> list[bytes]:
    """The last `count` complete lines across the file and its backups."""
    out: deque[bytes] = deque(maxlen=count)
    for p in rotated(path):
        try:
            with open(p, "rb") as f:
                for raw in f:
                    out.append(raw.rstrip(b"\n"))
        except OSError:
            continue
    return list(out)


def wanted(source: Source, raw: bytes, level: str | None, kind: str | None) -> bool:
    if level is None and kind is None:
        return True
    line_level, line_type = source.level_and_type(raw)
    if level is not None and LEVELS.index(line_level) < LEVELS.index(level):
        return False
    return kind is None or line_type == kind


def render(source: Source, raw: bytes) -> str:
    return source.label + safe_text(raw, 100_000)


class Follower:
    """Reads what is appended to a file; notices rotation (new inode, or the file shrank)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = None
        self._inode: tuple[int, int] | None = None
        self._partial = b""
        try:
            self._open(at_end=True)
        except OSError:
            pass

    def _open(self, at_end: bool) -> None:
        f = open(self.path, "rb")  # noqa: SIM115 - kept open while following
        st = os.fstat(f.fileno())
        if at_end:
            f.seek(0, os.SEEK_END)
        if self._file is not None:
            self._file.close()
        self._file, self._inode = f, (st.st_dev, st.st_ino)

    def read(self) -> list[bytes]:
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        lines: list[bytes] = []
        if self._file is not None and (
            (st.st_dev, st.st_ino) != self._inode or st.st_size < self._file.tell()
        ):
            lines += self._drain()  # the rest of the old file, then the new one from its start
            self._open(at_end=False)
        elif self._file is None:
            self._open(at_end=False)
        return lines + self._drain()

    def _drain(self) -> list[bytes]:
        assert self._file is not None
        data = self._partial + self._file.read()
        *complete, self._partial = data.split(b"\n")
        return complete


def show(
    log_dir: Path,
    name: str | None,
    *,
    count: int,
    follow: bool,
    level: str | None,
    kind: str | None,
    out: Callable[[str], None],
    stop: Callable[[], bool] = lambda: False,
) -> None:
    srcs = sources(log_dir, name)
    for src in srcs:
        for raw in last_lines(src.path, count):
            if wanted(src, raw, level, kind):
                out(render(src, raw))
    if not follow:
        return
    followers = [(src, Follower(src.path)) for src in srcs]
    while not stop():
        for src, follower in followers:
            for raw in follower.read():
                if wanted(src, raw, level, kind):
                    out(render(src, raw))
        time.sleep(FOLLOW_INTERVAL)
