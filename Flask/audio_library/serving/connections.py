"""Connections: each guarded (lingering close, head deadline, per-address cap, held answers), room made at the
limit."""

import contextlib
import json
import socket
import time
from collections.abc import Iterator, Mapping
from typing import Any, cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, TcpWSGIServer

from audio_library.access.clients import client_of
from audio_library.serving.adjustments import ServingAdjustments, ours
from audio_library.serving.dispatch import TurnsDispatcher
from audio_library.serving.held_answers import HoldingTask, WakeUps
from audio_library.serving.parsing import JSONErrorTask, SpoolingParser
from audio_library.serving.streaming import BodyPipe
from audio_library.web.content_policy import OTHER_POLICY


# How long a client answered before its body was read may go on sending it, dropped, before it is cut off.
LINGER_SECONDS = 5.0
# And how much of it is drained at most: a client that ignores an early answer (a 415 from the first bytes of a
# 300 MB video) is reset after that much rather than read for LINGER_SECONDS at whatever speed it sends.
LINGER_BYTES = 32 * 1024 * 1024
ACCEPTS_PER_TURN = 64  # connections accepted per turn of the event loop, at most (waitress accepts one)
ROOM_CHECK_INTERVAL = 0.05  # seconds between looks for a connection to close, at the connection limit
# How long the application has, at least, to answer a streaming body that stalled (its 408) before the connection
# is closed without an answer.
STALL_ANSWER_SECONDS = 10.0


class StreamingTask(HoldingTask):
    """waitress's WSGI task, closing the connection after an answer given before its streamed body arrived."""

    def build_response_header(self) -> bytes:
        """Extends Task.build_response_header: an answer made before the body arrived whole (a 415 from the first
        bytes of a video, a 401 before an upload) says `Connection: close`; the rest of the body is then drained
        and dropped by GuardedChannel's lingering close, never stored."""
        self.close_if_body_unread()
        return bytes(super().build_response_header())

    def finish(self) -> None:
        """Extends Task.finish: close too when the application stopped reading after its head went out."""
        super().finish()
        self.close_if_body_unread()

    def close_if_body_unread(self) -> None:
        request = cast(SpoolingParser, self.request)
        if request.body_unread() and not self.close_on_finish:
            cast(GuardedChannel, self.channel).answered_before_reading_all = True
            self.set_close_on_finish()


