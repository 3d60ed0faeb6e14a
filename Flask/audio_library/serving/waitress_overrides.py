"""Every change the audio library makes to waitress's internals, in one place.

Waitress is the production server (see `cli.py`). It is used as its own `create_server` uses it, except for
the few behaviours below, which it offers no setting for; each is a subclass changing one thing, and each
override says which waitress behaviour it replaces and why. `tests/audio/test_waitress_internals.py` checks
that every waitress name used here still has the shape relied on, so a waitress release that changes them
fails loudly there rather than quietly here; pyproject pins waitress below its next major version.

- `ServingAdjustments`: waitress's settings with ours beside them (head deadline, per-address cap, spool
  folder, access log). Waitress hands its adjustments to every server, channel and parser it makes, so ours
  reach them the same way: per server, never process-wide.
- `JSONErrorTask`: waitress's own error answers (413, 400, 431, ...) as JSON, like the application's.
- `SpoolingParser`: a full disk while spooling is a 507; an unparsable head and ambiguous framing are 400s;
  bodies are spooled in the folder chosen (`SpoolBuffer`), not in the system's temporary folder.
- `GuardedChannel`: a lingering close after an early answer; a deadline for the request head; a cap on
  connections per client address; an access-log line for waitress's own answers.
- `RoomMakingServer`: at the connection limit, an idle or trickling connection makes room for a newcomer.
"""

import contextlib
import json
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

from waitress.adjustments import Adjustments
from waitress.buffers import FileBasedBuffer, OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import BaseWSGIServer, MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import Error

from audio_library.serving.access_log import AccessLog
from audio_library.web.errors import DISK_FULL_ERRNOS, DISK_FULL_MESSAGE, too_large_message


# How long a client answered before its body was read may go on sending it, dropped, before it is cut off.
LINGER_SECONDS = 5.0
DEFAULT_HEAD_TIMEOUT = 10.0
MAX_LOGGED_LINE = 1024
DEFAULT_CONNECTIONS_PER_CLIENT = 64
ACCEPTS_PER_TURN = 64  # connections accepted per turn of the event loop, at most (waitress accepts one)
ROOM_CHECK_INTERVAL = 0.05  # seconds between looks for a connection to close, at the connection limit
# A header line beginning with whitespace continues the one before (obs-fold, RFC 9112 §5.2).
FOLDED_LINE = re.compile(rb"\r\n[ \t]")
# A request line as waitress's own pattern for it accepts (a method token, a target without spaces, an optional
# version), written so that a line that does not match fails in linear time: waitress's pattern, on a long
# absolute-form target that fails to match, backtracks for a time quadratic in its length (4,000 bytes take
# 0.3 s, a 256 KiB head minutes), on the event loop's thread, so one request froze the whole server.
REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+(?: HTTP/[0-9]\.[0-9])?")


class ServingAdjustments(Adjustments):
    """waitress's Adjustments (its keyword arguments), and the settings of the overrides here."""

    def __init__(
        self,
        *,
        head_timeout: float = DEFAULT_HEAD_TIMEOUT,
        connections_per_client: int = DEFAULT_CONNECTIONS_PER_CLIENT,
        spool_folder: str | None = None,
        access_log: AccessLog | None = None,
        **waitress_adjustments: Any,
    ) -> None:
        """`spool_folder`: where bodies too big for memory are spooled (None: the system's temporary folder);
        `access_log`: where waitress's own answers are logged too (None: not logged)."""
        super().__init__(**waitress_adjustments)
        self.head_timeout = head_timeout
        self.connections_per_client = connections_per_client
        self.spool_folder = spool_folder
        self.access_log = access_log


def ours(adj: Adjustments) -> ServingAdjustments:
    """The adjustments waitress hands a channel, parser or task, which `create_server` made ServingAdjustments."""
    return cast(ServingAdjustments, adj)


class DiskFullError(Error):
    """The disk filled up while waitress spooled a request body."""

    code = 507
    reason = "Insufficient Storage"


