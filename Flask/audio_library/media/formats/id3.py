"""ID3v2 tags: metadata that MP3s, and FLAC files from some rippers, carry in front of their audio."""

import io
from collections import Counter
from collections.abc import Mapping

from audio_library.media.formats.limits import (
    MAX_ITEM_VALUES,
    MAX_TAG_ITEMS,
    SNIFF_BYTES,
    BoundedFile,
    BudgetExceededError,
    OutOfBoundsError,
)
from audio_library.media.formats.tag_copy import TagCopy


MAX_ID3_TAGS = 4  # some taggers write several ID3v2 tags in a row
ID3_HEADER = 10

# Frame flags that make a frame's body something else than its bytes: compressed (zlib, which mutagen would
# inflate without a bound), encrypted, or carrying a group byte. Such frames are never handed on.
_OPAQUE_FRAME_FLAGS = {3: 0x00E0, 4: 0x004C}
_FRAME_UNSYNC_V24 = 0x0002
_TAG_UNSYNC, _TAG_EXTENDED, _TAG_COMPRESSED_V22 = 0x80, 0x40, 0x40
_FRAME_ID_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _syncsafe(raw: bytes) -> int | None:
    """The value of a syncsafe integer (7 bits a byte), or None if a byte has its top bit set."""
    value = 0
    for byte in raw:
        if byte & 0x80:
            return None
        value = value << 7 | byte
    return value


def _encode_syncsafe(value: int) -> bytes:
    return bytes((value >> shift) & 0x7F for shift in (21, 14, 7, 0))


def read_id3_header(stream: BoundedFile, offset: int) -> tuple[int, int, int] | None:
    """(major version, flags, tag size after the header) of the ID3v2 tag at ``offset``, or None if there is none.

    A tag whose size runs past the end of the file is not a tag (OutOfBoundsError).
    """
    stream.seek(offset)
    header = stream.read(ID3_HEADER)
    if len(header) < ID3_HEADER or not header.startswith(b"ID3"):
        return None
    major, revision, flags = header[3], header[4], header[5]
    tag_size = _syncsafe(header[6:10])
    if major not in (2, 3, 4) or revision == 0xFF or tag_size is None:
        raise OutOfBoundsError("not a valid ID3v2 header")
    if offset + ID3_HEADER + tag_size > stream.size:
        raise OutOfBoundsError("ID3v2 tag runs past the end of the file")
    return major, flags, tag_size


def skip_id3(stream: BoundedFile, size: int) -> int | None:
    """Offset just past the ID3v2 tag(s) at the start of the file, or None if the tag header is invalid."""
    offset = 0
    for _ in range(MAX_ID3_TAGS):
        stream.walk()
        try:
            found = read_id3_header(stream, offset)
        except BudgetExceededError:
            raise
        except OutOfBoundsError:
            return None
        if found is None:
            break
        major, flags, tag_size = found
        footer = 10 if major == 4 and flags & 0x10 else 0
        offset += ID3_HEADER + tag_size + footer
        if offset >= size:
            return None
    return offset


def audio_start(stream: BoundedFile, size: int) -> int | None:
    """Offset of the first byte after the ID3v2 tag(s) at the start and the zero padding after them, which
    taggers write past their tag's declared size (kilobytes of it); None if the tag header is invalid or
    nothing but zeros follows. Zeros are read within the stream's budget."""
    start = skip_id3(stream, size)
    if start is None:
        return None
    stream.seek(start)
    while block := stream.read(SNIFF_BYTES):
        if stripped := block.lstrip(b"\0"):
            return stream.tell() - len(stripped)
    return None


def _frame_ids_walked(source: BoundedFile, start: int, end: int, syncsafe: bool) -> tuple[int, int]:
    """(frames with a valid ID, how far past the tag's end the walk went) of ID3v2.4 frames read with syncsafe
    or with plain sizes, walked as mutagen walks them to decide."""
    position, valid = start, 0
    while position + 10 <= end:
        source.walk()
        source.seek(position)
        header = source.read(10)
        if header == bytes(10):
            return valid, 0  # padding
        if syncsafe:  # mutagen masks a syncsafe size's top bits rather than refusing them
            size = sum((byte & 0x7F) << (7 * (3 - index)) for index, byte in enumerate(header[4:8]))
        else:
            size = int.from_bytes(header[4:8], "big")
        valid += all(byte in _FRAME_ID_BYTES for byte in header[:4])
        position += 10 + size
    return valid, position - end


