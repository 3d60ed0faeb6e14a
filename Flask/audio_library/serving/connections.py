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
from audio_library.web.content_policy import OTHER_POLICY


# How long a client answered before its body was read may go on sending it, dropped, before it is cut off.
LINGER_SECONDS = 5.0
ACCEPTS_PER_TURN = 64  # connections accepted per turn of the event loop, at most (waitress accepts one)
ROOM_CHECK_INTERVAL = 0.05  # seconds between looks for a connection to close, at the connection limit


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
    many connections locks everyone else out. A connection past `connections_per_client` from one client (an
    address, or an IPv6 /64: `clients.client_of`) is answered 429 and closed at once.

    Held answers: an answer the application asked to hold (`hold_answer`, the back-off after a wrong password)
    stays in the buffer, and the connection reads nothing more, until its time; the worker thread that made
    it is free meanwhile.
    """

    parser_class = SpoolingParser
    error_task_class = JSONErrorTask
    task_class = HoldingTask

    answered_before_reading_all = False
    linger_deadline: float | None = None
    head_started: float | None = None
    held_until: float | None = None
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
        taken = bool(super().received(data))
        pending = self.request
        if pending is None or pending.headers_finished:
            self.head_started = None
        elif self.head_started is None:
            self.head_started = started
        return taken

    def hold_answer(self, seconds: float) -> None:
        """Send the answer being made `seconds` from now (called from the worker thread making it)."""
        self.held_until = time.monotonic() + seconds
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
        if self.holding():
            return False
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
        if self.holding() and not self.will_close:
            return False
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


def create_server(application: Any, **adjustments: Any) -> Any:
    """waitress's `create_server` for TCP addresses, with RoomMakingServer listeners, GuardedChannel connections
    and ServingAdjustments made of `adjustments` (waitress's and ours)."""
    adj = ServingAdjustments(**adjustments)
    dispatcher = TurnsDispatcher()
    dispatcher.set_thread_count(adj.threads)
    socket_map: dict[int, Any] = {}
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
