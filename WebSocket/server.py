"""The chat service: a websocket chatroom and its REST side, FastAPI under uvicorn on one port.

Run `python WebSocket/server.py [--host 127.0.0.1] [--port 8765] [--redis URL]`. Every websocket client is a
chat client: one UTF-8 text frame is one message. The lines the server sends are listed in docs/chat.md.
With --redis, several processes share one room (redis_directory.py); without it the room is this process's.
Each flag not given is read from its CHAT_* variable (settings_env.py; REDIS_URL after CHAT_REDIS).
"""

import argparse
import asyncio
import contextlib
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import redis
import uvicorn
from redis.exceptions import RedisError
from websockets.legacy.protocol import WebSocketCommonProtocol

from host_rules import HostNameError
from settings_env import bound_socket, cannot_listen, environment_defaults, port_number
from WebSocket.api import MAX_BODY, SHUTDOWN_CLOSE, bounded, create_api, declared_length, too_large
from WebSocket.connections import HEAD_TIMEOUT, MAX_CONNECTIONS, AcceptErrorLog, ChatHTTPProtocol
from WebSocket.directory import Directory, LocalDirectory
from WebSocket.hosts import Gate
from WebSocket.redis_directory import PRESENCE_TTL, UNAVAILABLE, RedisDirectory
from WebSocket.room import BACKLOG, BURST, RATE, Client, Limits, NotJoinedError, Room


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_FRAME = 16 * 1024  # bytes in one websocket frame; a larger one closes the connection with 1009
MAX_QUEUE = 16  # frames read ahead from one client; its rate limit drops what comes faster than it is read
CLOSE_TIMEOUT = 3.0  # seconds a peer has to answer a close frame (or a dead one's is aborted) before it is cut off
LISTEN_BACKLOG = 4096
# The variables whose names are not the flag's: REDIS_URL is the name everyone gives a Redis URL.
ENVIRONMENT_NAMES = {
    "redis": ("CHAT_REDIS", "REDIS_URL"),
    "allowed_origin": ("CHAT_ALLOWED_ORIGINS",),
    "allowed_host": ("CHAT_ALLOWED_HOSTS",),
}

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any


