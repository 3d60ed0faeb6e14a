"""The chatroom's rules for the clients of one server process: what they may send, and what they see.

What every process of a room must agree on (names, private pairs, the pager, the roster) belongs to the
room's directory (`directory.py`: in this process, or in Redis for several). The room asks the directory
for every change, and changes what its own clients see only when the directory's events arrive, in the
directory's order: so every process shows the same room, whoever asked first.
"""

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from websockets.frames import Frame, Opcode
from websockets.legacy.protocol import WebSocketCommonProtocol
from websockets.protocol import State

from WebSocket.directory import Directory
from WebSocket.events import Announced, Event, Joined, Left, Paged, Paging, Paired, Said, Unpaged, Unpaired
from WebSocket.text import MAX_TEXT, clean


BACKLOG = 256 * 1024  # bytes sent to one client but not yet taken by its socket before it is dropped as too slow
RATE = 20.0  # messages a second one client may send, on average
BURST = 40.0  # messages one client may send at once
PAGE_INTERVAL = 1.0
JOIN_TIMEOUT = 10.0  # seconds a new client waits for the directory to name it
SLOW_CLOSE = 1008  # policy violation: the client does not read what it is sent
REMOVED = (1011, "removed from the room: this server was taken for dead; reconnect")

Close = Callable[[int, str], Awaitable[None]]


class NotJoinedError(RuntimeError):
    """The directory did not name a new client: not in time, or the room lost its shared state meanwhile."""


@dataclass(frozen=True)
class Limits:
    """What one client may do: unsent bytes before it is dropped, messages a second, characters a message."""

    backlog: int = BACKLOG
    rate: float = RATE
    burst: float = BURST
    text: int = MAX_TEXT


