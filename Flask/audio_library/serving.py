"""waitress, adapted for the audio library: every override of waitress's internals lives in this module.

Each class below subclasses one waitress class and changes what its docstring names, and why. They rely on
waitress 3's internals (pyproject pins `waitress>=3.0,<4`); tests/audio/test_waitress_shape.py fails loudly
when a method or attribute used here changes shape, so a waitress upgrade is a deliberate step.

- `FramingParser`: a request whose length is ambiguous (RFC 9112 §6) or whose head cannot be parsed is a 400;
  a full disk while spooling the body is a 507.
- `JSONErrorTask`, `AccessLoggedTask`: waitress's own error answers are JSON; every request gets one line of
  access log on stderr.
- `LingeringChannel`: after answering a request it stopped reading, the connection drains what the client
  still sends before closing (a lingering close), so the client reads the answer, not a reset.
- `AdmittedChannel`, `AudioServer`, `ConnectionBook`: a request head must arrive whole within a deadline
  counted from its first byte; one client address may hold only so many connections; and when every
  connection slot is taken, the connection that has waited longest for its head (else the longest idle
  kept-alive one) makes room for a new one.
"""

import json
import re
import resource
import socket
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, Task, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import Error

from audio_library.access_log import ACCESS_LOG, loggable_target
from audio_library.errors import DISK_FULL_ERRNOS, DISK_FULL_MESSAGE, too_large_message


THREADS = 8
# Waitress's default of 100 open connections lets 100 stalled clients lock everyone else out. Each connection
# costs a descriptor, two while its body spills to a temporary file; poll() has no FD_SETSIZE ceiling.
CONNECTION_LIMIT = 1000
DESCRIPTORS_WANTED = 2 * CONNECTION_LIMIT + 256
# How long a client answered before its body was read may go on sending it, dropped, before it is cut off.
LINGER_SECONDS = 5.0
# How long a request head may take to arrive whole, from its first byte (from the connection's opening, for a
# connection's first request). A browser sends a head in one packet; ten seconds is generous for any network.
HEAD_TIMEOUT = 10.0
# Open connections one client address may hold. A browser opens at most six per host; a page, a download and
# a few tabs stay well below this, while one address can no longer take the server's whole connection limit.
MAX_CONNECTIONS_PER_ADDRESS = 64
# How often (seconds) waitress's maintenance runs: it enforces the head deadline and the idle timeout.
MAINTENANCE_INTERVAL = 1
ACCEPTS_PER_TURN = 64  # connections accepted per turn of the event loop, at most
ROOM_CHECK_INTERVAL = 0.05  # seconds between looks for a connection to close at the connection limit
# A request line as waitress's own pattern for it accepts (a method token, a target without spaces, an optional
# version), written so that a line that does not match fails in linear time: waitress's pattern, on a long
# absolute-form target that fails to match, backtracks for a time quadratic in its length (4,000 bytes take
# 0.3 s, a 256 KiB head minutes), on the event loop's thread, so one request froze the whole server.
REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+(?: HTTP/[0-9]\.[0-9])?")


class DiskFullError(Error):
    """The disk filled up while waitress spooled a request body."""

    code = 507
    reason = "Insufficient Storage"


def check_framing(header_plus: bytes) -> None:
    """Refuse a head whose body length is ambiguous, which a proxy in front could read differently from us
    (request smuggling): waitress lets Transfer-Encoding silently win over Content-Length, folds obs-fold
    lines, and takes `chunked, chunked` as chunked; RFC 9112 (§5.2, §6.1, §6.3) says to refuse these. And
    refuse a malformed request line before waitress's pattern spends quadratic time on it (REQUEST_LINE)."""
    request_line, *lines = header_plus.split(b"\r\n")
    if not REQUEST_LINE.fullmatch(request_line.rstrip()):
        raise ParsingError("Start line is invalid")
    counts: Counter[bytes] = Counter()
    codings: list[bytes] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise ParsingError("A header folded onto a second line (obs-fold) is not accepted")
        name, _, value = line.partition(b":")
        name = name.lower()
        counts[name] += 1
        if name == b"transfer-encoding":
            codings += [coding.strip(b" \t").lower() for coding in value.split(b",") if coding.strip(b" \t")]
    if counts[b"content-length"] > 1:
        raise ParsingError("The request has more than one Content-Length")
    if counts[b"host"] > 1:
        raise ParsingError("The request has more than one Host")
    if not counts[b"transfer-encoding"]:
        return
    if counts[b"content-length"]:
        raise ParsingError("The request has both Content-Length and Transfer-Encoding")
    if not request_line.rstrip().endswith(b" HTTP/1.1"):
        raise ParsingError("Transfer-Encoding is accepted in HTTP/1.1 requests only")
    if codings != [b"chunked"]:
        raise ParsingError("The only Transfer-Encoding accepted is chunked, once")


