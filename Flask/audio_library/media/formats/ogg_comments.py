"""The comments of an Ogg audio stream (Vorbis comments), read page by page without the fields too big to keep.

The comment packet is followed across pages from their headers alone; `vorbis_comments` reads its fields.
"""

import struct

from audio_library.media.formats.id3 import skip_id3
from audio_library.media.formats.limits import BoundedFile, OutOfBoundsError
from audio_library.media.formats.tag_copy import Span
from audio_library.media.formats.vorbis_comments import Comments, comment_at, vorbis_comments


# Identification packet's start -> bytes before the comments in the stream's second packet (its comment
# header): Vorbis "\x03vorbis", Opus "OpusTags", a FLAC metadata block header, nothing for Speex.
_COMMENTS_AT = {b"\x01vorbis": 7, b"OpusHead": 8, b"\x7fFLAC": 4, b"Speex   ": 0}
_COMMENT_PACKET = 1


def ogg_comments(stream: BoundedFile, size: int, max_field: int) -> Comments | None:
    """The Vorbis comments of the file's first audio stream (as `vorbis_comments` gives them, each field's
    place counted from the start of the comment packet); None if the file holds no audio stream with
    comments."""
    found = _comment_packet(stream, size)
    if found is None:
        return None
    skipped, spans = found
    return vorbis_comments(stream, spans, skipped, max_field)


def ogg_comment_at(stream: BoundedFile, size: int, place: Span) -> bytes | None:
    """The bytes at ``place`` (offset, length) of the comment packet of the file's first audio stream, found
    again from the pages' headers and read alone; None if the file holds no such packet."""
    found = _comment_packet(stream, size)
    return None if found is None else comment_at(stream, found[1], place)


def _comment_packet(stream: BoundedFile, size: int) -> tuple[int, list[Span]] | None:
    """(bytes before the comments, (offset, length) of each piece of the comment packet) of the first audio
    stream, from the pages' headers (some taggers put an ID3v2 tag before the first page)."""
    offset = skip_id3(stream, size) or 0
    serial, skipped, packet = None, 0, 0
    spans: list[Span] = []
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
