"""Bounds on how much of a file the format parsers read or walk, whatever the file says about itself.

Every parser reads through a :class:`BoundedFile`, which refuses (raises :class:`OutOfBoundsError`) a read that
would take it past its byte budget, a seek outside the file, and a walk past its structure budget. So a
container whose lengths lie can make a parser give up, never read or loop without bound.
"""

import os
from typing import BinaryIO


SNIFF_BYTES = 16 * 1024  # what libmagic sees, and how much of an MPEG or ADTS stream must chain unbroken
DETECT_READ_BYTES = 256 * 1024  # bytes one detection (or one duration probe) may read from a file
DETECT_STRUCTURES = 4096  # headers (boxes, chunks, elements, blocks, pages, frames, tags) it may walk
TAG_READ_BYTES = 2 * 1024 * 1024  # bytes one tag reading may read: covers make tags big
TAG_READS = 4096  # reads one tag reading may make (each reads at least one header)
# Items (ID3 frames, Vorbis comments, FLAC picture blocks, MP4 tag atoms and the data atoms in them) one tag
# reading hands to the tag parser: the byte budget bounds bytes, this bounds the objects a parser builds. The
# items past it are dropped, unread; real files hold a few dozen.
MAX_TAG_ITEMS = 1024
MAX_ITEM_VALUES = 16  # values kept of one tag item (MP4 data atoms, ID3 frames of one ID); real ones hold 1 or 2


class OutOfBoundsError(ValueError):
    """A file that needs more reading or walking than its budget allows, or that points outside itself."""


class BudgetExceededError(OutOfBoundsError):
    """A file that needs more reading or walking than its budget allows: not a lie, but more than is examined.

    Real files may be that big (thousands of chunks before the audio), so a refusal for this says so instead
    of calling the file "not audio".
    """


class BoundedFile:
    """A read-only view of an open file that counts what is read and walked, and refuses to exceed a budget.

    `read(n)` asks the operating system for at most `n` bytes and never more than remain in the file, so
    a length field saying "4 GB" costs nothing unless it is believed; believing it is refused before any
    memory is taken. `walk()` counts one structure (a header parsed), across every level of nesting.
    """

    def __init__(self, raw: BinaryIO, max_bytes: int, max_structures: int) -> None:
        self._raw = raw
        self.size = raw.seek(0, os.SEEK_END)
        raw.seek(0)
        self._position = 0
        self.max_bytes = max_bytes
        self.max_structures = max_structures
        self.bytes_read = 0
        self.structures = 0

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that remain if negative or None), or OutOfBoundsError if over the budget."""
        remaining = max(0, self.size - self._position)
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        self.walk()
        if self.bytes_read + wanted > self.max_bytes:
            raise BudgetExceededError(f"reading {wanted} more bytes would exceed {self.max_bytes}")
        if wanted == 0:
            return b""
        self._raw.seek(self._position)
        data = self._raw.read(wanted)
        self.bytes_read += len(data)
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move within the file; a position before its start or past its end is refused."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        target = base + offset
        if not 0 <= target <= self.size:
            raise OutOfBoundsError(f"offset {target} is outside the file (0-{self.size})")
        self._position = target
        return target

    def tell(self) -> int:
        """The current position."""
        return self._position

    def walk(self, count: int = 1) -> None:
        """Count `count` structures walked; OutOfBoundsError once more than the budget allows."""
        if self.structures + count > self.max_structures:
            raise BudgetExceededError(f"more than {self.max_structures} structures")
        self.structures += count