class GuardedChannel(HTTPChannel):
    """A waitress connection with a lingering close, a head deadline and a per-address cap.

    Lingering close: closing after answering a request it stopped reading (too large, a full disk,
    malformed), waitress closes a socket with unread bytes in it, and the kernel then answers with a reset: a
    client still sending its body (curl, requests, a browser) reports "connection reset" instead of the
    answer. As nginx and Apache do, the connection is instead shut for writing, so the client sees the whole
    answer and its end, and read and dropped until the client closes, LINGER_SECONDS pass or LINGER_BYTES have
    been dropped. The event loop
    does the reading, one non-blocking read at a time; nothing read is parsed, spooled or kept.

    Head deadline: waitress's `channel_timeout` counts from the last byte that moved, so a client sending one
    byte of request head every few seconds holds its connection for ever. A request head must arrive whole
    within `head_timeout` seconds of its first byte (ServingAdjustments), or the connection is closed.

    Per-address cap: waitress's `connection_limit` is one number for everyone, so one address opening that
    many connections locks everyone else out. A connection past `connections_per_client` from one client (an
    address, or an IPv6 /64: `clients.client_of`) is answered 429 and closed at once.

    Held answers: an answer the application asked to hold (`hold_answer`, the back-off after a wrong password)
    stays in the buffer, and the connection reads nothing more, until its time; the worker thread that made
    it is free meanwhile. The connection's next requests then wait for a worker behind those of its address's
    other connections (`dispatch.TurnsQueue`).
    """

    parser_class = SpoolingParser
    error_task_class = JSONErrorTask
    task_class = StreamingTask

    answered_before_reading_all = False
    linger_deadline: float | None = None
    lingered = 0  # bytes dropped while lingering
    head_started: float | None = None
    held_until: float | None = None
    answer_held_before = False  # whether an answer of this connection's was held back (a wrong password)
    stalled_since: float | None = None  # when a streaming body's client was found to have stalled
    client = ""  # the client its address stands for (`clients.client_of`)

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
        client = client_of(addr[0])
        already = sum(1 for channel in channels.values() if getattr(channel, "client", None) == client)
        super().__init__(server, sock, addr, adj, map)
        self.client = client  # worked out once: counting compares it for every open connection
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
        head = (
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"X-Content-Type-Options: nosniff\r\nContent-Security-Policy: {OTHER_POLICY}\r\n"
        )
        answer = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
        with contextlib.suppress(OSError):  # the client is already gone
            sock.send(answer)
        if adj.access_log is not None:
            adj.access_log.request(self.addr[0], "- - -", 429, len(body), time.time())
        super().handle_close()

    def received(self, data: bytes) -> bool:
        """Extends HTTPChannel.received: note when the head of the request now being read began arriving."""
        started = time.monotonic()
        taken = self.receive(data)
        pending = self.request
        if pending is None or pending.headers_finished:
            self.head_started = None
        elif self.head_started is None:
            self.head_started = started
        return taken

    def hold_answer(self, seconds: float) -> None:
        """Send the answer being made `seconds` from now (called from the worker thread making it)."""
        self.held_until = time.monotonic() + seconds
        self.answer_held_before = True
        cast(RoomMakingServer, self.server).wake_at(self.held_until)

    def holding(self) -> bool:
        """Whether an answer is being held back now; once its time has come, it no longer is."""
        if self.held_until is not None and time.monotonic() >= self.held_until:
            self.held_until = None
        return self.held_until is not None

    def _flush_some(self, do_close: bool = True) -> bool:
        """Extends HTTPChannel._flush_some, which sends what is buffered, called by the event loop and by the
        worker thread as it writes (waitress's send_bytes is 1): nothing while the answer is held."""
        if self.holding():
            return False
        return bool(super()._flush_some(do_close))  # type: ignore[misc]  # not in the stubs

    def receive(self, data: bytes) -> bool:
        """Replaces HTTPChannel.received, which hands a request to a worker once its body has arrived whole:
        the same, except that a request whose body may stream (`may_stream`) is handed over once its head is
        parsed, and its body then goes through a BodyPipe as it arrives."""
        if not data:
            return False
        # The stubs omit requests_lock, type requests as a Sequence and add_task as taking a task (it takes the
        # channel, whose service() runs the next request).
        server = cast(Any, self.server)
        with cast(Any, self).requests_lock:
            requests = cast(list[SpoolingParser], self.requests)  # service() replaces the list, under this lock
            if self.will_close or self.close_when_flushed:
                return False
            while data:
                if self.request is None:
                    self.request = self.parser_class(self.adj)
                request = cast(SpoolingParser, self.request)
                taken = request.received(data)
                waiting = request.expect_continue and request.headers_finished
                if waiting and not self.requests and not self.sent_continue:
                    self.send_continue()
                if request.completed:
                    self.sent_continue = False
                    if request.body_pipe is not None:  # handed over already: its body has ended, or failed
                        self.end_streaming(request, request.body_pipe)
                    elif not request.empty:
                        requests.append(request)
                        if len(requests) == 1:
                            server.add_task(self)
                    self.request = None
                elif request.headers_finished and self.may_stream(request):
                    request.stream_body(BodyPipe(server.pull_trigger))
                    requests.append(request)
                    server.add_task(self)
                if taken >= len(data):
                    break
                data = data[taken:]
        return True

    def may_stream(self, request: SpoolingParser) -> bool:
        """Whether this request's body may go to the application as it arrives: the head has just been parsed
        (asked once, before any of the body: a body that began spooling goes on spooling), no earlier request of
        the connection is still being answered, and a streaming slot is free."""
        if request.body_pipe is not None or request.body_bytes_received or request.error is not None:
            return False
        return not self.requests and ours(self.adj).stream_slots.take(self.client)

    @staticmethod
    def end_streaming(request: SpoolingParser, pipe: BodyPipe) -> None:
        """The streamed body is complete, or will never be: tell its reader which."""
        if request.error is None:
            pipe.end()
        else:
            pipe.fail(body_too_large=request.error.code == 413)

    def streaming(self) -> BodyPipe | None:
        """The pipe of a body the application is reading while it arrives, if one is."""
        request = cast(SpoolingParser | None, self.request)
        if request is None or request.body_pipe is None or request.completed:
            return None
        return request.body_pipe

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
        request = cast(SpoolingParser, self.requests[0])
        if request.error is not None:
            self.answered_before_reading_all = True
        try:
            super().service()
        finally:
            if request.body_pipe is not None:
                ours(self.adj).stream_slots.give_back(self.client)

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
            pipe = self.streaming()
            if pipe is not None:  # the client went, or stalled, in the middle of a body being read
                pipe.fail()
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
        if self.holding():
            return False
        pipe = self.streaming()
        if pipe is not None:
            return self.streaming_readable(pipe)
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

    def streaming_readable(self, pipe: BodyPipe) -> bool:
        """While a body streams: read on while the pipe has room (waitress reads no more once a request is handed
        over); once the client has sent nothing for `channel_timeout` (waitress's idle timeout, which waitress
        applies only to connections with no request handed over), fail the body as timed out and read no more.

        The application then answers 408, and that answer closes the connection (`StreamingTask`): the client
        always sees why. Should no answer be made within STALL_ANSWER_SECONDS (or `channel_timeout`, if longer),
        the connection is closed without one."""
        if self.will_close or self.close_when_flushed:
            return False
        now = time.time()
        if self.stalled_since is not None:
            grace = max(STALL_ANSWER_SECONDS, self.adj.channel_timeout)
            if now - self.stalled_since > grace and not self.total_outbufs_len:
                self.will_close = True
            return False
        if not pipe.has_room():
            self.last_activity = now  # the application is behind, not the client
            return False
        if now - self.last_activity > self.adj.channel_timeout:
            pipe.fail(stalled=True)
            self.stalled_since = now
            return False
        return True

    def writable(self) -> bool:
        """Extends HTTPChannel.writable: while lingering, only once the time is up (a socket shut for writing
        polls writable at once)."""
        if self.linger_deadline is not None:
            return self.will_close or time.monotonic() >= self.linger_deadline
        if self.holding() and not self.will_close:
            return False
        return bool(super().writable())

    def handle_read(self) -> None:
        """Extends HTTPChannel.handle_read: while lingering, read and drop (`recv` closes the connection at
        the client's end-of-file), and close once LINGER_BYTES are dropped."""
        if self.linger_deadline is None:
            super().handle_read()
            return
        try:
            self.lingered += len(self.recv(self.adj.recv_bytes))
        except OSError:
            self.handle_close()
            return
        if self.lingered >= LINGER_BYTES and self.socket is not None:
            self.will_close = True  # writable() now says so, and handle_write() closes

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
    wake_ups: WakeUps  # set by create_server

    def wake_at(self, when: float) -> None:
        """Rouse the event loop at `when` (time.monotonic()), for a held answer."""
        self.wake_ups.at(when)

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


