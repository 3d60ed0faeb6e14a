"""Vorbis comments (Ogg streams' comment headers, FLAC's VORBIS_COMMENT block), read without the fields too big
to keep and past the item cap.

A cover is a comment too (METADATA_BLOCK_PICTURE, base64), and the whole comment list, cover included, is what
a tag library reads: a cover over the tag budget would cost the title, and a list of countless tiny comments
would cost an object each. So a field over the size limit is stepped over, never read, and the fields past
MAX_TAG_ITEMS are never read at all.
"""

import struct
from collections import deque
from dataclasses import dataclass

from audio_library.media.formats.limits import MAX_TAG_ITEMS, BoundedFile, OutOfBoundsError
from audio_library.media.formats.tag_copy import Span


_BUFFER = 64 * 1024


@dataclass(frozen=True)
class Comments:
    """A comment list as a tag library reads it (`data`: vendor, count, then each field, as the Vorbis comment
    header holds them, with no framing bit), the fields it keeps, and where each lies in the packet or block
    read (offset from its start, length)."""

    data: bytes
    fields: list[bytes]
    places: list[Span]


def vorbis_comments(
    stream: BoundedFile, spans: list[Span], skipped: int, max_field: int, max_items: int = MAX_TAG_ITEMS
) -> Comments:
    """The comment list held in ``spans`` of the file, after ``skipped`` bytes, without the fields longer than
    ``max_field`` and those past the first ``max_items``."""
    packet = SpanReader(stream, spans)
    packet.skip(skipped)
    vendor = packet.field(max_field)
    (count,) = struct.unpack("<I", packet.read(4))
    kept: list[bytes] = []
    places: list[Span] = []
    for _ in range(min(count, max_items)):
        if packet.left < 4:
            break  # a count that overstates the fields: keep those there are
        start = packet.total - packet.left + 4
        field = packet.field(max_field)
        if field is not None:
            kept.append(field)
            places.append((start, len(field)))
    data = b"".join((_framed(vendor or b""), struct.pack("<I", len(kept)), *map(_framed, kept)))
    return Comments(data, kept, places)


def comment_at(stream: BoundedFile, spans: list[Span], place: Span) -> bytes:
    """The bytes at ``place`` (offset, length) of the packet or block held in ``spans``, read alone."""
    packet = SpanReader(stream, spans)
    packet.skip(place[0])
    return packet.read(place[1])


def _framed(field: bytes) -> bytes:
    return struct.pack("<I", len(field)) + field


class SpanReader:
    """The bytes of a packet spread over pages (or a block in one piece), read in order, with fields too long
    to keep stepped over."""

    def __init__(self, stream: BoundedFile, spans: list[Span]) -> None:
        self._stream = stream
        self._spans = deque(spans)
        self._buffer = b""
        self._at = 0  # what of the buffer was read
        self.total = sum(length for _, length in spans)
        self.left = self.total

    def read(self, count: int) -> bytes:
        """The next ``count`` bytes; OutOfBoundsError if the packet ends first."""
        if count > self.left:
            raise OutOfBoundsError("Vorbis comment runs past its packet")
        self.left -= count
        if self._at + count > len(self._buffer):
            pieces = [self._buffer[self._at :]]
            wanted = count - len(pieces[0])
            while wanted > 0:
                offset, length = self._spans[0]
                take = min(length, max(wanted, _BUFFER))
                self._stream.seek(offset)
                pieces.append(self._stream.read(take))
                self._advance(take)
                wanted -= take
            self._buffer, self._at = b"".join(pieces), 0
        data = self._buffer[self._at : self._at + count]
        self._at += count
        return data

    def skip(self, count: int) -> None:
        """Step over the next ``count`` bytes without reading them."""
        if count > self.left:
            raise OutOfBoundsError("Vorbis comment runs past its packet")
        self.left -= count
        buffered = min(count, len(self._buffer) - self._at)
        self._at += buffered
        count -= buffered
        while count:
            take = min(count, self._spans[0][1])
            self._advance(take)
            count -= take

    def field(self, max_field: int) -> bytes | None:
        """The next length-prefixed field, or None (stepped over) if it is longer than ``max_field``."""
        (length,) = struct.unpack("<I", self.read(4))
        if length > max_field:
            self.skip(length)
            return None
        return self.read(length)

    def _advance(self, count: int) -> None:
        offset, length = self._spans[0]
        if count == length:
            self._spans.popleft()
        else:
            self._spans[0] = (offset + count, length - count)
