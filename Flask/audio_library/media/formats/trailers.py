"""Tags appended after a stream's audio (ID3v1, APEv2, Lyrics3), found from the end of the file.

They are found as mutagen and FFmpeg find them: ID3v1 in the last 128 bytes, then, before it, an APEv2
footer or a Lyrics3 tag, in any order. An APEv2 tag need not have a header (only its footer is required),
so scanning forward from the audio cannot find where it starts.
"""

from audio_library.media.formats.limits import BoundedFile


ID3V1_SIZE = 128
APE_FOOTER = 32
_APE_HAS_HEADER = 1 << 31
_LYRICS3_V1_SEARCH = 5100 + 11  # a Lyrics3v1 tag holds at most 5100 bytes after its "LYRICSBEGIN"
_MAX_TRAILERS = 4  # ID3v1, APEv2, Lyrics3, and a second of one of them as some taggers write


def audio_end(stream: BoundedFile, start: int, size: int) -> int:
    """Where the audio that starts at ``start`` ends: the end of the file, less the tags appended after it."""
    end = size
    for _ in range(_MAX_TRAILERS):
        trailer = _trailer_start(stream, start, end)
        if trailer is None:
            break
        end = trailer
    return end


def _trailer_start(stream: BoundedFile, start: int, end: int) -> int | None:
    """Where the tag ending at ``end`` starts, or None if none ends there (or it would start before ``start``)."""
    if end - start < 15:
        return None
    stream.seek(max(start, end - ID3V1_SIZE))
    tail = stream.read(end - stream.tell())
    found: int | None = None
    if len(tail) == ID3V1_SIZE and tail.startswith(b"TAG"):
        found = end - ID3V1_SIZE
    elif tail.endswith(b"LYRICS200") and tail[-15:-9].isdigit():
        found = end - 15 - int(tail[-15:-9])  # the size counts from "LYRICSBEGIN" to the size field
    elif tail.endswith(b"LYRICSEND"):
        stream.seek(max(start, end - _LYRICS3_V1_SEARCH))
        window = stream.read(end - stream.tell())
        begin = window.rfind(b"LYRICSBEGIN")
        found = None if begin < 0 else end - len(window) + begin
    elif end - start >= APE_FOOTER and tail[-APE_FOOTER:].startswith(b"APETAGEX"):
        footer = tail[-APE_FOOTER:]
        tag_size = int.from_bytes(footer[12:16], "little")  # items and footer, not the header
        has_header = int.from_bytes(footer[20:24], "little") & _APE_HAS_HEADER
        found = end - tag_size - (APE_FOOTER if has_header else 0)
    return found if found is not None and start <= found < end else None
