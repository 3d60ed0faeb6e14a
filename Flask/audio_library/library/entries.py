"""What a listing shows of a file: its entry, made from what its bytes say (`media.examiner.Facts`)."""

from dataclasses import dataclass
from datetime import datetime, timezone

from audio_library.library.names import listed_name
from audio_library.media.examiner import Facts
from audio_library.media.tags import NO_TAGS, Tags


# A file's version: (name on disk, size, mtime_ns). Facts depend only on the bytes, so they are kept per key.
Key = tuple[str, int, int]


@dataclass(frozen=True)
class Entry:
    """One audio file in the library as the API lists it.

    `name` is always valid Unicode and one-to-one with the name on disk (see names.listed_name): a name that
    is not UTF-8 (copied in by hand from an old system) or holds a backslash is listed escaped, and then
    `file_name` keeps the name on disk.
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


def make_entry(file_name: str, size: int, facts: Facts, mtime_ns: int) -> Entry:
    """The Entry of an audio file, listed under names.listed_name of its name on disk."""
    shown = listed_name(file_name)
    assert facts.type is not None
    renamed = "" if shown == file_name else file_name
    return Entry(shown, size, facts.type, facts.duration, iso_utc(mtime_ns), renamed, facts.tags)
