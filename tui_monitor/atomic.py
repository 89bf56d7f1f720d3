"""State files: atomic, durable replacement, and the strict reading and quarantine of bad ones.

Writing is the LWN recipe: temp file in the same folder, write, fsync, rename over, fsync the
folder. Without the fsyncs a rename is atomic for readers but, after a power cut, the name can
point at nothing. Reading accepts only what writing can write back (`read_state_json`), so a
hand-edited file is either usable or moved aside (`quarantine`) — never loaded and then
impossible to save.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
import time
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_json(path: Path, value: Any, *, durable: bool = True, pretty: bool = True) -> None:
    """`pretty`: an object's members one per line, for people reading the file; else one line."""
    text = json_text(value, pretty=pretty) + "\n"
    # A lone surrogate (JSON's "\\ud800" parses to one) is written back as that same escape.
    atomic_write_bytes(path, text.encode("utf-8", "backslashreplace"), durable=durable)


def json_text(value: Any, *, pretty: bool = True) -> str:
    """JSON as state files hold it. Pretty is one member of an object per line, each value
    compact: as readable for a job file, and all of it written by json's C encoder (`indent=`
    switches to the pure-Python one: ~5x slower on a large checkpoint, holding the GIL)."""
    if pretty and isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        members = ",\n".join(f"  {_dumps(key)}: {_dumps(item)}" for key, item in value.items())
        return "{\n" + members + "\n}"
    return _dumps(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file; anything else in its place (a folder, a named pipe: reading
    one would block for ever) is an OSError, like a file that cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:20]}")
    return value


def read_state_json(raw: bytes) -> Any:
    """Parse a state file strictly: only JSON that atomic_write_json can write back. NaN,
    Infinity and numbers out of a float's range, which json.loads accepts, are errors here, as
    is nesting too deep to parse; every error is a ValueError."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def quarantine(path: Path) -> Path:
    """Move a bad file aside (`<name>.corrupt-<timestamp>`) before anything can overwrite it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    os.replace(path, target)
    return target


def remove_stale_temp_files(folder: Path) -> None:
    """Temp files a crash left mid-write are garbage: their rename never happened."""
    for tmp in folder.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()
