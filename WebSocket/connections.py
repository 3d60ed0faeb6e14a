"""What uvicorn leaves open on a connection, closed: a head that never ends, too many connections at once,
and a log flooded when the process runs out of file descriptors.

uvicorn's HTTP protocol waits for a request head as long as the peer likes (its keep-alive timer starts only
after a first answer, and any byte stops it), and its connection cap does not count websocket upgrades. So
the chat's protocol closes a connection whose head is not complete within `HEAD_TIMEOUT` seconds, and
answers 503 to a connection beyond the cap, whatever it is for. At the descriptor limit, asyncio's accept
loop reports every failed accept with a traceback (tens of thousands a second); the chat logs one line a
second instead.
"""

import asyncio
import logging
import time
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState


HEAD_TIMEOUT = 10.0  # seconds from connecting, or from the last answer, to a complete request head
MAX_CONNECTIONS = 10_000
ACCEPT_ERROR = "socket.accept() out of system resource"
FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 46\r\n"
    b'Connection: close\r\n\r\n{"detail": "Too many connections: try later."}'
)

log = logging.getLogger("uvicorn.error")


class ChatHTTPProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head and a cap on connections."""

    max_connections = MAX_CONNECTIONS
    head_timeout = HEAD_TIMEOUT

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, server_state, app_state, **kwargs)
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            transport.write(FULL)
            transport.close()
            return
        super().connection_made(transport)
        self.arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.arm_head_timer()

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self.disarm_head_timer()  # the websocket protocol has the connection now; let this object go
        super().handle_websocket_upgrade(event)

    def disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
        self.head_timer = None

    def arm_head_timer(self) -> None:
        self.disarm_head_timer()
        self.head_timer = self.loop.call_later(self.head_timeout, self.head_overdue)

    def head_overdue(self) -> None:
        """Close the connection unless a request is being answered (an upgraded one is not ours any more)."""
        self.head_timer = None
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.get_protocol() is self and self.conn.their_state is not h11.DONE:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_head_timer()
        if self.transport is not None:  # None: refused at the cap, never counted
            super().connection_lost(exc)


class AcceptErrorLog:
    """The event loop's exception handler: accept failures once a second in one line, the rest as before."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.logged_at = -interval
        self.missed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") != ACCEPT_ERROR:
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self.logged_at < self.interval:
            self.missed += 1
            return
        error = context.get("exception")
        also = f" ({self.missed} more since the last report)" if self.missed else ""
        log.error("chat: cannot accept connections: %s%s; retrying", error, also)
        self.logged_at, self.missed = now, 0
