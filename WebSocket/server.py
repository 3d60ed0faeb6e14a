"""The chat service: a websocket chatroom and its REST side, FastAPI under uvicorn on one port.

Run `python WebSocket/server.py [--host 127.0.0.1] [--port 8765] [--redis URL]`. Every websocket client is a
chat client: one UTF-8 text frame is one message. The lines the server sends are listed in docs/chat.md.
With --redis, several processes share one room (redis_room.py); without it the room is this process's.
"""

import argparse
import asyncio
import contextlib
import sys
import time
import warnings
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timezone
from typing import Any

import redis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from websockets.legacy.protocol import WebSocketCommonProtocol

from WebSocket.redis_room import PRESENCE_TTL, UNAVAILABLE, RedisRoom
from WebSocket.room import BACKLOG, BURST, MAX_TEXT, RATE, Client, Limits, Room


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_FRAME = 16 * 1024  # bytes in one websocket frame; a larger one closes the connection with 1009
MAX_QUEUE = 16  # frames read ahead from one client; its rate limit drops what comes faster than it is read
SHUTDOWN_CLOSE = (1001, "server shutting down")
CLOSE_TIMEOUT = 3.0  # seconds a peer has to answer a close frame (or a dead one's is aborted) before it is cut off
JOIN_TIMEOUT = 10.0  # seconds the lifespan waits for the Redis room to be joined

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Any
Send = Any


class ChatApp:
    """The ASGI app: a websocket at `/` is a chat client, everything else goes to the REST API.

    Lines are written by the websockets library's `broadcast()` straight onto each connection, which needs
    the library's protocol object: uvicorn's `websockets` protocol is that object, and its ASGI `send` is
    one of its methods. Closing still goes through ASGI, so that uvicorn knows.
    """

    def __init__(self, room: Room, api: FastAPI) -> None:
        self.room = room
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.api(scope, receive, send)
            return
        await receive()  # websocket.connect
        if scope["path"] != "/":
            await send({"type": "websocket.close", "code": 1008})  # before the handshake: a 403
            return
        await send({"type": "websocket.accept"})
        protocol = getattr(send, "__self__", None)
        if not isinstance(protocol, WebSocketCommonProtocol):
            raise TypeError("the chat needs uvicorn's ws='websockets' protocol")
        protocol.close_timeout = CLOSE_TIMEOUT  # uvicorn leaves the library's 10 s

        async def close(code: int, reason: str) -> None:
            await send({"type": "websocket.close", "code": code, "reason": reason})

        try:
            client = await self.room.claim_name(protocol, close)
        except self.room.failures:
            await close(*UNAVAILABLE)
            return
        try:
            # In the room before it is told its name, so that nothing said after the welcome misses it.
            await self.room.enter(client)
            # Through ASGI, which waits for the handshake to complete; later lines go straight to the protocol.
            await send({"type": "websocket.send", "text": f"You are {client.name}"})
            self.room.welcomed(client)
            await self.chat(client, receive)
        except self.room.failures:
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


class ConnectedClient(BaseModel):
    name: str
    connected_at: datetime
    connected_for: int = Field(description="whole seconds since the client connected")


class ClientList(BaseModel):
    clients: list[ConnectedClient]


class Announcement(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class AnnouncementAccepted(BaseModel):
    status: str = "accepted"
    recipients: int


def create_api(room: Room) -> FastAPI:
    """The REST side under /api/v1; its lifespan joins a Redis room before serving and leaves it after."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if not isinstance(room, RedisRoom):
            yield
            await room.close_all(*SHUTDOWN_CLOSE)
            return
        keeper = asyncio.ensure_future(room.run())
        deadline = time.monotonic() + JOIN_TIMEOUT
        while not room.available and time.monotonic() < deadline and not keeper.done():
            await asyncio.sleep(0.02)
        if not room.available:
            keeper.cancel()
            raise RuntimeError(f"could not join the room through Redis at {room.url}")
        try:
            yield
        finally:
            await room.close_all(*SHUTDOWN_CLOSE)
            keeper.cancel()
            await room.stop()

    api = FastAPI(title="Chat service", lifespan=lifespan)

    async def unavailable(_: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": f"{UNAVAILABLE[1]} ({type(error).__name__})"}, status_code=503)

    for failure in room.failures:
        api.add_exception_handler(failure, unavailable)

    @api.get("/api/v1/clients")
    async def clients() -> ClientList:
        now = time.time()
        return ClientList(
            clients=[
                ConnectedClient(
                    name=name,
                    connected_at=datetime.fromtimestamp(since, timezone.utc),
                    connected_for=max(0, int(now - since)),
                )
                for name, since in await room.roster()
            ]
        )

    @api.post("/api/v1/announcements", status_code=202)
    async def announcements(announcement: Announcement) -> AnnouncementAccepted:
        await room.announce(announcement.text)
        return AnnouncementAccepted(recipients=await room.recipients())

    return api


def create_app(room: Room | None = None) -> ChatApp:
    """The chat service's ASGI app: the chatroom at `/`, the REST side under /api/v1."""
    chat = room if room is not None else Room()
    return ChatApp(chat, create_api(chat))


class ChatServer(uvicorn.Server):
    """uvicorn's server, closing every chat client with 1001 before it drops its connections."""

    def __init__(self, config: uvicorn.Config, room: Room) -> None:
        super().__init__(config)
        self.room = room

    async def shutdown(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        await self.room.close_all(*SHUTDOWN_CLOSE)
        await super().shutdown(sockets)  # type: ignore[arg-type]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The chat service: websocket chatroom and REST API on one port.")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
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
    limits = Limits(backlog=args.send_buffer * 1024, rate=args.rate, burst=args.burst)
    room = Room(limits)
    if args.redis:
        problem = redis_problem(args.redis)
        if problem is not None:
            print(f"server.py: cannot reach Redis at {args.redis}: {problem}", file=sys.stderr)
            return 1
        room = RedisRoom(args.redis, limits, args.presence_ttl)
    # uvicorn's websockets-based protocol is the one with keep-alive pings; its deprecation is not news here.
    warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    config = uvicorn.Config(
        create_app(room),
        host=args.host,
        port=args.port,
        ws="websockets",
        ws_max_size=MAX_FRAME,
        ws_max_queue=MAX_QUEUE,
        ws_per_message_deflate=False,  # a zlib context per connection costs far more memory than chat lines save
        ws_ping_interval=args.ping_interval,
        ws_ping_timeout=args.ping_timeout,
        log_level="warning",
        backlog=4096,
    )
    ChatServer(config, room).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
