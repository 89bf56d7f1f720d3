"""The control server: the engine's `LocalView`, served on a Unix socket to its owner only.

Promise 6 (only the owner controls it) is kept three times over: the state folder is 0700, the
socket file is 0600 (set on the socket before bind, so there is no window), and every peer's
credentials (SO_PEERCRED) are checked: a uid other than ours is refused.

No request can hurt the supervisor: a malformed, oversized, slow or half-closed one gets an error
answer or a closed connection, a subscriber that stops reading is dropped, and nothing raised
while serving one client escapes its handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_monitor.control import protocol as p
from tui_monitor.control.sockaddr import unix_address
from tui_monitor.errors import CommandRefused, TuiMonitorError, UnknownName
from tui_monitor.events import Problem
from tui_monitor.lock import StateLock
from tui_monitor.view import EventStream, LocalView

if TYPE_CHECKING:
    from tui_monitor.engine import Engine

SOCKET_MODE = 0o600
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
_REFUSAL_REPORT_INTERVAL = 10.0


class ControlSocketError(TuiMonitorError):
    """The control socket cannot be set up (in use by a live supervisor, not a socket, ...)."""

    exit_code = 1


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return pid, uid, gid


def peer_allowed(peer_uid: int, owner_uid: int) -> bool:
    """Only the user who runs the supervisor may control it (root included: no exceptions)."""
    return peer_uid == owner_uid


def _answers(path: Path) -> bool:
    """True if something listens on the socket at `path` (or we cannot tell: then leave it)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        with unix_address(path) as address:
            probe.connect(address)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # a full backlog, permission denied...: not provably stale
    finally:
        probe.close()
    return True