def header(scope: Scope, name: bytes) -> str | None:
    """One request header's value (latin-1, as HTTP has it), or None if it is absent."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ChatApp:
    """The ASGI app: a websocket at `/` is a chat client, everything else goes to the REST API.

    Every request first passes the gate (Host and Origin), and a REST body its cap. Lines are written
    straight onto each connection, which needs the websockets library's protocol object: uvicorn's
    `websockets` protocol is that object, and its ASGI `send` is one of its methods. Closing still goes
    through ASGI, so that uvicorn knows.
    """

    def __init__(self, room: Room, gate: Gate, max_body: int = MAX_BODY) -> None:
        self.room = room
        self.gate = gate
        self.max_body = max_body
        self.failures: tuple[type[Exception], ...] = (NotJoinedError, *room.failures)
        self.api = create_api(room, UNAVAILABLE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.api(scope, receive, send)
            return
        refused = self.gate.refusal(header(scope, b"host"), header(scope, b"origin"), scope["scheme"])
        if refused is None and scope["type"] == "http" and (declared_length(scope["headers"]) or 0) > self.max_body:
            refused = (413, too_large(self.max_body).detail)
        if refused is not None:
            await self.refuse(scope, send, *refused)
        elif scope["type"] == "http":
            await self.api(scope, bounded(receive, self.max_body), send)
        else:
            await self.websocket(scope, receive, send)

    async def refuse(self, scope: Scope, send: Send, status: int, reason: str) -> None:
        """Answer with the status and `{"detail": reason}`, for a websocket's handshake too."""
        body = json.dumps({"detail": reason}).encode()
        start = "websocket.http.response.start" if scope["type"] == "websocket" else "http.response.start"
        more = "websocket.http.response.body" if scope["type"] == "websocket" else "http.response.body"
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if scope["type"] == "http":
            headers.append((b"connection", b"close"))  # what the body was has not been read
        await send({"type": start, "status": status, "headers": headers})
        await send({"type": more, "body": body})

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        if scope["path"] != "/":
            await self.refuse(scope, send, 404, "Not Found: the chat is at /")
            return
        await send({"type": "websocket.accept"})
        protocol = getattr(send, "__self__", None)
        if not isinstance(protocol, WebSocketCommonProtocol):
            raise TypeError("the chat needs uvicorn's ws='websockets' protocol")
        protocol.close_timeout = CLOSE_TIMEOUT  # uvicorn leaves the library's 10 s

        async def close(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        client = Client(protocol, close, self.room.limits)
        try:
            # In the room before it is told its name, so that nothing said after the welcome misses it.
            await self.room.enter(client)
            # Through ASGI, which waits for the handshake to complete; later lines go straight to the protocol.
            await send({"type": "websocket.send", "text": f"You are {client.name}"})
            self.room.welcomed(client)
            await self.chat(client, receive)
        except self.failures:
            await self.room.close(client, *UNAVAILABLE)
        except OSError:
            pass  # uvicorn's ClientDisconnected: the client went before its welcome was sent
        finally:
            with contextlib.suppress(*self.room.failures):
                await self.room.part(client)

    async def chat(self, client: Client, receive: Receive) -> None:
        """The client's frames, one at a time, until it disconnects for whatever reason."""
        while True:
            message: Message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                self.room.tell(client, "Binary frames are not supported: send UTF-8 text")
            else:
                await self.room.receive(client, text)


def create_app(room: Room | None = None, gate: Gate | None = None, max_body: int = MAX_BODY) -> ChatApp:
    """The chat service's ASGI app: the chatroom at `/`, the REST side under /api/v1."""
    return ChatApp(room if room is not None else Room(LocalDirectory()), gate or Gate(), max_body)


class ChatServer(uvicorn.Server):
    """uvicorn's server, closing every chat client with 1001 before it drops its connections."""

    def __init__(self, config: uvicorn.Config, room: Room) -> None:
        super().__init__(config)
        self.room = room

    async def startup(self, sockets: list[Any] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(AcceptErrorLog())
        await super().startup(sockets)

    async def shutdown(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        await self.room.close_all(*SHUTDOWN_CLOSE)
        await super().shutdown(sockets)  # type: ignore[arg-type]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The chat service: websocket chatroom and REST API on one port.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT)
    parser.add_argument("--redis", metavar="URL", help="share one room with other processes through this Redis")
    parser.add_argument(
        "--presence-ttl", type=float, default=PRESENCE_TTL, help="seconds before a silent process is taken for dead"
    )
    parser.add_argument("--ping-interval", type=float, default=20.0, help="seconds between keep-alive pings")
    parser.add_argument("--ping-timeout", type=float, default=20.0, help="seconds to wait for a pong")
    parser.add_argument(
        "--send-buffer", type=int, default=BACKLOG // 1024, help="KiB unsent to one client before it is dropped"
    )
    parser.add_argument("--rate", type=float, default=RATE, help="messages a second one client may send")
    parser.add_argument("--burst", type=float, default=BURST, help="messages one client may send at once")
    parser.add_argument(
        "--allowed-origin", action="append", default=[], metavar="ORIGIN", help="a web page origin that may connect"
    )
    parser.add_argument(
        "--allowed-host", action="append", default=[], metavar="NAME", help="a host name the server answers to"
    )
    parser.add_argument("--max-body", type=int, default=MAX_BODY // 1024, help="KiB in one REST request's body")
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS, help="connections at once")
    parser.add_argument(
        "--head-timeout", type=float, default=HEAD_TIMEOUT, help="seconds a client has to send a request head"
    )
    environment_defaults(parser, "CHAT", names=ENVIRONMENT_NAMES)
    return parser.parse_args(argv)


def redis_problem(url: str) -> str | None:
    """Why the Redis at `url` cannot be used, or None if it answers."""
    try:
        with redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) as client:
            client.ping()
    except (RedisError, OSError, ValueError) as error:
        return str(error) or type(error).__name__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        gate = Gate(args.allowed_host, args.allowed_origin)
    except HostNameError as error:  # an origin's AllowlistError is one too
        print(f"server.py: {error}", file=sys.stderr)
        return 2
    limits = Limits(backlog=args.send_buffer * 1024, rate=args.rate, burst=args.burst)
    directory: Directory = LocalDirectory()
    if args.redis:
        problem = redis_problem(args.redis)
        if problem is not None:
            print(f"server.py: cannot reach Redis at {args.redis}: {problem}", file=sys.stderr)
            return 1
        directory = RedisDirectory(args.redis, args.presence_ttl)
    try:
        listener = bound_socket(args.host, args.port)
    except OSError as error:
        print(f"server.py: {cannot_listen(args.host, args.port, error, 'CHAT_PORT', 'run-chat')}", file=sys.stderr)
        return 1
    room = Room(directory, limits)
    ChatHTTPProtocol.max_connections = args.max_connections
    ChatHTTPProtocol.head_timeout = args.head_timeout
    # uvicorn's websockets-based protocol is the one with keep-alive pings; its deprecation is not news here.
    warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    config = uvicorn.Config(
        create_app(room, gate, args.max_body * 1024),
        host=args.host,
        port=args.port,
        http=ChatHTTPProtocol,
        ws="websockets",
        ws_max_size=MAX_FRAME,
        ws_max_queue=MAX_QUEUE,
        ws_per_message_deflate=False,  # a zlib context per connection costs far more memory than chat lines save
        ws_ping_interval=args.ping_interval,
        ws_ping_timeout=args.ping_timeout,
        h11_max_incomplete_event_size=16 * 1024,  # a request head's bytes
        log_level="warning",
        backlog=LISTEN_BACKLOG,
        # asyncio's own loop, even where uvloop is installed (the crawler's extras bring it): at the descriptor
        # limit uvloop closes the listening socket, where asyncio's accept errors reach the rate-limited log.
        loop="asyncio",
    )
    ChatServer(config, room).run(sockets=[listener])
    return 0


if __name__ == "__main__":
    sys.exit(main())
