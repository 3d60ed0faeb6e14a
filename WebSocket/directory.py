"""The room's directory: what every process of a room agrees on (names, private pairs, the pager, the
roster), and the one place it changes.

Every change is one step that checks what it expects (that the two are partners before unpairing them,
that the pager still pages before paging again) and emits its effect as an event in the same step; the
room applies events in the order the directory emitted them, never an order of its own. `LocalDirectory`
keeps the state in this process, where a step is a method that does not await; `redis_directory.py`
keeps it in Redis, where a step is a Lua script that publishes its events itself.
"""

import itertools
from typing import Protocol

from WebSocket.events import (
    Announced,
    Event,
    Joined,
    Left,
    Paged,
    Paging,
    Paired,
    Said,
    Unpaged,
    Unpaired,
)


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


def name_number(name: str) -> int:
    """The N of `Client N`, for listing the room in the order clients came."""
    number = name.removeprefix("Client ")
    return int(number) if number.isdigit() else 0


class Sink(Protocol):
    """What the directory tells: every event, in order, and that the shared state is gone."""

    def apply(self, event: Event) -> None: ...

    def lost(self, code: int, reason: str) -> None: ...


class Directory(Protocol):
    """The steps that change what every process of the room agrees on; each emits its events to the sink."""

    # What a step may raise when the shared state cannot be reached; the room closes its clients then.
    failures: tuple[type[Exception], ...]

    def attach(self, sink: Sink) -> None: ...

    async def open(self) -> None:
        """Be ready for steps (join the shared room); raises if it cannot."""

    async def close(self) -> None:
        """Leave the shared room."""

    async def join(self, token: str, since: float) -> None:
        """Give a new client a name never used while names are held; emits Joined(name, token)."""

    async def part(self, name: str) -> None:
        """The client has gone: ends its private chat and its paging; emits Unpaged and Left."""

    async def say(self, sender: str, line: str) -> None:
        """A message, to the sender's partner if it has one, else to the room; stops another's paging."""

    async def invite(self, inviter: str, invitee: str) -> str | None:
        """Pair the two (emits Paired), or say why not; stops another's paging."""

    async def leave(self, name: str) -> bool:
        """End the client's private chat (emits Unpaired); False if it had none; stops another's paging."""

    async def page(self, name: str) -> None:
        """Make the client the room's pager (emits Paged)."""

    async def paging(self, pager: str) -> bool:
        """Emit one Paging if `pager` still pages; False once it does not."""

    async def announce(self, text: str) -> int:
        """Emit an announcement; how many clients the room has."""

    async def roster(self) -> list[tuple[str, float]]:
        """Everyone in the room: names and when they connected (seconds since the epoch), in order."""


class LocalDirectory:
    """The directory of a room that one process serves alone: plain dictionaries, steps that never await."""

    failures: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.clients: dict[str, float] = {}  # name -> connected since
        self.partners: dict[str, str] = {}  # both ways
        self.pager: str | None = None
        self.sink: Sink | None = None

    def attach(self, sink: Sink) -> None:
        self.sink = sink

    def emit(self, event: Event) -> None:
        assert self.sink is not None, "attach the room first"
        self.sink.apply(event)

    def unpage_unless(self, actor: str) -> None:
        if self.pager is not None and self.pager != actor:
            self.emit(Unpaged(self.pager))
            self.pager = None

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def join(self, token: str, since: float) -> None:
        name = f"Client {next(self.numbers)}"
        self.clients[name] = since
        self.emit(Joined(name, token))

    async def part(self, name: str) -> None:
        if self.clients.pop(name, None) is None:
            return
        partner = self.partners.pop(name, "")
        self.partners.pop(partner, None)
        if self.pager == name:
            self.pager = None
            self.emit(Unpaged(name))
        self.emit(Left(name, partner))

    async def say(self, sender: str, line: str) -> None:
        if sender in self.clients:
            self.unpage_unless(sender)
            self.emit(Said(sender, line, self.partners.get(sender, "")))

    async def invite(self, inviter: str, invitee: str) -> str | None:
        self.unpage_unless(inviter)
        if invitee not in self.clients:
            return refusal("absent", invitee)
        if invitee == inviter:
            return refusal("self", invitee)
        if (mine := self.partners.get(inviter)) is not None:
            return refusal("busy_inviter", invitee, mine)
        if invitee in self.partners:
            return refusal("busy_invitee", invitee)
        self.partners[inviter], self.partners[invitee] = invitee, inviter
        self.emit(Paired(inviter, invitee))
        return None

    async def leave(self, name: str) -> bool:
        self.unpage_unless(name)
        partner = self.partners.pop(name, None)
        if partner is None:
            return False
        del self.partners[partner]
        self.emit(Unpaired(name, partner))
        return True

    async def page(self, name: str) -> None:
        if name in self.clients:
            self.pager = name
            self.emit(Paged(name))

    async def paging(self, pager: str) -> bool:
        if self.pager != pager:
            return False
        self.emit(Paging(pager))
        return True

    async def announce(self, text: str) -> int:
        self.emit(Announced(text))
        return len(self.clients)

    async def roster(self) -> list[tuple[str, float]]:
        return sorted(self.clients.items(), key=lambda entry: name_number(entry[0]))
