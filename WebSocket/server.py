"""The chat service: a websocket chatroom and its REST side, FastAPI under uvicorn on one port.

Run `python WebSocket/server.py [--host 127.0.0.1] [--port 8765]`. Every websocket client is a chat client:
one UTF-8 text frame is one message. The lines the server sends are listed in docs/chat.md.
"""

import argparse
import asyncio
import contextlib
import itertools
import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MAX_TEXT = 2000  # characters in one chat message
MAX_FRAME = 16 * 1024  # bytes in one websocket frame; a larger one closes the connection with 1009
QUEUE_LIMIT = 1000  # lines waiting for one client before it is dropped as too slow
RATE = 20.0  # messages a second one client may send, on average
BURST = 40.0  # messages one client may send at once
PAGE_INTERVAL = 1.0
SLOW_CLOSE = 1008  # policy violation: the client does not read what it is sent
SHUTDOWN_CLOSE = (1001, "server shutting down")


@dataclass(frozen=True)
class Limits:
    """What one client may do: queued lines before it is dropped, messages a second, characters a message."""

    queue: int = QUEUE_LIMIT
    rate: float = RATE
    burst: float = BURST
    text: int = MAX_TEXT


@dataclass(eq=False)
class Client:
    """One websocket connection: its name, its clock, its outgoing queue and its private partner."""

    name: str
    websocket: WebSocket
    connected_at: float = field(default_factory=time.monotonic)
    connected_wall: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    limits: Limits = field(default_factory=Limits)
    outbox: "asyncio.Queue[str]" = field(init=False)
    partner: "Client | None" = None
    tokens: float = field(init=False)
    refilled_at: float = field(default_factory=time.monotonic)
    dropped: bool = False

    def __post_init__(self) -> None:
        self.outbox = asyncio.Queue(self.limits.queue)
        self.tokens = self.limits.burst

    def seconds(self) -> int:
        """Whole seconds since this client connected: the stamp on its messages."""
        return int(time.monotonic() - self.connected_at)

    def allow(self) -> bool:
        """Take one token from the client's bucket; False when it sends faster than RATE."""
        now = time.monotonic()
        self.tokens = min(self.limits.burst, self.tokens + (now - self.refilled_at) * self.limits.rate)
        self.refilled_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Room:
    """Who is connected, who pages and who chats privately: every change to that state happens here."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self.clients: dict[str, Client] = {}
        self.numbers = itertools.count(1)
        self.pager: Client | None = None
        self.pager_task: asyncio.Task[None] | None = None
        self.commands: dict[str, Callable[[Client, str], None]] = {
            "page": self.page,
            "invite": self.invite,
            "leave": self.leave_private,
        }

    # Delivery never waits: a full outbox means the client is too slow, and it is dropped.
    def send(self, client: Client, line: str) -> None:
        if client.dropped:
            return
        try:
            client.outbox.put_nowait(line)
        except asyncio.QueueFull:
            client.dropped = True
            reason = f"too slow: fell {self.limits.queue} messages behind"
            asyncio.get_running_loop().create_task(self.close(client, SLOW_CLOSE, reason))

    def broadcast(self, line: str, exclude: Client | None = None, *, room_only: bool = False) -> None:
        for client in list(self.clients.values()):
            if client is not exclude and not (room_only and client.partner is not None):
                self.send(client, line)

    async def close(self, client: Client, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await client.websocket.close(code, reason)

    def join(self, websocket: WebSocket) -> Client:
        client = Client(f"Client {next(self.numbers)}", websocket, limits=self.limits)
        self.clients[client.name] = client
        self.send(client, f"You are {client.name}")
        self.broadcast(f"{client.name} connected", exclude=client)
        return client

    def part(self, client: Client) -> None:
        if self.clients.pop(client.name, None) is None:
            return
        partner = client.partner
        if partner is not None:
            client.partner = partner.partner = None
            self.send(partner, f"{client.name} left; private chat ended.")
        if self.pager is client:
            self.stop_paging()
        self.broadcast(f"{client.name} left", exclude=partner)

    def receive(self, client: Client, text: str) -> None:
        """One text frame from a client: a command or a message."""
        if not client.allow():
            self.send(client, f"Slow down: at most {self.limits.rate:g} messages a second")
            return
        if len(text) > self.limits.text:
            self.send(client, f"Message too long: at most {self.limits.text} characters")
            return
        if self.pager is not None and self.pager is not client:
            self.stop_paging()
        word, _, rest = text.strip().partition(" ")
        command = self.commands.get(word)
        if command is not None and (word == "invite") == bool(rest.strip()):
            command(client, rest.strip())
            return
        line = f"{client.seconds()} {client.name}: {text}"
        if client.partner is not None:
            self.send(client.partner, line)
        else:
            self.broadcast(line, exclude=client, room_only=True)

    def announce(self, text: str) -> int:
        self.broadcast(f"Announcement: {text}")
        return len(self.clients)

    def page(self, client: Client, _: str) -> None:
        self.stop_paging()
        self.pager = client
        self.pager_task = asyncio.get_running_loop().create_task(self.keep_paging(client))

    async def keep_paging(self, pager: Client) -> None:
        while True:
            self.broadcast("PAGING", exclude=pager)
            await asyncio.sleep(PAGE_INTERVAL)

    def stop_paging(self) -> None:
        if self.pager_task is not None:
            self.pager_task.cancel()
        self.pager = self.pager_task = None

    def invite(self, client: Client, who: str) -> None:
        name = f"Client {who}" if who.isdigit() else who
        invitee = self.clients.get(name)
        if invitee is None:
            self.send(client, f"No such client: {name}")
        elif invitee is client:
            self.send(client, "You cannot invite yourself")
        elif client.partner is not None:
            self.send(client, f"You are already in a private chat with {client.partner.name}")
        elif invitee.partner is not None:
            self.send(client, f"{invitee.name} is already in a private chat")
        else:
            client.partner, invitee.partner = invitee, client
            self.send(invitee, f"Private chatting with {client.name}")
            self.send(client, f"Private chatting with {invitee.name}")

    def leave_private(self, client: Client, _: str) -> None:
        partner = client.partner
        if partner is None:
            self.send(client, "You are not in a private chat")
            return
        client.partner = partner.partner = None
        self.send(client, "Private chat ended.")
        self.send(partner, "Private chat ended.")

    async def close_all(self, code: int, reason: str) -> None:
        self.stop_paging()
        await asyncio.gather(*(self.close(client, code, reason) for client in list(self.clients.values())))


async def write_outbox(client: Client) -> None:
    """Send the client's queued lines in order; only this task writes to its socket."""
    while True:
        line = await client.outbox.get()
        await client.websocket.send_text(line)


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