class FramingParser(HTTPRequestParser):
    """waitress's request parser, stricter about framing, and a full disk while spooling is an answer."""

    def received(self, data: bytes) -> int:
        """Parse more of the request, as waitress does; but a full disk while spooling the body is an error
        response (507), not an exception that resets the connection; the partial spool closes with the
        request."""
        try:
            return super().received(data)
        except OSError as error:
            if error.errno not in DISK_FULL_ERRNOS:
                raise
            self.error = DiskFullError(error.strerror or "")
            self.completed = True
            return len(data)

    def parse_header(self, header_plus: bytes) -> None:
        """Parse the head, as waitress does, after `check_framing`; and a Content-Length too long for int()
        or a target urlsplit cannot split is a 400, not a ValueError that closes without an answer."""
        check_framing(header_plus)
        try:
            super().parse_header(header_plus)
        except ValueError as error:
            raise ParsingError(f"The request head cannot be parsed ({error})") from error


class AccessLoggedTask(Task):
    """A waitress task (one request's answer) that writes its access-log line when it is done. waitress
    logs nothing per request; an operator wants to see who asked what, and what they got."""

    def service(self) -> None:
        """Answer as waitress does, then log; a client gone mid-answer is logged with the status begun."""
        started = time.monotonic()
        try:
            super().service()
        finally:
            # Strings in waitress 3 (its stubs say bytes); a head refused before its request line was parsed
            # has none of them.
            request = self.request
            target = loggable_target(getattr(request, "request_uri", None) or "-")
            method = getattr(request, "command", None) or "-"
            line = f"{method} {target} HTTP/{getattr(request, 'version', None) or '-'}"
            status = self.status.split(" ", 1)[0] if self.wrote_header else "-"
            client = str(self.channel.addr[0])
            ACCESS_LOG.request(client, line, status, self.body_size(method), time.monotonic() - started)

    def body_size(self, method: str) -> int:
        """The body bytes of the answer. waitress counts what a task writes, but hands a file (a download,
        through wsgi.file_wrapper) to the connection whole, uncounted: then it is the Content-Length."""
        if self.content_bytes_written or not self.wrote_header or method == "HEAD":
            return self.content_bytes_written
        return self.content_length or 0


class LoggedWSGITask(AccessLoggedTask, WSGITask):
    """The task that runs the application, logged."""


class JSONErrorTask(AccessLoggedTask, ErrorTask):
    """waitress's own error responses (body over the limit, malformed request, full disk) as JSON, not
    text/plain, like every error the application sends; logged."""

    def execute(self) -> None:
        """Write the error as `{"error": "..."}` and close the connection, as waitress does."""
        error = cast(HTTPRequestParser, self.request).error
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


class LingeringChannel(HTTPChannel):
    """A waitress connection that, closing after answering a request it stopped reading (too large, a full
    disk, malformed), drains what the client still sends before it closes: a lingering close.

    Closing a socket with unread bytes in it makes the kernel answer with a reset, and a client still sending
    its body (curl, requests, a browser) then reports "connection reset" instead of the answer it was sent.
    As nginx and Apache do, the connection is instead shut for writing, so the client sees the whole answer
    and its end, and read and dropped until the client closes or LINGER_SECONDS pass. The event loop does
    the reading, one non-blocking read at a time; nothing read is parsed, spooled or kept.
    """

    answered_before_reading_all = False
    linger_deadline: float | None = None

    def service(self) -> None:
        """Run the next request, noting first whether its parse failed and left the rest of it unread."""
        if self.requests[0].error is not None:
            self.answered_before_reading_all = True
        super().service()

    def handle_close(self) -> None:
        """Close, or, when closing after such an answer is sent, shut for writing and start draining."""
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
        """While lingering, always: to drain."""
        return self.linger_deadline is not None or super().readable()

    def writable(self) -> bool:
        """While lingering, only once the time is up (a socket shut for writing polls writable at once)."""
        if self.linger_deadline is not None:
            return self.will_close or time.monotonic() >= self.linger_deadline
        return bool(super().writable())

    def handle_read(self) -> None:
        """While lingering, read and drop; `recv` closes the connection at the client's end-of-file."""
        if self.linger_deadline is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)
        except OSError:
            self.handle_close()

    def handle_write(self) -> None:
        """While lingering, called only when the time is up: close."""
        if self.linger_deadline is not None:
            self.handle_close()
        else:
            super().handle_write()


