"""An append-only file rotated by size at line boundaries: one home for the rotation of the
strategies' captured output (capture.py) and of the supervisor's own app.log (applog.py)."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


class RotatingFile:
    """Append-only file rotated by size: <path> → <path>.1 → … → <path>.N (N = backups).

    Rotation happens at line boundaries, so a line is never split between two files: a file may
    exceed the limit by the rest of the line being written when the limit was reached. A single
    line longer than twice the limit is the exception; it is split rather than growing one file
    without bound. With backups=0 the file is reopened empty. No byte is ever dropped here: an
    OSError (disk full) propagates to the caller, who learns from `written` what got through.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = self._open(0)
        self.size = os.fstat(self.fd).st_size
        self.written = 0  # bytes written through this object, ever
        self.mid_line = False  # the file does not end with a newline

    def _open(self, extra: int) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | extra
        return os.open(self.path, flags, 0o640)

    def write(self, data: bytes) -> None:
        """Append all of `data`, rotating where a line ends; OSError may follow a partial write."""
        view = memoryview(data)
        start, end = 0, len(data)
        rotate_error: OSError | None = None
        while start < end:
            room = self.max_bytes - self.size
            if end - start <= room or rotate_error is not None:
                self._write_all(view[start:end])
                break
            cut = data.rfind(b"\n", start, start + max(room, 0)) + 1
            if not cut:
                if not self.mid_line and self.size:
                    rotate_error = self._try_rotate()  # start the next line in a fresh file
                    continue
                # Finish the line in this file, but a file never exceeds twice the limit.
                limit = start + max(2 * self.max_bytes - self.size, 0)
                cut = data.find(b"\n", start, limit) + 1 or min(limit, end)
                if cut == end and data[end - 1] != 0x0A:
                    self._write_all(view[start:end])  # the line goes on in the next chunk
                    break
            if cut > start:
                self._write_all(view[start:cut])
                start = cut
            rotate_error = self._try_rotate()
        if rotate_error is not None:
            raise rotate_error

    def _write_all(self, view: memoryview) -> None:
        while view:
            n = os.write(self.fd, view)
            if n <= 0:
                raise OSError(errno.EIO, "write returned 0")
            self.size += n
            self.written += n
            self.mid_line = view[n - 1] != 0x0A
            view = view[n:]

    def _try_rotate(self) -> OSError | None:
        """Rotate; on failure keep appending to the current file and return the error."""
        try:
            self.rotate()
        except OSError as exc:
            return exc
        return None

    def rotate(self) -> None:
        """Shift the backups and start a new file; the old descriptor stays valid until the end."""
        if self.backups > 0:
            base = str(self.path)
            for i in range(self.backups - 1, 0, -1):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(f"{base}.{i}", f"{base}.{i + 1}")
            os.replace(base, f"{base}.1")
            fd = self._open(0)
        else:
            fd = self._open(os.O_TRUNC)
        old, self.fd = self.fd, fd
        self.size = 0
        self.mid_line = False
        with contextlib.suppress(OSError):
            os.close(old)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1