class JSONErrorTask(ErrorTask):
    """Waitress's own error responses (body over the limit, malformed request) as JSON, not text/plain."""

    def execute(self) -> None:
        """Replaces ErrorTask.execute, which writes text/plain: write `{"error": "..."}` and close, as it does."""
        request = cast(HTTPRequestParser, self.request)
        error = request.error
        assert error is not None  # an ErrorTask exists only for a request that failed to parse
        if error.code == 413:
            message = too_large_message(self.channel.server.adj.max_request_body_size - 1)
        elif isinstance(error, DiskFullError):
            message = DISK_FULL_MESSAGE
        else:
            message = f"{error.reason}: {error.body}."
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [
            ("Content-Type", "application/json"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        access_log = ours(self.channel.adj).access_log
        if access_log is not None:
            # A head too large is never parsed: waitress parses a stand-in request line for it instead.
            known = isinstance(request, SpoolingParser) and request.request_line and error.code != 431
            line = cast(SpoolingParser, request).request_line.decode("latin-1") if known else "-"
            access_log.request(self.channel.addr[0], line, error.code, len(body), self.start_time)


def framing_error(header_plus: bytes) -> str | None:  # noqa: PLR0911 - one return per rule reads best
    """Why a request head's framing is ambiguous (RFC 9112 §5.2, §6.1, §6.3), or None when it is not.

    Waitress joins folded lines, lets chunked win over a Content-Length and keeps the connection, and reads
    an HTTP/1.0 request's body by Content-Length whatever Transfer-Encoding says: each a way for two parsers
    of one byte stream to disagree on where a request ends (request smuggling). Each is refused instead.
    """
    if FOLDED_LINE.search(header_plus):
        return "A header line folded onto the next (obs-fold) is not accepted"
    first_line, _, fields = header_plus.partition(b"\r\n")
    lengths: list[bytes] = []
    encodings: list[bytes] = []
    for line in fields.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            lengths.append(value.strip(b" \t"))
        elif name.lower() == b"transfer-encoding":
            encodings.extend(coding.strip(b" \t").lower() for coding in value.split(b","))
    if len(lengths) > 1:
        return "A request must carry at most one Content-Length header"
    if not encodings:
        return None
    if lengths:
        return "A request must not carry both Content-Length and Transfer-Encoding"
    if not first_line.endswith(b" HTTP/1.1"):
        return "Transfer-Encoding is accepted only in HTTP/1.1 requests"
    if encodings != [b"chunked"]:
        return "The only Transfer-Encoding accepted is chunked, once"
    return None


class SpoolBuffer(OverflowableBuffer):
    """waitress's buffer of a request body, spilling to an anonymous file in `folder` once it is too big for
    memory (waitress's own spills to the system's temporary folder, which may be a small RAM-backed tmpfs)."""

    def __init__(self, overflow: int, folder: str | None) -> None:
        super().__init__(overflow)
        self.folder = folder

    def _set_large_buffer(self) -> None:
        """Replaces OverflowableBuffer._set_large_buffer, which moves what is buffered into a TemporaryFile of
        the system's temporary folder: the same, into one of `folder`."""
        previous: Any = self.buf
        spool = tempfile.TemporaryFile("w+b", dir=self.folder)  # noqa: SIM115 - the buffer keeps it, the parser closes it
        try:
            self.buf = cast(Any, FileBasedBuffer(cast(Any, spool), previous))
        except BaseException:  # the disk filled up while what was in memory was copied
            spool.close()
            raise
        if previous is not None:
            previous.close()
        self.overflowed = True


class SpoolingParser(HTTPRequestParser):
    """Waitress's request parser, with the errors below answered rather than raised."""

    request_line = b""  # for the access log, set even when the head is refused

    def received(self, data: bytes) -> int:
        """Extends HTTPRequestParser.received, where an OSError from the body's spool file escapes and resets
        the connection: a full disk is a 507 answer instead; the partial spool is closed with the request."""
        try:
            return super().received(data)
        except OSError as error:
            if error.errno not in DISK_FULL_ERRNOS:
                raise
            self.error = DiskFullError(error.strerror or "")
            self.completed = True
            return len(data)

    def parse_header(self, header_plus: bytes) -> None:
        """Extends HTTPRequestParser.parse_header: a malformed request line is refused in linear time
        (REQUEST_LINE), before waitress's own pattern spends quadratic time on it; ambiguous framing is a 400
        (waitress accepts it); and a
        Content-Length too long for int() or a target urlsplit cannot split is a 400, not a ValueError that
        closes the connection without an answer. A ParsingError becomes waitress's 400 and closes. The body's
        buffer is then a SpoolBuffer."""
        request_line = header_plus.partition(b"\r\n")[0]
        self.request_line = request_line[:MAX_LOGGED_LINE]
        if not REQUEST_LINE.fullmatch(request_line.rstrip()):
            raise ParsingError("Start line is invalid")
        problem = framing_error(header_plus)
        if problem is not None:
            raise ParsingError(problem)
        try:
            super().parse_header(header_plus)
        except ValueError as error:
            raise ParsingError(f"The request head cannot be parsed ({error})") from error
        if self.body_rcv is not None:  # nothing of the body is buffered yet: it follows the head
            self.body_rcv.buf = SpoolBuffer(self.adj.inbuf_overflow, ours(self.adj).spool_folder)


class GuardedChannel(HTTPChannel):
    """A waitress connection with a lingering close, a head deadline and a per-address cap.

    Lingering close: closing after answering a request it stopped reading (too large, a full disk,
    malformed), waitress closes a socket with unread bytes in it, and the kernel then answers with a reset: a
    client still sending its body (curl, requests, a browser) reports "connection reset" instead of the
    answer. As nginx and Apache do, the connection is instead shut for writing, so the client sees the whole
    answer and its end, and read and dropped until the client closes or LINGER_SECONDS pass. The event loop
    does the reading, one non-blocking read at a time; nothing read is parsed, spooled or kept.

    Head deadline: waitress's `channel_timeout` counts from the last byte that moved, so a client sending one
    byte of request head every few seconds holds its connection for ever. A request head must arrive whole
    within `head_timeout` seconds of its first byte (ServingAdjustments), or the connection is closed.

    Per-address cap: waitress's `connection_limit` is one number for everyone, so one address opening that
    many connections locks everyone else out. A connection past `connections_per_client` from one address is
    answered 429 and closed at once.
    """

    parser_class = SpoolingParser
    error_task_class = JSONErrorTask

    answered_before_reading_all = False
    linger_deadline: float | None = None
    head_started: float | None = None

    def __init__(
        self,
        server: BaseWSGIServer,
        sock: socket.socket,
        addr: tuple[str, int],
        adj: Adjustments,
        map: Mapping[int, socket.socket] | None = None,
    ) -> None:
        """Extends HTTPChannel.__init__: refuse the connection when its address has too many open already;
        else its first head is due from now, so a connection that never sends a byte is closed at the head
        deadline too, not after waitress's 120 s idle timeout."""
        channels = cast(dict[int, HTTPChannel], server.active_channels)  # the stubs mistype this dict
        already = sum(1 for channel in channels.values() if channel.addr and channel.addr[0] == addr[0])
        super().__init__(server, sock, addr, adj, map)
        if already >= ours(adj).connections_per_client:
            self.refuse(sock)
        else:
            self.head_started = time.monotonic()

    def refuse(self, sock: socket.socket) -> None:
        """Answer 429 in one non-blocking send (a fresh socket's buffer takes it) and close."""
        adj = ours(self.adj)
        body = json.dumps(
            {"error": f"Too many connections from your address (the limit is {adj.connections_per_client})."}
        ).encode()
        head = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
        answer = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        with contextlib.suppress(OSError):  # the client is already gone
            sock.send(answer)
        if adj.access_log is not None:
            adj.access_log.request(self.addr[0], "- - -", 429, len(body), time.time())
        super().handle_close()

    def received(self, data: bytes) -> bool:
        """Extends HTTPChannel.received: note when the head of the request now being read began arriving."""
        started = time.monotonic()
        taken = bool(super().received(data))
        pending = self.request
        if pending is None or pending.headers_finished:
            self.head_started = None
        elif self.head_started is None:
            self.head_started = started
        return taken

    def busy(self) -> bool:
        """Answering a request: running it, or sending what it wrote."""
        return bool(self.requests or self.total_outbufs_len)

    def idle(self) -> bool:
        """A kept-alive connection between requests: nothing received, running or left to send."""
        return not (
            self.busy()
            or self.request is not None
            or self.will_close
            or self.close_when_flushed
            or self.linger_deadline is not None
        )

    def service(self) -> None:
        """Extends HTTPChannel.service: note first whether the request's parse failed, leaving the rest of it
        unread, so that closing lingers."""
        if self.requests[0].error is not None:
            self.answered_before_reading_all = True
        super().service()

    def handle_close(self) -> None:
        """Extends HTTPChannel.handle_close: when closing after such an answer, shut for writing and drain."""
        if (
            self.answered_before_reading_all
            and self.will_close
            and not self.total_outbufs_len
            and self.linger_deadline is None
            and self.socket is not None
        ):
            self.start_lingering(self.socket)
        else:
            super().handle_close()

    def start_lingering(self, sock: socket.socket) -> None:
        """Send end-of-file after the answer and keep reading until the client closes or time is up."""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is already gone: nothing to drain
            super().handle_close()
            return
        if self.request is not None:  # a next request begun from the dropped body: never to be served
            self.request.close()
            self.request = None
        self.will_close = False
        self.linger_deadline = time.monotonic() + LINGER_SECONDS

    def readable(self) -> bool:
        """Extends HTTPChannel.readable, which the event loop asks every pass (at least once a second): a head
        past its deadline closes the connection (waitress's own timeout only counts idle time); while
        lingering, always readable, to drain."""
        if self.linger_deadline is not None:
            return True
        now = time.monotonic()
        late = self.head_started is not None and now - self.head_started > ours(self.adj).head_timeout
        if late and self.busy():
            # A next head that came in the same read as a request cannot be read while that request's answer
            # is made or still sent (a download to a slow reader): its clock starts again, and the answer is
            # never cut short.
            self.head_started = now
        elif late:
            self.head_started = None
            self.will_close = True  # writable() now says so, and handle_write() closes, as waitress does
        return bool(super().readable())

    def writable(self) -> bool:
        """Extends HTTPChannel.writable: while lingering, only once the time is up (a socket shut for writing
        polls writable at once)."""
        if self.linger_deadline is not None:
            return self.will_close or time.monotonic() >= self.linger_deadline
        return bool(super().writable())

    def handle_read(self) -> None:
        """Extends HTTPChannel.handle_read: while lingering, read and drop; `recv` closes the connection at
        the client's end-of-file."""
        if self.linger_deadline is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)
        except OSError:
            self.handle_close()

    def handle_write(self) -> None:
        """Extends HTTPChannel.handle_write: while lingering, called only when the time is up: close."""
        if self.linger_deadline is not None:
            self.handle_close()
        else:
            super().handle_write()


def room_maker(channels: Iterator[GuardedChannel], spare: set[int]) -> GuardedChannel | None:
    """The connection to close to make room for a new one (those whose descriptors are in `spare` aside): the
    one that has waited longest for its head while answering nothing; else the kept-alive connection idle
    longest (HTTP lets a server close an idle connection at any time, and clients retry); else None, when
    every connection is busy."""
    waiting: GuardedChannel | None = None
    idle: GuardedChannel | None = None
    for channel in channels:
        if cast(Any, channel)._fileno in spare or channel.busy():
            continue
        if channel.head_started is not None and channel.linger_deadline is None and not channel.will_close:
            if waiting is None or channel.head_started < cast(float, waiting.head_started):
                waiting = channel
        elif channel.idle() and (idle is None or channel.last_activity < idle.last_activity):
            idle = channel
    return waiting or idle


class RoomMakingServer(TcpWSGIServer):
    """waitress's TCP server, making room at its connection limit instead of no longer accepting.

    At `connection_limit` waitress stops accepting until a connection closes, so connections that trickle a
    head (until the head deadline, then again) or sit idle after a request (waitress's 120 s idle timeout)
    lock every newcomer out. Here a newcomer is still accepted, and `room_maker`'s connection is closed.
    Connections answering a request are never closed for this; when all are, newcomers wait in the backlog,
    as in waitress.
    """

    next_room_check = 0.0
    room = False  # whether, at the connection limit, a connection could make room for a new one

    def channels(self) -> Iterator[GuardedChannel]:
        """The open connections of every listener sharing the event loop."""
        return (channel for channel in cast(Any, self)._map.values() if isinstance(channel, GuardedChannel))

    def readable(self) -> bool:
        """Extends BaseWSGIServer.readable: at the connection limit, still accept while a connection could
        make room; looked for at most every ROOM_CHECK_INTERVAL, as the look goes through every connection."""
        accepting = bool(super().readable())
        if accepting or not self.accepting:
            return accepting
        now = time.monotonic()
        if now >= self.next_room_check:
            self.next_room_check = now + ROOM_CHECK_INTERVAL
            self.room = room_maker(self.channels(), set()) is not None
        return self.room

    def handle_accept(self) -> None:
        """Extends BaseWSGIServer.handle_accept: accept up to ACCEPTS_PER_TURN waiting connections, not one (a
        newcomer behind a burst of reconnecting clients would wait a turn of the event loop, a poll() of every
        connection, for each); at the limit, close room_maker's connection after each accept."""
        socket_map = cast(dict[int, Any], cast(Any, self)._map)
        for _ in range(ACCEPTS_PER_TURN):
            full = len(socket_map) >= self.adj.connection_limit
            if full and room_maker(self.channels(), set()) is None:
                self.room = False
                return
            before = set(socket_map)
            super().handle_accept()
            accepted = set(socket_map) - before
            if not accepted:  # the backlog is empty (or the accept failed): until the next turn
                return
            if full:
                making_room = room_maker(self.channels(), accepted)
                if making_room is not None:
                    making_room.handle_close()


def create_server(application: Any, **adjustments: Any) -> Any:
    """waitress's `create_server` for TCP addresses, with RoomMakingServer listeners, GuardedChannel connections
    and ServingAdjustments made of `adjustments` (waitress's and ours)."""
    adj = ServingAdjustments(**adjustments)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    servers = []
    for sockinfo in cast(list[Any], adj.listen):
        server = RoomMakingServer(application, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        server.channel_class = GuardedChannel
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    listening = [cast(Any, server).getsockname() for server in servers]
    return MultiSocketServer(socket_map, adj, listening, dispatcher, servers[0].log_info)
