"""A verdict from the first bytes of a file still arriving: is it certainly not audio?

The full examination (`examiner.examine`) needs the whole file: its checks measure structures against the
file's size, and an MP4's track list may sit at its end. While an upload streams, the size is unknown, so this
only ever refuses what its start alone proves is no audio, and is unsure of everything else, which is then
received whole and examined as ever. It never accepts anything.

Certainly not audio:
- a type libmagic names from the first bytes that is a document, an image, text, an archive, an executable or
  a font (`NOT_AUDIO`): no audio parser here is asked about those, and no container of sound starts like them
  (the second judge, PyAV, is asked only about starts libmagic cannot name);
- an ISO-BMFF file (MP4, MOV) whose whole movie box (`moov`) is among the first bytes and lists a video track:
  the library's rule for MP4 is sound tracks and no video track, and the track list is complete.
Anything starting with an ID3 tag, every type an audio parser is asked about, "application/octet-stream"
(what libmagic says of what it cannot name) and an MP4 whose movie box comes later are unsure.
"""

import io
import struct

import magic

from audio_library.media.formats.bmff import _bmff_tracks
from audio_library.media.formats.limits import (
    DETECT_READ_BYTES,
    DETECT_STRUCTURES,
    SNIFF_BYTES,
    BoundedFile,
)


VERDICT_BYTES = 1024 * 1024  # how much of a part's start is gathered before judging it
NOT_AUDIO_FAMILIES = ("image/", "text/", "font/")
NOT_AUDIO = frozenset(
    {
        "application/pdf",
        "application/postscript",
        "application/zip",
        "application/gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/zstd",
        "application/x-7z-compressed",
        "application/vnd.rar",
        "application/x-rar",
        "application/x-tar",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-pie-executable",
        "application/x-object",
        "application/x-dosexec",
        "application/vnd.microsoft.portable-executable",
        "application/x-mach-binary",
        "application/java-archive",
        "application/x-java-applet",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/x-iso9660-image",
        "application/x-sqlite3",
        "application/wasm",
        "application/json",
    }
)
BMFF_TYPES = frozenset(
    {"video/mp4", "video/quicktime", "video/x-m4v", "video/3gpp", "video/3gpp2", "audio/mp4", "audio/x-m4a"}
)
_mime_magic = magic.Magic(mime=True)


def certainly_not_audio(head: bytes) -> bool:
    """Whether the first bytes of a file (VERDICT_BYTES of them) prove it is not audio; fewer than SNIFF_BYTES
    prove nothing (libmagic calls two bytes of an AIFF header text)."""
    if len(head) < SNIFF_BYTES or head.startswith(b"ID3"):
        return False
    mime = _mime_magic.from_buffer(head[:SNIFF_BYTES])
    if mime in NOT_AUDIO or mime.startswith(NOT_AUDIO_FAMILIES):
        return True
    return mime in BMFF_TYPES and movie_lists_video(head)


def movie_lists_video(head: bytes) -> bool:
    """Whether the first bytes of an ISO-BMFF file hold its whole movie box, listing a video track."""
    offset = 0
    for _ in range(DETECT_STRUCTURES):
        if offset + 16 > len(head):
            return False
        size, kind = struct.unpack_from(">I4s", head, offset)
        if size == 1:
            (size,) = struct.unpack_from(">Q", head, offset + 8)
        if size < 8:  # 0 runs to the end of a file whose end is unknown; less than a header is a lie
            return False
        if kind == b"moov":
            return offset + size <= len(head) and b"vide" in movie_handlers(head[: offset + size])
        offset += size
    return False


def movie_handlers(start: bytes) -> list[bytes]:
    """The handler types of the tracks of a file's start that ends with its movie box; none if it lies."""
    stream = BoundedFile(io.BytesIO(start), DETECT_READ_BYTES, DETECT_STRUCTURES)
    try:
        return [handler for handler, _, _ in _bmff_tracks(stream, len(start))]
    except (struct.error, ValueError, IndexError):
        return []
