"""Unix socket addresses of any length.

`sun_path` holds at most 107 bytes, and a deep install folder easily exceeds that. A longer path
is reached through its folder instead: `/proc/self/fd/<O_PATH descriptor of the folder>/<name>`,
which Linux resolves like the real path (the socket file is created in, or found in, the real
folder).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

#: sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SUN_PATH = 107


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for bind() or connect() that names `path`, valid inside the `with` block."""
    raw = str(path)
    if len(os.fsencode(raw)) <= MAX_SUN_PATH:
        yield raw
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        short = f"/proc/self/fd/{fd}/{path.name}"
        if len(os.fsencode(short)) > MAX_SUN_PATH:
            raise OSError(f"socket name too long: {path.name!r}")
        yield short
    finally:
        os.close(fd)