@dataclass(eq=False, slots=True)
class Client:
    """One websocket connection: its name, its clock, its rate bucket and its private partner's name."""

    protocol: WebSocketCommonProtocol
    close: Close
    limits: Limits
    name: str = ""  # given by the directory's Joined event
    connected_at: float = field(default_factory=time.monotonic)
    connected_wall: float = field(default_factory=time.time)
    partner: str | None = None
    tokens: float = 0.0
    refilled_at: float = field(default_factory=time.monotonic)
    dropped: bool = False
    present: bool = False  # in the room, until it parts or the room loses its shared state
    welcomed: bool = False  # told its name, its first line, so that the room's lines may follow
    pending: list[bytes] = field(default_factory=list)  # frames for the room's next flush
    queued: int = 0  # their bytes

    def __post_init__(self) -> None:
        self.tokens = self.limits.burst

    def seconds(self) -> int:
        """Whole seconds since this client connected: the stamp on its messages."""
        return int(time.monotonic() - self.connected_at)

    def allow(self) -> bool:
        """Take one token from the client's bucket; False when it sends faster than its rate."""
        now = time.monotonic()
        self.tokens = min(self.limits.burst, self.tokens + (now - self.refilled_at) * self.limits.rate)
        self.refilled_at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Room:
    """The clients connected to this process, over a directory that decides every change to the room."""

    def __init__(self, directory: Directory, limits: Limits | None = None) -> None:
        self.directory = directory
        self.failures = directory.failures
        self.limits = limits if limits is not None else Limits()
        self.clients: dict[str, Client] = {}  # present, by name
        self.arriving: dict[str, tuple[Client, asyncio.Future[None]]] = {}  # joining, by token
        self.tokens = (f"{uuid.uuid4().hex}/{number}" for number in itertools.count())
        self.pager: tuple[str, asyncio.Task[None]] | None = None  # a pager of this process, and its task
        self.abandoned: set[str] = set()  # tokens whose client stopped waiting for its name
        self.background: set[asyncio.Task[None]] = set()
        self.unflushed: list[Client] = []
        self.flush_due = False
        self.commands: dict[str, Callable[[Client, str], Awaitable[None]]] = {
            "page": self.page,
            "invite": self.invite,
            "leave": self.leave_private,
        }
        directory.attach(self)

    # What clients see.

    def deliver(self, clients: Iterable[Client], line: str) -> None:
        """Queue the line for each client without waiting; drop a client whose socket has fallen behind.

        This is the websockets library's `broadcast()` less its work per connection: with no extensions
        (per-message deflate is off) every client gets the same bytes, so the frame is serialized once. The
        lines queued while the event loop runs its ready callbacks go out in one write per client, after them:
        a busy server makes fewer, larger writes instead of falling further behind.
        """
        frame = Frame(Opcode.TEXT, line.encode()).serialize(mask=False)
        for client in list(clients):  # dropping a client changes the room
            transport = client.protocol.transport
            if client.dropped or transport is None:
                continue
            if transport.get_write_buffer_size() + client.queued > self.limits.backlog:
                self.drop(client, f"too slow: more than {self.limits.backlog // 1024} KiB unsent")
                continue
            if not client.pending:
                self.unflushed.append(client)
            client.pending.append(frame)
            client.queued += len(frame)
        self.flush_soon()

    def flush_soon(self) -> None:
        if self.unflushed and not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_due = False
        unflushed, self.unflushed = self.unflushed, []
        for client in unflushed:
            if not client.welcomed:
                continue  # its lines wait for its welcome, which is first
            data = b"".join(client.pending)
            client.pending.clear()
            client.queued = 0
            transport = client.protocol.transport
            if client.protocol.state is State.OPEN and transport is not None:
                transport.write(data)

    def tell(self, client: Client, line: str) -> None:
        self.deliver((client,), line)

    def others(self, *names: str) -> Iterable[Client]:
        return (client for client in self.clients.values() if client.name not in names)

    def drop(self, client: Client, reason: str) -> None:
        """Out of the room at once; the close frame waits behind what the client has not read yet."""
        client.dropped = True
        self.spawn(self.part(client))
        self.spawn(self.close(client, SLOW_CLOSE, reason))

    def spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(self.quietly(coroutine))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def quietly(self, coroutine: Awaitable[None]) -> None:
        with contextlib.suppress(*self.failures):  # then the room is closing its clients anyway
            await coroutine

    async def close(self, client: Client, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await client.close(code, reason)

    # The directory's events, in its order.

    def apply(self, event: Event) -> None:  # noqa: PLR0912 - one case per kind of event reads best
        """Show an event to this process's clients; every process applies the same events in the same order."""
        match event:
            case Joined(name, token):
                if token in self.abandoned:
                    self.abandoned.discard(token)
                    self.spawn(self.directory.part(name))
                elif (arriving := self.arriving.pop(token, None)) is not None:
                    client, named = arriving
                    client.name, client.present = name, True
                    self.clients[name] = client
                    named.set_result(None)
                self.deliver(self.others(name), f"{name} connected")
            case Left(name, partner):
                if (gone := self.clients.pop(name, None)) is not None:
                    # Not parted here, yet gone from the room: reaped with this process, taken for dead.
                    gone.present = False
                    self.spawn(self.close(gone, *REMOVED))
                if (stays := self.clients.get(partner)) is not None:
                    stays.partner = None
                    self.tell(stays, f"{name} left; private chat ended.")
                self.deliver(self.others(name, partner), f"{name} left")
            case Paired(a, b):
                for me, other in ((a, b), (b, a)):
                    if (paired := self.clients.get(me)) is not None:
                        paired.partner = other
                        self.tell(paired, f"Private chatting with {other}")
            case Unpaired(a, b):
                for name in (a, b):
                    if (ended := self.clients.get(name)) is not None:
                        ended.partner = None
                        self.tell(ended, "Private chat ended.")
            case Paged(pager):
                self.stop_paging()
                if pager in self.clients:
                    self.pager = (pager, asyncio.ensure_future(self.keep_paging(pager)))
            case Unpaged(pager):
                if self.pager is not None and self.pager[0] == pager:
                    self.stop_paging()
            case Paging(pager):
                self.deliver(self.others(pager), "PAGING")
            case Said(sender, line, to):
                if to:
                    if (recipient := self.clients.get(to)) is not None:
                        self.tell(recipient, line)
                else:
                    self.deliver((c for c in self.others(sender) if c.partner is None), line)
            case Announced(text):
                self.deliver(self.clients.values(), f"Announcement: {text}")

    def lost(self, code: int, reason: str) -> None:
        """The shared state is gone or unreachable: every client here goes, their names with it."""
        self.stop_paging()
        for _, named in self.arriving.values():
            named.set_exception(NotJoinedError(reason))
        self.arriving.clear()
        self.abandoned.clear()
        for client in self.clients.values():
            client.present = False
            self.spawn(self.close(client, code, reason))
        self.clients.clear()

    # What clients do.

    async def enter(self, client: Client) -> None:
        """Let a new client into the room: named once the directory's Joined event for it is applied.

        What it is sent from then on waits until `welcomed`, so that its name is its first line.
        """
        token = next(self.tokens)
        named: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.arriving[token] = (client, named)
        try:
            await self.directory.join(token, client.connected_wall)
            await asyncio.wait_for(asyncio.shield(named), JOIN_TIMEOUT)
        except asyncio.TimeoutError as error:
            self.abandoned.add(token)  # should its name come after all, it is given back
            raise NotJoinedError("the room did not name the client in time") from error
        finally:
            self.arriving.pop(token, None)

    def welcomed(self, client: Client) -> None:
        """The client has been told its name: send it what has come for it since it entered."""
        client.welcomed = True
        if client.pending:
            self.unflushed.append(client)
            self.flush_soon()

    async def part(self, client: Client) -> None:
        """A client has gone, whatever the cause: the directory frees its name, ends its chat and paging."""
        if client.present:
            client.present = False
            if self.clients.get(client.name) is client:
                del self.clients[client.name]
            await self.directory.part(client.name)

    async def receive(self, client: Client, text: str) -> None:
        """One text frame from a client: a command or a message."""
        if not client.allow():
            self.tell(client, f"Slow down: at most {self.limits.rate:g} messages a second")
            return
        if len(text) > self.limits.text:
            self.tell(client, f"Message too long: at most {self.limits.text} characters")
            return
        text, problem = clean(text)
        if problem is not None:
            self.tell(client, f"Message refused: {problem}")
            return
        if not text.strip():
            return  # nothing to say
        word, _, rest = text.strip().partition(" ")
        command = self.commands.get(word)
        if command is not None and (word == "invite") == bool(rest.strip()):
            await command(client, rest.strip())
            return
        await self.directory.say(client.name, f"{client.seconds()} {client.name}: {text}")

    async def announce(self, text: str) -> int:
        """Announce to everyone; how many clients the room has."""
        return await self.directory.announce(text)

    async def roster(self) -> list[tuple[str, float]]:
        return await self.directory.roster()

    async def page(self, client: Client, _: str) -> None:
        await self.directory.page(client.name)

    async def keep_paging(self, pager: str) -> None:
        with contextlib.suppress(*self.failures):  # then the room is closing its clients
            while await self.directory.paging(pager):
                await asyncio.sleep(PAGE_INTERVAL)

    def stop_paging(self) -> None:
        if self.pager is not None:
            self.pager[1].cancel()
        self.pager = None

    async def invite(self, client: Client, who: str) -> None:
        name = f"Client {who}" if who.isdigit() else who
        refused = await self.directory.invite(client.name, name)
        if refused is not None:
            self.tell(client, refused)

    async def leave_private(self, client: Client, _: str) -> None:
        if not await self.directory.leave(client.name):
            self.tell(client, "You are not in a private chat")

    async def close_all(self, code: int, reason: str) -> None:
        self.stop_paging()
        await asyncio.gather(*(self.close(client, code, reason) for client in list(self.clients.values())))
