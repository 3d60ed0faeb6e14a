"""Reading a cover from the place examining its file found it, without reading the tags again.

The place is kept with the file version's tags (`tags.Tags.cover_span`): a range of the file (an ID3 frame,
a FLAC picture block, an MP4 `covr` value), or the range of a base64 METADATA_BLOCK_PICTURE value in a Vorbis
comment list (an Ogg comment packet, a FLAC comment block), found again from the pages' or blocks' headers.
Either way what is read is checked again to be an image we serve.
"""

import base64
import binascii
import os
import struct
from typing import BinaryIO

import mutagen
import mutagen.flac

from audio_library.media.covers import MAX_COVER_BYTES, Cover, servable_cover
from audio_library.media.formats.flac import flac_comment_at
from audio_library.media.formats.limits import TAG_READ_BYTES, TAG_READS, BoundedFile, OutOfBoundsError
from audio_library.media.formats.ogg_comments import ogg_comment_at
from audio_library.media.formats.tag_copy import Span


def cover_at(stream: BinaryIO, span: Span) -> Cover | None:
    """The cover at (offset, length) of an open file, as examining the file found it; None if those bytes
    are no longer an image we serve. It reads that range alone."""
    offset, length = span
    if not 0 < length <= MAX_COVER_BYTES or offset < 0:
        return None
    data = os.pread(stream.fileno(), length, offset)
    return servable_cover([data]) if len(data) == length else None


def comment_cover(raw: BinaryIO, mime: str, place: Span) -> Cover | None:
    """The cover whose base64 METADATA_BLOCK_PICTURE value examining an Ogg or FLAC file (opened unbuffered)
    found at ``place`` of its comment packet or block: that value alone is read, no comment parsed."""
    reader = {"audio/ogg": ogg_comment_at, "audio/flac": flac_comment_at}.get(mime.partition(";")[0])
    stream = BoundedFile(raw, TAG_READ_BYTES, TAG_READS)
    try:
        value = None if reader is None else reader(stream, stream.size, place)
    except OutOfBoundsError:
        return None
    picture = None if value is None else comment_picture(value)
    return None if picture is None else servable_cover([picture.data])


def comment_picture(value: bytes) -> mutagen.flac.Picture | None:
    """The picture a base64 METADATA_BLOCK_PICTURE value holds, or None if it holds none."""
    try:
        return mutagen.flac.Picture(base64.b64decode(value))
    except (binascii.Error, mutagen.MutagenError, ValueError, struct.error):
        return None