def create_app(room: Room | None = None) -> FastAPI:
    """The ASGI app: the chatroom at `/`, the REST side under /api/v1."""
    chat = room if room is not None else Room()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await chat.close_all(*SHUTDOWN_CLOSE)

    app = FastAPI(title="Chat service", lifespan=lifespan)
    app.state.room = chat

    @app.websocket("/")
    async def chatroom(websocket: WebSocket) -> None:
        await websocket.accept()
        client = chat.join(websocket)
        writer = asyncio.create_task(write_outbox(client))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    chat.send(client, "Binary frames are not supported: send UTF-8 text")
                else:
                    chat.receive(client, text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            chat.part(client)
            writer.cancel()

    @app.get("/api/v1/clients")
    async def clients() -> ClientList:
        return ClientList(
            clients=[
                ConnectedClient(name=c.name, connected_at=c.connected_wall, connected_for=c.seconds())
                for c in chat.clients.values()
            ]
        )

    @app.post("/api/v1/announcements", status_code=202)
    async def announcements(announcement: Announcement) -> AnnouncementAccepted:
        return AnnouncementAccepted(recipients=chat.announce(announcement.text))

    return app


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
    parser.add_argument("--ping-interval", type=float, default=20.0, help="seconds between keep-alive pings")
    parser.add_argument("--ping-timeout", type=float, default=20.0, help="seconds to wait for a pong")
    parser.add_argument("--queue-limit", type=int, default=QUEUE_LIMIT, help="lines queued before a client is dropped")
    parser.add_argument("--rate", type=float, default=RATE, help="messages a second one client may send")
    parser.add_argument("--burst", type=float, default=BURST, help="messages one client may send at once")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    # uvicorn's websockets-based protocol is the one with keep-alive pings; its deprecation is not news here.
    warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    room = Room(Limits(queue=args.queue_limit, rate=args.rate, burst=args.burst))
    config = uvicorn.Config(
        create_app(room),
        host=args.host,
        port=args.port,
        ws="websockets",
        ws_max_size=MAX_FRAME,
        ws_ping_interval=args.ping_interval,
        ws_ping_timeout=args.ping_timeout,
        log_level="warning",
        backlog=4096,
    )
    ChatServer(config, room).run()


if __name__ == "__main__":
    main()