def _plain_sizes_v24(source: BoundedFile, start: int, end: int) -> bool:
    """Whether an ID3v2.4 tag's frame sizes are plain integers, not syncsafe as the standard says (an old
    iTunes wrote them so): the reading that finds more valid frames wins, as mutagen decides."""
    as_syncsafe, syncsafe_past = _frame_ids_walked(source, start, end, syncsafe=True)
    as_plain, plain_past = _frame_ids_walked(source, start, end, syncsafe=False)
    return as_plain > as_syncsafe or (as_plain == as_syncsafe and syncsafe_past >= 1 and plain_past <= 1)


def extract_id3(stream: BoundedFile, offset: int, wanted: Mapping[bytes, int]) -> TagCopy | None:
    """A new ID3v2 tag holding only the ``wanted`` frames of the tag at ``offset`` that are plain bytes.

    ``wanted`` maps a frame ID to the largest body kept of such a frame. Frames that are compressed, encrypted
    or grouped, or bigger than that, are left out; the walk ends after MAX_TAG_ITEMS frames of the wanted
    IDs, and of one ID only the first MAX_ITEM_VALUES are kept (a tag library merges those, at a cost growing
    with the square of their number), so what a tag library makes of the result is bounded by its size and
    its count. Frame IDs are 4 bytes (ID3v2.3/2.4) or 3 bytes (ID3v2.2, wanted lists both). ID3v2.4 frames
    written with plain sizes are kept with syncsafe ones. None if there is no tag; OutOfBoundsError if its
    frames run past its end.
    """
    found = read_id3_header(stream, offset)
    if found is None:
        return None
    major, flags, tag_size = found
    if major == 2 and flags & _TAG_COMPRESSED_V22:
        return None
    source, start, end = stream, offset + ID3_HEADER, offset + ID3_HEADER + tag_size
    in_file = True  # whether positions in `source` are positions in the file
    if major < 4 and flags & _TAG_UNSYNC:
        # Before 2.4 the whole tag is unsynchronised, frame headers included: undo it, then walk the result.
        stream.seek(start)
        decoded = stream.read(tag_size).replace(b"\xff\x00", b"\xff")
        source = BoundedFile(io.BytesIO(decoded), len(decoded), stream.max_structures - stream.structures)
        start, end, in_file = 0, len(decoded), False
    if major > 2 and flags & _TAG_EXTENDED:
        source.seek(start)
        raw = source.read(4)
        extended = _syncsafe(raw) if major == 4 else 4 + int.from_bytes(raw, "big")
        if extended is None or len(raw) < 4:
            raise OutOfBoundsError("bad ID3v2 extended header")
        start += extended
    kept, count, per_id = TagCopy(), 0, Counter[bytes]()
    header_size, id_size = (6, 3) if major == 2 else (10, 4)
    syncsafe = major == 4 and not _plain_sizes_v24(source, start, end)
    position = start
    while position + header_size <= end and count < MAX_TAG_ITEMS:
        source.walk()
        source.seek(position)
        header = source.read(header_size)
        if header[0] == 0:
            break  # padding
        frame_id = header[:id_size]
        raw_size = header[id_size : 2 * id_size]
        frame_size = _syncsafe(raw_size) if syncsafe else int.from_bytes(raw_size, "big")
        if frame_size is None or position + header_size + frame_size > end:
            raise OutOfBoundsError("ID3v2 frame runs past the end of its tag")
        frame_flags = int.from_bytes(header[8:10], "big") if major > 2 else 0
        shown = frame_id in wanted  # a frame shown counts toward the caps whether it is kept or not
        count += shown
        per_id[frame_id] += shown
        wanted_size = wanted.get(frame_id, -1) if per_id[frame_id] <= MAX_ITEM_VALUES else -1
        if frame_size <= wanted_size and not frame_flags & _OPAQUE_FRAME_FLAGS.get(major, 0):
            if major == 4:
                unsync = _FRAME_UNSYNC_V24 if flags & _TAG_UNSYNC else 0
                header = frame_id + _encode_syncsafe(frame_size) + (frame_flags | unsync).to_bytes(2, "big")
            kept.add(header)
            if in_file:
                kept.copy(source, position + header_size, frame_size)
            else:
                kept.add(source.read(frame_size))
        position += header_size + frame_size
    return kept.wrapped(b"ID3" + bytes((major, 0, 0)) + _encode_syncsafe(len(kept.data)))