class ConnectionBook:
    """A server's open connections by client address, and those whose request head is still arriving, in
    the order their heads began. Used from the event loop's thread only."""

    def __init__(self, per_address: int, head_timeout: float) -> None:
        self.per_address = per_address
        self.head_timeout = head_timeout
        self.by_address: Counter[str] = Counter()
        self.newest: AdmittedChannel | None = None  # the connection accepted last
        self.waiting: dict[AdmittedChannel, float] = {}  # channel -> when its head began; oldest first

    def opened(self, address: str) -> bool:
        """Count a new connection; False when its address is now over its limit."""
        self.by_address[address] += 1
        return self.by_address[address] <= self.per_address

    def closed(self, address: str) -> None:
        """Forget a closed connection."""
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]

    def head_begun(self, channel: "AdmittedChannel", now: float) -> None:
        """A channel's head began now: it goes to the back of the queue."""
        self.waiting.pop(channel, None)
        self.waiting[channel] = now

    def head_ended(self, channel: "AdmittedChannel") -> None:
        """A channel's head is whole, or the channel is gone."""
        self.waiting.pop(channel, None)

    def overdue(self, now: float) -> list["AdmittedChannel"]:
        """The channels whose heads began more than head_timeout ago."""
        cutoff = now - self.head_timeout
        late = []
        for channel, began in self.waiting.items():
            if began > cutoff:
                break
            late.append(channel)
        return late

    def evictable(
        self, channels: "Iterable[AdmittedChannel]", spare: "AdmittedChannel | None" = None
    ) -> "AdmittedChannel | None":
        """The channel to close to make room, `spare` aside: the one that has waited longest for a head while
        running no request; else the kept-alive connection idle longest (HTTP lets a server close those at
        any time, and clients retry); else None, when every connection is busy."""
        waiting = next((c for c in self.waiting if not c.busy() and c is not spare), None)
        if waiting is not None:
            return waiting
        idle = (channel for channel in channels if channel.idle() and channel is not spare)
        return min(idle, key=lambda channel: channel.last_activity, default=None)


class AdmittedChannel(LingeringChannel):
    """A waitress connection that keeps the server's ConnectionBook up to date, is refused (503) when its
    address holds too many, parses with FramingParser and answers with the logged tasks."""

    parser_class = FramingParser
    task_class = LoggedWSGITask
    error_task_class = JSONErrorTask
    released = False

    def __init__(self, server: "AudioServer", sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None):
        """Set up as waitress does; count the connection, whose first head is due from now."""
        super().__init__(server, sock, addr, adj, map)
        self.book = server.book
        self.book.newest = self
        self.address = str(addr[0]) if isinstance(addr, tuple) else str(addr)
        if self.book.opened(self.address):
            self.book.head_begun(self, time.monotonic())
        else:
            self.refuse()

    def refuse(self) -> None:
        """Answer 503 at once, before reading anything, and close."""
        limit = self.book.per_address
        body = json.dumps({"error": f"Too many connections from {self.address}: at most {limit} at once."})
        answer = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 10\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
        with self.outbuf_lock:
            self.outbufs[-1].append(answer)
            self.total_outbufs_len += len(answer)
        self.close_when_flushed = True
        ACCESS_LOG.request(self.address, "- - -", "503", len(body), 0.0)

    def received(self, data: bytes) -> bool:
        """Parse as waitress does, noting when a head begins and when it is whole."""
        before = self.request
        result = bool(super().received(data))
        if self.request is None or self.request.headers_finished:
            self.book.head_ended(self)
        # A whole request then the start of the next in one read, or the first byte of a next request on a
        # kept-alive connection: a head begins now. (A first request's head is due from the connection's start.)
        elif (before is not None and self.request is not before) or self not in self.book.waiting:
            self.book.head_begun(self, time.monotonic())
        return result

    def busy(self) -> bool:
        """Answering a request: running it, or sending what it wrote. Never closed to make room or for a late
        head (a pipelined next head may have arrived in the same read as the request)."""
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

    def start_lingering(self, sock: socket.socket) -> None:
        """Linger as LingeringChannel does; draining is bounded by its own time, not the head deadline."""
        super().start_lingering(sock)
        self.book.head_ended(self)

    def del_channel(self, map: Any = None) -> None:
        """Leave the event loop as waitress does, and the book."""
        super().del_channel(map)
        if not self.released:
            self.released = True
            self.book.head_ended(self)
            if self.book.newest is self:
                self.book.newest = None
            self.book.closed(self.address)


