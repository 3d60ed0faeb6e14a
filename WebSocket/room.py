"""The chatroom's rules: names, messages, the pager and private chats, for the clients of one server process.

What every process of a room must agree on (names, who chats privately with whom, who pages) is asked of
the room's directory methods, which here keep it in this process; `redis_room.py` keeps it in Redis for
several processes. Whatever clients should see is an event: `Room.publish` applies it here at once, and the
Redis room publishes it so that every process applies it, all in the order Redis delivers them.
"""

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.legacy.protocol import WebSocketCommonProtocol
from websockets.protocol import State


MAX_TEXT = 2000  # characters in one chat message
BACKLOG = 256 * 1024  # bytes sent to one client but not yet taken by its socket before it is dropped as too slow
RATE = 20.0  # messages a second one client may send, on average
BURST = 40.0  # messages one client may send at once
PAGE_INTERVAL = 1.0
SLOW_CLOSE = 1008  # policy violation: the client does not read what it is sent

# Why an invitation cannot be done, by the directory's code for it.
REFUSALS = {
    "absent": "No such client: {name}",
    "self": "You cannot invite yourself",
    "busy_inviter": "You are already in a private chat with {partner}",
    "busy_invitee": "{name} is already in a private chat",
}


def refusal(code: str, name: str, partner: str = "") -> str:
    """The line that says why an invitation of `name` cannot be done."""
    return REFUSALS[code].format(name=name, partner=partner)


