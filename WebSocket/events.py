"""What the room's directory decided, as every process applies it: one dataclass per kind of event.

The local directory hands these objects to the room as they are; the Redis directory's scripts publish
them as JSON (`{"epoch": ..., "kind": "said", ...}`), and `decode` turns that back into the dataclass at
the boundary. Nothing else handles the JSON.
"""

import json
from dataclasses import dataclass, fields
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Joined:
    """A client has a name and is in the room; `token` tells its process which connection it is."""

    kind: ClassVar[str] = "joined"
    name: str
    token: str


@dataclass(frozen=True, slots=True)
class Left:
    """A client has gone, whatever the cause; `partner` (if not empty) was in a private chat with it."""

    kind: ClassVar[str] = "left"
    name: str
    partner: str = ""


@dataclass(frozen=True, slots=True)
class Paired:
    """`a` invited `b`: the two now chat privately."""

    kind: ClassVar[str] = "paired"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Unpaired:
    """One of the two sent `leave`: both are back in the room."""

    kind: ClassVar[str] = "unpaired"
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class Paged:
    """`pager` pages the room (and whoever paged before stops)."""

    kind: ClassVar[str] = "paged"
    pager: str


@dataclass(frozen=True, slots=True)
class Unpaged:
    """`pager` no longer pages: another client typed, or it left."""

    kind: ClassVar[str] = "unpaged"
    pager: str


@dataclass(frozen=True, slots=True)
class Paging:
    """One page is due: everyone but `pager` is sent PAGING."""

    kind: ClassVar[str] = "paging"
    pager: str


@dataclass(frozen=True, slots=True)
class Said:
    """A message: to `to` alone when the sender chats privately with it, else (`to` empty) to the room."""

    kind: ClassVar[str] = "said"
    sender: str
    line: str
    to: str = ""


@dataclass(frozen=True, slots=True)
class Announced:
    """An announcement through the REST side, to everyone."""

    kind: ClassVar[str] = "announced"
    text: str


Event = Joined | Left | Paired | Unpaired | Paged | Unpaged | Paging | Said | Announced
KINDS: dict[str, type[Event]] = {
    kind.kind: kind for kind in (Joined, Left, Paired, Unpaired, Paged, Unpaged, Paging, Said, Announced)
}


class EventError(ValueError):
    """A published message that is not an event of this chat."""


def decode(data: str | bytes) -> tuple[str, Event]:
    """The epoch and the event of one published message; EventError if it is not one."""
    try:
        message = json.loads(data)
        kind = KINDS[message.pop("kind")]
        epoch = message.pop("epoch")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise EventError(f"not a chat event: {error}") from error
    names = {field.name for field in fields(kind)}
    if not isinstance(epoch, str) or set(message) - names or not all(isinstance(v, str) for v in message.values()):
        raise EventError(f"not a {kind.kind} event")
    try:
        return epoch, kind(**message)
    except TypeError as error:
        raise EventError(f"not a {kind.kind} event: {error}") from error