class AudioServer(TcpWSGIServer):
    """waitress's TCP server, enforcing the head deadline and making room under the connection limit.

    waitress's own timeout counts idle time only, so a client sending one byte of head every few seconds
    keeps a connection forever; and at its connection limit waitress stops accepting, so such clients lock
    everyone else out; so did clients holding kept-alive connections idle. Here maintenance closes a
    connection whose head is overdue, and at the limit a new connection is still accepted, closing the one
    that has waited longest for its head, or else the one idle longest.
    """

    channel_class = AdmittedChannel
    book: ConnectionBook
    next_room_check = 0.0
    room = False  # whether, at the connection limit, a connection could make room for a new one

    def maintenance(self, now: float) -> None:
        """Close idle connections as waitress does, and those whose head is overdue."""
        super().maintenance(int(now))
        monotonic = time.monotonic()
        for channel in self.book.overdue(monotonic):
            if channel.busy():  # its head follows an answer still being made or sent: it cannot be read yet
                self.book.head_begun(channel, monotonic)
            else:
                self.book.head_ended(channel)
                channel.will_close = True  # closed by the event loop, as waitress closes idle ones

    def readable(self) -> bool:
        """Accept as waitress does below the connection limit; at it, as long as a connection can make room."""
        accepting = bool(super().readable())
        if accepting or not self.accepting:
            return accepting
        # At the limit: look for a connection that could make room, at most every ROOM_CHECK_INTERVAL, as
        # the look may go through every connection and this runs on each turn of the event loop.
        now = time.monotonic()
        if now >= self.next_room_check:
            self.next_room_check = now + ROOM_CHECK_INTERVAL
            self.room = self.book.evictable(self.channels()) is not None
        return self.room

    def handle_accept(self) -> None:
        """Accept up to ACCEPTS_PER_TURN waiting connections, not waitress's one: after a burst of closes
        (a thousand tricklers past their deadline at once, reconnecting) a newcomer in the backlog would
        otherwise wait a turn of the event loop, a poll() of every connection, for each one ahead of it.
        At the connection limit, each first closes the connection ConnectionBook.evictable names."""
        socket_map = cast(Any, self)._map
        for _ in range(ACCEPTS_PER_TURN):
            full = len(socket_map) >= self.adj.connection_limit
            if full and self.book.evictable(self.channels()) is None:
                self.room = False  # every connection is busy: newcomers wait in the backlog, as in waitress
                return
            before = len(socket_map)
            super().handle_accept()
            if len(socket_map) <= before:  # the backlog is empty (or an accept failed): until the next turn
                return
            if full:  # closed after the accept, so that a turn with nothing to accept closes nothing
                oldest = self.book.evictable(self.channels(), spare=self.book.newest)
                if oldest is not None:
                    self.book.head_ended(oldest)
                    oldest.handle_close()

    def channels(self) -> "Iterable[AdmittedChannel]":
        """The open connections, of every listener sharing the event loop."""
        return (channel for channel in cast(Any, self)._map.values() if isinstance(channel, AdmittedChannel))


def create_server(
    application: Any, *, per_address: int, head_timeout: float, **adjustments: Any
) -> AudioServer | MultiSocketServer:
    """waitress's `create_server` for TCP addresses, with AudioServer listeners sharing one ConnectionBook."""
    adj = Adjustments(cleanup_interval=MAINTENANCE_INTERVAL, **adjustments)
    book = ConnectionBook(per_address, head_timeout)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
    servers = []
    for sockinfo in cast(list[Any], adj.listen):
        server = AudioServer(application, socket_map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        server.book = book
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    listening = [cast(Any, server).getsockname() for server in servers]
    return MultiSocketServer(socket_map, adj, listening, dispatcher, servers[0].log_info)


def raise_descriptor_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards `wanted`, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
