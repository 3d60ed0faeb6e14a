"""What the library knows about a file: the facts its bytes give, and the entry a listing shows for it."""

import logging
import os
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from audio_library.tags import NO_TAGS, Tags


logger = logging.getLogger(__name__)

# A file's version: (name on disk, size, mtime_ns). Facts depend only on the bytes, so they are kept per key.
Key = tuple[str, int, int]


@dataclass
class Facts:
    """What the bytes of one file say: its audio type (None: not audio), duration, tags and, once needed, digest."""

    type: str | None
    duration: float | None
    sha256: str | None = None
    tags: Tags = NO_TAGS
    refused: str | None = None  # when type is None: why (media.second_judge's reasons); never cached


@dataclass(frozen=True)
class Entry:
    """One audio file in the library as the API lists it.

    `name` is always valid Unicode: a name on disk that is not UTF-8 (copied in by hand from an old system)
    is shown with U+FFFD for its undecodable bytes, and `file_name` keeps the name on disk.
    """

    name: str
    size: int
    type: str
    duration: float | None
    modified: str
    file_name: str = ""  # the name on disk, when it differs from `name`
    tags: Tags = NO_TAGS

    @property
    def on_disk(self) -> str:
        """The name of the file in the folder."""
        return self.file_name or self.name


@dataclass(frozen=True)
class Listing:
    """The library's entries in the listing's order, with the JSON array the API sends for them.

    `unexamined` counts the files found in the folder whose examination is still under way: they are not in
    `entries` yet. `generation` grows whenever the listing changes, so callers can cache what they derive.
    """

    entries: list[Entry]
    json: bytes
    unexamined: int = 0
    generation: int = 0
    pending: frozenset[Key] = frozenset()


def iso_utc(mtime_ns: int) -> str:
    """Format a modification time as ISO 8601 UTC with a Z, to the second."""
    moment = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def display_name(file_name: str) -> str:
    """A name as text: one on disk that is not UTF-8 shows U+FFFD where its undecodable bytes are."""
    return os.fsencode(file_name).decode("utf-8", errors="replace")


def make_entry(file_name: str, size: int, facts: Facts, mtime_ns: int) -> Entry:
    """The Entry of an audio file, with a displayable name if its name on disk is not UTF-8."""
    shown = display_name(file_name)
    assert facts.type is not None
    renamed = "" if shown == file_name else file_name
    return Entry(shown, size, facts.type, facts.duration, iso_utc(mtime_ns), renamed, facts.tags)


def escaped_name(file_name: str) -> str:
    """A name on disk that is not UTF-8 with each undecodable byte written as \\xNN: distinct per name."""
    return os.fsencode(file_name).decode("utf-8", errors="backslashreplace")


def distinct_names(entries: list[Entry]) -> list[Entry]:
    """The entries with names that are all different, so that each listed file can be asked for by its name.

    Names on disk that are not UTF-8 are shown with U+FFFD; when that is ambiguous (two such names, or one
    equal to a real name), they are shown with \\xNN escapes instead. A name still taken then is left out
    (and logged): it could not be served.
    """
    counts = Counter(entry.name for entry in entries)
    taken = {entry.name for entry in entries if not entry.file_name}
    distinct = [entry for entry in entries if not entry.file_name]
    for entry in entries:
        if not entry.file_name:
            continue
        name = entry.name if counts[entry.name] == 1 else escaped_name(entry.file_name)
        if name in taken:
            logger.warning("not listing %r: its name is shown like another file's", entry.file_name)
            continue
        taken.add(name)
        distinct.append(entry if name == entry.name else replace(entry, name=name))
    return distinct