def prepare_path(path: Path, own_state_dir: Path | None = None) -> None:
    """Make room for our socket at `path`: unlink a stale one, refuse to touch a live one."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlSocketError(
            f"cannot create the control socket: {path} exists and is not a socket "
            "(move it away, or set monitor.control_socket)"
        )
    if _answers(path):
        raise ControlSocketError(
            f"another supervisor is already listening on the control socket {path}"
        )
    folder = path.parent
    if (own_state_dir is None or folder.resolve() != own_state_dir.resolve()) and StateLock(
        folder
    ).held_by_someone():
        raise ControlSocketError(
            f"the control socket {path} belongs to the supervisor running on {folder}"
        )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def bind_socket(path: Path, own_state_dir: Path | None = None) -> socket.socket:
    """A listening socket at `path`, mode 0600 from the moment it exists."""
    prepare_path(path, own_state_dir)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.fchmod(sock.fileno(), SOCKET_MODE)  # Linux: bind() creates the file with this mode
        with unix_address(path) as address:
            sock.bind(address)
        os.chmod(path, SOCKET_MODE)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ControlSocketError(f"the control socket {path} is in use") from None
        raise ControlSocketError(
            f"cannot create the control socket {path}: {exc.strerror or exc}"
        ) from None
    return sock


class _Closed(Exception):
    """End this connection (already answered, or nothing more to say)."""


class ControlServer:
    """Serve `engine` on the Unix socket at `path` until `close()`.

    Hosted by `run --no-ui` (headless.serve) and, later, by the dashboard. Every answer comes from
    a `LocalView` of the engine, so in-process and socket views return the same data.
    """

    def __init__(
        self,
        engine: Engine,
        path: str | os.PathLike[str],
        *,
        idle_timeout: float = p.IDLE_TIMEOUT,
        max_line: int = p.MAX_LINE_BYTES,
        max_buffer: int = p.MAX_BUFFER_BYTES,
        max_clients: int = 64,
        queue_size: int = 5000,
        owner_uid: int | None = None,
    ) -> None:
        self.engine = engine
        self.path = Path(path)
        self.view = LocalView(engine, queue_size=queue_size)
        self.idle_timeout = idle_timeout
        self.max_line = max_line
        self.max_buffer = max_buffer
        self.max_clients = max_clients
        self.owner_uid = os.geteuid() if owner_uid is None else owner_uid
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._last_refusal_report = -_REFUSAL_REPORT_INTERVAL
        self._refusals = 0

    # ---- life cycle ----------------------------------------------------------------------

    async def bind(self) -> None:
        """Create the socket and listen, without serving yet: connections wait in the backlog.

        `run` binds before the engine starts any strategy, so a supervisor that could not be
        controlled (the socket path is unusable, or taken by a live supervisor) starts nothing.
        """
        if self._server is not None:
            return
        monitor = getattr(getattr(self.engine, "config", None), "monitor", None)
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        sock = bind_socket(self.path, getattr(monitor, "state_dir", None))
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        try:
            # limit: a line may be max_line bytes plus its newline.
            self._server = await asyncio.start_unix_server(
                self._client, sock=sock, limit=self.max_line + 1, start_serving=False
            )
        except BaseException:
            sock.close()
            self._unlink()
            raise

    async def start(self) -> None:
        """Bind (unless `bind()` did) and serve."""
        await self.bind()
        assert self._server is not None
        await self._server.start_serving()

    async def close(self) -> None:
        """Stop listening, end every connection (subscribers are told why), unlink the socket."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._server.wait_closed()
        self._unlink()

    def _unlink(self) -> None:
        """Remove our socket file — only ours: a successor may already have bound a new one."""
        if self._inode is None:
            return
        try:
            st = os.lstat(self.path)
            if (st.st_dev, st.st_ino) == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        self._inode = None

    @property
    def clients(self) -> int:
        return len(self._tasks)

    # ---- one connection ------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        linger = False
        try:
            writer.transport.set_write_buffer_limits(high=self.max_buffer)
            if self._admit(writer):
                await self._converse(reader, writer)
            linger = True
        except (_Closed, asyncio.CancelledError, ConnectionError, TimeoutError):
            pass
        except Exception as exc:  # never out of the handler: report, carry on serving others
            with contextlib.suppress(Exception):
                self.engine.ctx.report_exception("control socket", exc)
        finally:
            if linger:
                try:
                    await self._linger(reader, writer)
                except BaseException:  # cancelled too: the connection ends either way
                    pass
            self._tasks.discard(task)
            writer.close()

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Before closing, let the client read our last answer: closing a Unix socket that still
        holds unread input resets the connection, and the peer would lose the answer. So: end
        our side, then discard its input (bounded in time and size) until it closes too."""
        if writer.transport.is_closing():
            return
        async with asyncio.timeout(1.0):
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0
        discarded = 0
        while discarded <= self.max_line and (left := deadline - loop.time()) > 0:
            async with asyncio.timeout(left):
                data = await reader.read(65536)
            if not data:
                return
            discarded += len(data)

    def _admit(self, writer: asyncio.StreamWriter) -> bool:
        sock = writer.get_extra_info("socket")
        try:
            pid, uid, _gid = peer_credentials(sock)
        except (OSError, AttributeError):
            pid, uid = 0, -1
        if not peer_allowed(uid, self.owner_uid):
            self._report_refusal(pid, uid)
            self._send(
                writer,
                p.error(
                    None,
                    p.PERMISSION_DENIED,
                    f"permission denied: this supervisor is controlled by uid {self.owner_uid} "
                    f"only (you are uid {uid})",
                ),
            )
            return False
        if self._closing or len(self._tasks) > self.max_clients:
            self._send(writer, p.error(None, p.BUSY, "too many connections; try again later"))
            return False
        return True

    def _report_refusal(self, pid: int, uid: int) -> None:
        self._refusals += 1
        now = time.monotonic()
        if now - self._last_refusal_report < _REFUSAL_REPORT_INTERVAL:
            return
        self._last_refusal_report = now
        count, self._refusals = self._refusals, 0
        more = f" ({count} refusals since the last report)" if count > 1 else ""
        with contextlib.suppress(Exception):
            self.engine.bus.publish(
                Problem(
                    time.time(),
                    f"control socket: refused a connection from uid {uid} (pid {pid}){more}",
                    problem_level="WARNING",
                )
            )

    def _send(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        if not writer.transport.is_closing():
            writer.write(p.encode(message))

    async def _answer(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        """Write an answer; a client that does not take it within the idle timeout is dropped."""
        self._send(writer, message)
        try:
            async with asyncio.timeout(self.idle_timeout):
                await writer.drain()
        except TimeoutError:
            writer.transport.abort()
            raise _Closed from None

    async def _read_line(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next request line; None at the end of the connection. Raises _Closed after
        answering an oversized line or a timeout."""
        try:
            async with asyncio.timeout(self.idle_timeout):
                return await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial or None  # a last request without its newline still counts
        except asyncio.LimitOverrunError:
            raise _TooLarge from None

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await self._read_line(reader)
            except _TooLarge:
                await self._answer(
                    writer,
                    p.error(
                        None, p.TOO_LARGE, f"request longer than {self.max_line} bytes; closing"
                    ),
                )
                return
            except TimeoutError:
                await self._answer(
                    writer,
                    p.error(None, p.TIMEOUT, f"no complete request within {self.idle_timeout:g} s"),
                )
                return
            if line is None:
                return
            eof = not line.endswith(b"\n")
            if not line.strip():
                if eof:
                    return
                continue
            try:
                request = p.parse_request(line)
            except p.RequestError as exc:
                await self._answer(writer, p.error(exc.request_id, exc.type, exc.message))
            else:
                if request.op == "subscribe":
                    # Subscribed before "subscribed" is said: an event published in between
                    # reaches the client instead of falling in the gap.
                    stream = await self.view.events()
                    try:
                        await self._answer(writer, p.ok(request.id, {"subscribed": True}))
                    except BaseException:
                        await stream.close()
                        raise
                    await self._stream(reader, writer, stream)
                    return
                await self._answer(writer, await self._dispatch(request))
            if eof:
                return

    async def _dispatch(self, request: p.Request) -> dict[str, Any]:
        rid = request.id
        try:
            work = self._perform(request.op, request.args)
            if request.op in p.COMMAND_OPS:
                # A command runs to its end even if the client leaves or the server closes:
                # a stop cancelled halfway would leave a strategy half-stopped.
                task = asyncio.ensure_future(work)
                task.add_done_callback(_retrieve)
                result = await asyncio.shield(task)
            else:
                result = await work
        except UnknownName as exc:
            return p.error(
                rid,
                p.UNKNOWN_NAME,
                str(exc),
                what=exc.what,
                name=exc.name,
                known=self._known(exc.what),
            )
        except CommandRefused as exc:
            return p.error(rid, p.COMMAND_REFUSED, str(exc))
        except TuiMonitorError as exc:
            return p.error(rid, p.FAILED, str(exc))
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.engine.ctx.report_exception(f"control socket ({request.op})", exc)
            return p.error(rid, p.INTERNAL, f"internal error: {exc!r}"[:500])
        return p.ok(rid, result)

    def _known(self, what: str) -> list[str]:
        with contextlib.suppress(Exception):
            if what == "strategy":
                return sorted(self.engine.runners)
            if what == "job":
                return sorted(self.engine.store.jobs)
        return []

    async def _perform(self, op: str, a: dict[str, Any]) -> Any:
        v = self.view
        if op in ("hello", "version"):
            return await v.info()
        if op == "snapshot":
            return await v.snapshot()
        if op == "health":
            return await v.health(a["detailed"])
        if op == "start":
            return await v.start(a["name"], a["fresh"])
        if op == "stop":
            return await v.stop(a["name"])
        if op == "restart":
            return await v.restart(a["name"])
        if op == "resume":
            return await v.resume(a["job_id"], a["fresh"])
        if op == "log_lines":
            return await v.log_lines(a["name"], a["after"], a["limit"])
        if op == "job":
            return await v.job(a["job_id"])
        if op == "runs":
            return await v.runs(a["name"], a["limit"])
        if op == "events":
            return await v.recent_events(a["name"], a["limit"])
        raise p.RequestError(p.UNKNOWN_OP, f"unknown op {op!r}")  # pragma: no cover

    # ---- a subscription ------------------------------------------------------------------

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: EventStream
    ) -> None:
        """Events until the client leaves, falls behind, or the supervisor shuts down."""
        left = asyncio.Event()

        async def watch_input() -> None:
            # Input after `subscribe` is ignored; the end of it ends the subscription.
            try:
                while await reader.read(65536):
                    pass
            except (ConnectionError, OSError):
                pass
            left.set()
            await stream.close()

        watcher = asyncio.get_running_loop().create_task(watch_input())
        transport = writer.transport
        try:
            async for event in stream:
                if transport.is_closing():
                    return
                writer.write(p.encode(p.event_message(event)))
                if transport.get_write_buffer_size() > self.max_buffer:
                    transport.abort()  # it stopped reading: drop it, never buffer without bound
                    return
            if not left.is_set() and not transport.is_closing():
                overflowed = getattr(stream, "overflowed", False)
                reason = "fell behind; events were lost" if overflowed else "supervisor stopped"
                self._send(writer, p.end_message(reason))
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1.0):
                        await writer.drain()
        except asyncio.CancelledError:
            if not transport.is_closing():  # the server is closing: say so, without waiting
                with contextlib.suppress(Exception):
                    writer.write(p.encode(p.end_message("supervisor shutting down")))
            raise
        finally:
            await stream.close()
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher


class _TooLarge(Exception):
    pass


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark the outcome of a command nobody waits for any more as seen (no loop warning)."""
    if not task.cancelled():
        task.exception()