Event = dict[str, Any]  # {"kind": ..., ...}: see Room.apply
Close = Callable[[int, str], Awaitable[None]]


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

    name: str
    protocol: WebSocketCommonProtocol
    close: Close
    limits: Limits
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
    """The clients connected to this process, and every change to what they see; state kept in this process."""

    # What the directory or publish may raise when the room's shared state cannot be reached.
    failures: tuple[type[Exception], ...] = ()

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits if limits is not None else Limits()
        self.clients: dict[str, Client] = {}
        self.numbers = itertools.count(1)
        self.pager: str | None = None
        self.pager_task: asyncio.Task[None] | None = None
        self.background: set[asyncio.Task[None]] = set()
        self.unflushed: list[Client] = []
        self.flush_due = False
        self.commands: dict[str, Callable[[Client, str], Awaitable[None]]] = {
            "page": self.page,
            "invite": self.invite,
            "leave": self.leave_private,
        }
        self.appliers: dict[str, Callable[[Event], None]] = {
            "room": self.apply_room,
            "tell": self.apply_tell,
            "pair": self.apply_pair,
            "unpair": self.apply_unpair,
            "page": self.apply_page,
            "unpage": self.apply_unpage,
            "paging": self.apply_paging,
        }

    # The directory: what every process of the room agrees on. Here it is this process's own state.

    async def claim_name(self, protocol: WebSocketCommonProtocol, close: Close) -> Client:
        return Client(f"Client {next(self.numbers)}", protocol, close, self.limits)

    async def register(self, client: Client) -> None:
        """Record a named client as in the room."""

    async def check_invitation(self, inviter: Client, name: str) -> str | None:
        """Why `inviter` cannot invite `name`, or None once both are recorded as partners."""
        invitee = self.clients.get(name)
        if invitee is None:
            return refusal("absent", name)
        if invitee is inviter:
            return refusal("self", name)
        if inviter.partner is not None:
            return refusal("busy_inviter", name, inviter.partner)
        return refusal("busy_invitee", name) if invitee.partner is not None else None

    async def end_pairing(self, client: Client) -> str | None:
        """Forget the client's private chat; its partner's name, or None if it had none."""
        return client.partner

    async def forget(self, client: Client) -> tuple[str | None, bool]:
        """Forget a departed client; its partner's name and whether it was paging."""
        return client.partner, self.pager == client.name

    async def claim_pager(self, client: Client) -> None:
        """Record the client as the room's pager."""

    async def release_pager(self, pager: str) -> bool:
        """Stop `pager`'s paging if it still pages; True if this call stopped it."""
        return self.pager == pager

    async def roster(self) -> list[tuple[str, float]]:
        """Everyone in the room: names and when they connected (seconds since the epoch)."""
        return [(client.name, client.connected_wall) for client in self.clients.values()]

    async def recipients(self) -> int:
        """How many clients the room has."""
        return len(self.clients)

    async def publish(self, event: Event) -> None:
        """Make every process of the room apply the event; here there is one."""
        self.apply(event)

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

    def drop(self, client: Client, reason: str) -> None:
        """Out of the room at once; the close frame waits behind what the client has not read yet."""
        client.dropped = True
        self.clients.pop(client.name, None)
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

    def apply(self, event: Event) -> None:
        """Show an event to this process's clients; every process applies the same events in the same order."""
        self.appliers[event["kind"]](event)

    def apply_room(self, event: Event) -> None:
        exclude, room_only = event.get("exclude"), event.get("room_only", False)
        chosen = (c for c in self.clients.values() if c.name != exclude and not (room_only and c.partner))
        self.deliver(chosen, event["line"])

    def apply_tell(self, event: Event) -> None:
        if (client := self.clients.get(event["to"])) is not None:
            self.tell(client, event["line"])

    def apply_pair(self, event: Event) -> None:
        for me, other in ((event["a"], event["b"]), (event["b"], event["a"])):
            if (client := self.clients.get(me)) is not None:
                client.partner = other
                self.tell(client, f"Private chatting with {other}")

    def apply_unpair(self, event: Event) -> None:
        for name, line in event["told"].items():
            if (client := self.clients.get(name)) is not None:
                client.partner = None
                self.tell(client, line)

    def apply_page(self, event: Event) -> None:
        self.stop_paging_task()
        self.pager = event["pager"]
        if event["pager"] in self.clients:
            self.pager_task = asyncio.ensure_future(self.keep_paging(event["pager"]))

    def apply_unpage(self, event: Event) -> None:
        if self.pager == event["pager"]:
            self.pager = None
            self.stop_paging_task()

    def apply_paging(self, event: Event) -> None:
        if self.pager == event["pager"]:
            self.deliver((c for c in self.clients.values() if c.name != event["pager"]), "PAGING")

    # What clients do.

    async def enter(self, client: Client) -> None:
        """Let a named client into the room; what it is sent waits until `welcomed`."""
        await self.register(client)
        self.clients[client.name] = client
        client.present = True
        await self.publish({"kind": "room", "line": f"{client.name} connected", "exclude": client.name})

    def welcomed(self, client: Client) -> None:
        """The client has been told its name: send it what has come for it since it entered."""
        client.welcomed = True
        if client.pending:
            self.unflushed.append(client)
            self.flush_soon()

    async def part(self, client: Client) -> None:
        """A client has gone, whatever the cause: free its name, end its private chat and its paging."""
        self.clients.pop(client.name, None)
        if client.present:
            client.present = False
            await self.depart(client.name, *await self.forget(client))

    async def depart(self, name: str, partner: str | None, paged: bool) -> None:
        """Tell the room that a client has gone, however it went, and end its private chat and paging."""
        if partner is not None:
            await self.publish({"kind": "unpair", "told": {partner: f"{name} left; private chat ended."}})
        if paged:
            await self.publish({"kind": "unpage", "pager": name})
        await self.publish({"kind": "room", "line": f"{name} left", "exclude": partner})

    async def receive(self, client: Client, text: str) -> None:
        """One text frame from a client: a command or a message."""
        if not client.allow():
            self.tell(client, f"Slow down: at most {self.limits.rate:g} messages a second")
            return
        if len(text) > self.limits.text:
            self.tell(client, f"Message too long: at most {self.limits.text} characters")
            return
        if (pager := self.pager) is not None and pager != client.name and await self.release_pager(pager):
            await self.publish({"kind": "unpage", "pager": pager})
        word, _, rest = text.strip().partition(" ")
        command = self.commands.get(word)
        if command is not None and (word == "invite") == bool(rest.strip()):
            await command(client, rest.strip())
            return
        line = f"{client.seconds()} {client.name}: {text}"
        if client.partner is not None:
            await self.publish({"kind": "tell", "to": client.partner, "line": line})
        else:
            await self.publish({"kind": "room", "line": line, "exclude": client.name, "room_only": True})

    async def announce(self, text: str) -> None:
        await self.publish({"kind": "room", "line": f"Announcement: {text}"})

    async def page(self, client: Client, _: str) -> None:
        await self.claim_pager(client)
        await self.publish({"kind": "page", "pager": client.name})

    async def keep_paging(self, pager: str) -> None:
        with contextlib.suppress(*self.failures):  # then the room is closing its clients
            while True:
                await self.publish({"kind": "paging", "pager": pager})
                await asyncio.sleep(PAGE_INTERVAL)

    def stop_paging_task(self) -> None:
        if self.pager_task is not None:
            self.pager_task.cancel()
        self.pager_task = None

    async def invite(self, client: Client, who: str) -> None:
        name = f"Client {who}" if who.isdigit() else who
        refused = await self.check_invitation(client, name)
        if refused is None:
            client.partner = name  # its next message is private even before the event comes back
            await self.publish({"kind": "pair", "a": client.name, "b": name})
        else:
            self.tell(client, refused)

    async def leave_private(self, client: Client, _: str) -> None:
        partner = await self.end_pairing(client)
        client.partner = None  # its next message is for the room even before the event comes back
        if partner is None:
            self.tell(client, "You are not in a private chat")
            return
        ended = "Private chat ended."
        await self.publish({"kind": "unpair", "told": {client.name: ended, partner: ended}})

    async def close_all(self, code: int, reason: str) -> None:
        self.stop_paging_task()
        await asyncio.gather(*(self.close(client, code, reason) for client in list(self.clients.values())))
