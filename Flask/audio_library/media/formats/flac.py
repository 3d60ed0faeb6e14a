"""Native FLAC: audio when STREAMINFO comes first and an audio frame follows the metadata blocks."""

import struct
from collections.abc import Iterator

from audio_library.media.formats.id3 import skip_id3
from audio_library.media.formats.limits import MAX_TAG_ITEMS, BoundedFile, OutOfBoundsError
from audio_library.media.formats.tag_copy import Span, TagCopy
from audio_library.media.formats.vorbis_comments import Comments, comment_at, vorbis_comments


_STREAMINFO, _VORBIS_COMMENT, _PICTURE = 0, 4, 6  # metadata block types that tags need


def flac_streaminfo(streaminfo: bytes) -> tuple[int, int]:
    """(sample rate, total samples) from a STREAMINFO block's body."""
    (packed,) = struct.unpack(">Q", streaminfo[10:18])
    return packed >> 44, packed & 0xF_FFFF_FFFF


def _flac_layout(stream: BoundedFile, size: int) -> tuple[int, int] | None:
    """(sample rate, total samples) of a native FLAC stream whose metadata is followed by a frame.

    Some rippers put an ID3v2 tag in front of the stream; it is skipped as for MP3. The metadata blocks are
    as many as the structure budget allows.
    """
    start = skip_id3(stream, size) or 0
    stream.seek(start)
    if stream.read(4) != b"fLaC":
        return None
    header = stream.read(4)
    if len(header) < 4 or header[0] & 0x7F != 0 or int.from_bytes(header[1:], "big") != 34:
        return None  # STREAMINFO must come first
    sample_rate, total = flac_streaminfo(stream.read(34))
    offset, last = start + 42, bool(header[0] & 0x80)
    while not last:
        stream.walk()
        stream.seek(offset)
        header = stream.read(4)
        if len(header) < 4:
            return None
        last, offset = bool(header[0] & 0x80), offset + 4 + int.from_bytes(header[1:], "big")
        if offset > size:
            raise OutOfBoundsError("FLAC metadata block runs past the end of the file")
    stream.seek(offset)
    sync = stream.read(2)
    if sample_rate == 0 or len(sync) < 2 or sync[0] != 0xFF or sync[1] & 0xFE != 0xF8:
        return None  # metadata only, no audio frame
    return sample_rate, total


def check_flac(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the file is native FLAC with an audio frame after its metadata."""
    return "audio/flac" if _flac_layout(stream, size) else None


def flac_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from STREAMINFO; None when it leaves the total samples unknown (0)."""
    layout = _flac_layout(stream, size)
    return layout[1] / layout[0] if layout and layout[1] else None


def _blocks(stream: BoundedFile, size: int) -> Iterator[tuple[int, int, int]]:
    """(type, body offset, length) of each metadata block of a native FLAC file, read from their headers
    alone; nothing if the file is not FLAC."""
    offset = skip_id3(stream, size) or 0
    stream.seek(offset)
    if stream.read(4) != b"fLaC":
        return
    offset, last = offset + 4, False
    while not last:
        stream.seek(offset)
        header = stream.read(4)
        if len(header) < 4:
            raise OutOfBoundsError("FLAC metadata cut short")
        last, kind, length = bool(header[0] & 0x80), header[0] & 0x7F, int.from_bytes(header[1:], "big")
        yield kind, offset + 4, length
        offset += 4 + length


def flac_metadata(
    stream: BoundedFile, size: int, max_picture: int, max_comment: int
) -> tuple[TagCopy, Comments | None] | None:
    """(the file's FLAC metadata blocks that tags need as a FLAC file of their own, the comments of its Vorbis
    comment block), or None if the file is not FLAC. The blocks kept: STREAMINFO, the first Vorbis comment
    block (its comments as `vorbis_comments` keeps them, none longer than ``max_comment``, each placed from the
    start of the block) and the pictures not bigger than ``max_picture``, as long as comments and pictures
    together are at most MAX_TAG_ITEMS. The other blocks (padding, seek tables, big pictures) are never read.

    It is what a tag library needs to read the tags, so the title survives a cover over the read budget, and
    countless blocks or comments cost no more than the cap.
    """
    kept: list[tuple[int, TagCopy]] = []
    comments: Comments | None = None
    items, flac = 0, False
    for kind, offset, length in _blocks(stream, size):
        flac = True
        body = TagCopy()
        if kind == _STREAMINFO and not kept:
            body.copy(stream, offset, length)
        elif kind == _VORBIS_COMMENT and comments is None:
            comments = vorbis_comments(stream, [(offset, length)], 0, max_comment, MAX_TAG_ITEMS - items)
            body.add(comments.data)
            items += len(comments.fields)
        elif kind == _PICTURE and length <= max_picture and items < MAX_TAG_ITEMS:
            body.copy(stream, offset, length)
            items += 1
        if body.data:  # an empty block is as good as none
            kept.append((kind, body))
    if not flac:
        return None
    blocks = TagCopy(bytearray(b"fLaC"))
    for index, (kind, body) in enumerate(kept):
        blocks.add(bytes((kind | (0x80 if index == len(kept) - 1 else 0),)) + len(body.data).to_bytes(3, "big"))
        blocks.extend(body)
    return blocks, comments


def flac_comment_at(stream: BoundedFile, size: int, place: Span) -> bytes | None:
    """The bytes at ``place`` (offset, length) of the file's first Vorbis comment block, found again from the
    blocks' headers and read alone; None if the file holds no such block."""
    for kind, offset, length in _blocks(stream, size):
        if kind == _VORBIS_COMMENT:
            return comment_at(stream, [(offset, length)], place)
    return None
