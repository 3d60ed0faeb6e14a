"""ID3v2 tags: metadata that MP3s, and FLAC files from some rippers, carry in front of their audio."""

from typing import BinaryIO


MAX_ID3_TAGS = 4  # some taggers write several ID3v2 tags in a row


def skip_id3(stream: BinaryIO, size: int) -> int | None:
    """Offset just past the ID3v2 tag(s) at the start of the file, or None if the tag header is invalid."""
    offset = 0
    for _ in range(MAX_ID3_TAGS):
        stream.seek(offset)
        header = stream.read(10)
        if not header.startswith(b"ID3"):
            break
        major, revision, flags = header[3], header[4], header[5]
        syncsafe = header[6:10]
        if len(header) < 10 or major not in (2, 3, 4) or revision == 0xFF or any(b & 0x80 for b in syncsafe):
            return None
        tag_size = syncsafe[0] << 21 | syncsafe[1] << 14 | syncsafe[2] << 7 | syncsafe[3]
        footer = 10 if major == 4 and flags & 0x10 else 0
        offset += 10 + tag_size + footer
        if offset >= size:
            return None
    return offset