class StreamEndingDispatcher(TurnsDispatcher):
    """waitress's worker threads, which, when the server stops, first end the bodies still streaming in."""

    socket_map: dict[int, Any]  # the connections of the server the workers answer for, set by create_server

    def shutdown(self, cancel_pending: bool = True, timeout: int = 5) -> bool:
        """Extends ThreadedTaskDispatcher.shutdown, which waits `timeout` seconds for the workers to finish: a
        worker reading a body that streams in would wait in vain once the event loop has stopped, leaving the
        upload's temporary file behind. Each such body fails first: its upload is refused and cleaned up."""
        for channel in list(self.socket_map.values()):
            pipe = channel.streaming() if isinstance(channel, GuardedChannel) else None
            if pipe is not None:
                pipe.fail()
        return bool(super().shutdown(cancel_pending, timeout))


def create_server(application: Any, **adjustments: Any) -> Any:
    """waitress's `create_server` for TCP addresses, with RoomMakingServer listeners, GuardedChannel connections
    and ServingAdjustments made of `adjustments` (waitress's and ours)."""
    adj = ServingAdjustments(**adjustments)
    socket_map: dict[int, Any] = {}
    dispatcher = StreamEndingDispatcher()
    dispatcher.socket_map = socket_map
    dispatcher.set_thread_count(adj.threads)
    servers = []
    made: list[dict[str, Any]] = [{"sockinfo": sockinfo} for sockinfo in cast(list[Any], adj.listen)]
    if adj.sockets:  # sockets made by the caller (a dual-stack one: cli.listening_on), listened on as they are
        made = [
            {"_sock": sock, "bind_socket": False, "sockinfo": (sock.family, sock.type, sock.proto, sock.getsockname())}
            for sock in adj.sockets
        ]
    for listener in made:
        server = RoomMakingServer(application, socket_map, dispatcher=dispatcher, adj=adj, **listener)
        server.channel_class = GuardedChannel
        server.wake_ups = WakeUps(server.pull_trigger)
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    listening = [cast(Any, server).getsockname() for server in servers]
    return MultiSocketServer(socket_map, adj, listening, dispatcher, servers[0].log_info)
