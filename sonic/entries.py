"""What the server says a file in the library is: the entries of `GET /api/files`, and their check."""

import math
from typing import TypedDict


class FileEntry(TypedDict):
    """One file in the library, as `GET /api/files` describes it."""

    name: str
    size: int
    type: str
    duration: float | None


class TaggedEntry(FileEntry, total=False):
    """The fields not every server sends, nor the client checks: tags (null when the file does not say)."""

    modified: str
    title: str | None
    artist: str | None
    album: str | None
    track: int | None


TEXT_TAGS = ("title", "artist", "album")


def is_entry(value: object) -> bool:
    """Whether a JSON value has the shape of a FileEntry, with numbers that can be shown."""
    if not isinstance(value, dict):
        return False
    size, duration = value.get("size"), value.get("duration")
    return (
        isinstance(value.get("name"), str)
        and type(size) is int
        and size >= 0
        and isinstance(value.get("type"), str)
        and "duration" in value
        and (duration is None or (type(duration) in (int, float) and math.isfinite(duration) and duration >= 0))
        and all(isinstance(value.get(tag), (str, type(None))) for tag in TEXT_TAGS)
        and (value.get("track") is None or (type(value.get("track")) is int and value["track"] >= 0))
    )
