"""The comments of an Ogg audio stream (Vorbis comments), read page by page without the fields too big to keep.

A cover is a comment too (METADATA_BLOCK_PICTURE, base64), and the whole comment packet, cover included,
is what a tag library reads: a cover over the tag budget would cost the title. So the packet is followed
across pages from their headers alone, and a field over the limit is stepped over, never read.
"""

import struct
from collections import deque

from audio_library.media.formats.id3 import skip_id3
from audio_library.media.formats.limits import BoundedFile, OutOfBoundsError


# Identification packet's start -> bytes before the comments in the stream's second packet (its comment
# header): Vorbis "\x03vorbis", Opus "OpusTags", a FLAC metadata block header, nothing for Speex.
_COMMENTS_AT = {b"\x01vorbis": 7, b"OpusHead": 8, b"\x7fFLAC": 4, b"Speex   ": 0}
_COMMENT_PACKET = 1
MAX_COMMENTS = 1024  # comments read of a packet; real files hold a few dozen, and each costs a parse
_BUFFER = 64 * 1024

_Span = tuple[int, int]


def ogg_comments(stream: BoundedFile, size: int, max_field: int) -> bytes | None:
    """The Vorbis comments of the file's first audio stream (vendor, count, then each field, as the Vorbis
    comment header holds them, with no framing bit), without the fields longer than ``max_field``; None if
    the file holds no audio stream with comments."""
    found = _comment_packet(stream, size)
    if found is None:
        return None
    skipped, spans = found
    packet = _SpanReader(stream, spans)
    packet.skip(skipped)
    vendor = packet.field(max_field)
    (count,) = struct.unpack("<I", packet.read(4))
    fields = []
    for _ in range(min(count, MAX_COMMENTS)):
        if packet.left < 4:
            break  # a count that overstates the fields: keep those there are
        fields.append(packet.field(max_field))
    kept = [field for field in fields if field is not None]
    return b"".join((_framed(vendor or b""), struct.pack("<I", len(kept)), *map(_framed, kept)))


def _framed(field: bytes) -> bytes:
    return struct.pack("<I", len(field)) + field


def _comment_packet(stream: BoundedFile, size: int) -> tuple[int, list[_Span]] | None:
    """(bytes before the comments, (offset, length) of each piece of the comment packet) of the first audio
    stream, from the pages' headers (some taggers put an ID3v2 tag before the first page)."""
    offset = skip_id3(stream, size) or 0
    serial, skipped, packet = None, 0, 0
    spans: list[_Span] = []
    while offset + 27 <= size:
        stream.seek(offset)
        header = stream.read(27)
        if not header.startswith(b"OggS"):
            raise OutOfBoundsError("not an Ogg page where one should be")
        header_type, _, page_serial = struct.unpack_from("<BqI", header, 5)
        lacing = stream.read(header[26])
        body = offset + 27 + len(lacing)
        if serial is None and header_type & 0x02:
            first = stream.read(8)
            magic = next((magic for magic in _COMMENTS_AT if first.startswith(magic)), None)
            serial, skipped = (page_serial, _COMMENTS_AT[magic]) if magic is not None else (None, 0)
        if page_serial == serial:
            position = body
            for value in lacing:
                if packet == _COMMENT_PACKET and value:
                    if spans and sum(spans[-1]) == position:
                        spans[-1] = (spans[-1][0], spans[-1][1] + value)
                    else:
                        spans.append((position, value))
                position += value
                if value < 255:  # a lacing value under 255 ends a packet
                    packet += 1
                    if packet > _COMMENT_PACKET:
                        return skipped, spans
        offset = body + sum(lacing)
    return None


class _SpanReader:
    """The bytes of a packet spread over pages, read in order, with fields too long to keep stepped over."""

    def __init__(self, stream: BoundedFile, spans: list[_Span]) -> None:
        self._stream = stream
        self._spans = deque(spans)
        self._buffer = b""
        self._at = 0  # what of the buffer was read
        self.left = sum(length for _, length in spans)

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
