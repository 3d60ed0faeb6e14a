"""ISO base media (MP4, M4A, MOV): audio when a track handles sound and none handles video.

A video track holding a single sample is a still picture (a cover), not video. A file cut short (a partial
download) whose movie box is whole is read as far as it goes: players play what is there.
"""

import struct

from audio_library.media.formats.limits import (
    MAX_ITEM_VALUES,
    MAX_TAG_ITEMS,
    BoundedFile,
    BudgetExceededError,
    OutOfBoundsError,
)
from audio_library.media.formats.tag_copy import TagCopy


_Box = tuple[bytes, int, int]
_STSZ, _STZ2 = b"stsz", b"stz2"
_DATA_HEADER = 8  # what a tag value's data atom holds before the value: its type and locale
# The boxes a tag library opens to read the boxes inside (mutagen's containers): as a tag item, none is a tag.
_CONTAINERS = frozenset((b"moov", b"udta", b"trak", b"mdia", b"meta", b"ilst", b"stbl", b"minf", b"moof", b"traf"))


def _bmff_boxes(stream: BoundedFile, start: int, end: int, top: bool = False, limit: int | None = None) -> list[_Box]:
    """(type, body offset, body end) of the boxes between ``start`` and ``end``, reading only headers; the
    first ``limit`` of them if given.

    A box whose size is smaller than its header, runs past its parent, or whose 64-bit size is cut short is a
    lie: OutOfBoundsError. Size 0 means "to the end of the parent", as the format says. At the ``top`` level a
    box other than the movie box running past the end of the file is a file cut short: the walk ends there.
    """
    boxes: list[_Box] = []
    offset = start
    while offset + 8 <= end and (limit is None or len(boxes) < limit):
        stream.walk()
        stream.seek(offset)
        header = stream.read(min(16, end - offset))
        box_size, box_type = struct.unpack(">I4s", header[:8])
        body = offset + 8
        if box_size == 1:
            if len(header) < 16:
                raise OutOfBoundsError("64-bit box size cut short")
            (box_size,) = struct.unpack(">Q", header[8:])
            body += 8
        elif box_size == 0:
            box_size = end - offset
        if top and box_size >= body - offset and offset + box_size > end and box_type != b"moov":
            break
        if box_size < body - offset or offset + box_size > end:
            raise OutOfBoundsError(f"box {box_type!r} of {box_size} bytes does not fit in its parent")
        boxes.append((box_type, body, offset + box_size))
        offset += box_size
    return boxes


def _child(stream: BoundedFile, parent: _Box, kinds: tuple[bytes, ...]) -> _Box | None:
    """The first child box of ``parent`` of one of ``kinds``."""
    return next((box for box in _bmff_boxes(stream, parent[1], parent[2]) if box[0] in kinds), None)


def _sample_count(stream: BoundedFile, mdia: _Box) -> int | None:
    """How many samples a track holds, from its sample size box (None if it has none)."""
    box: _Box | None = mdia
    for kinds in ((b"minf",), (b"stbl",), (_STSZ, _STZ2)):
        box = None if box is None else _child(stream, box, kinds)
    if box is None or box[2] - box[1] < 12:
        return None
    stream.seek(box[1] + 8)  # version and flags, then the sample size (stz2: field size)
    return int.from_bytes(stream.read(4), "big")


def _bmff_tracks(stream: BoundedFile, size: int) -> list[tuple[bytes, bytes, int | None]]:
    """(handler type, mdhd body, sample count) of every track in the movie; empty if there is no movie box."""
    tracks = []
    for moov_type, moov_body, moov_end in _bmff_boxes(stream, 0, size, top=True):
        if moov_type != b"moov":
            continue
        for trak_type, trak_body, trak_end in _bmff_boxes(stream, moov_body, moov_end):
            if trak_type != b"trak":
                continue
            for mdia_type, mdia_body, mdia_end in _bmff_boxes(stream, trak_body, trak_end):
                if mdia_type != b"mdia":
                    continue
                parts = {}
                for box_type, body, box_end in _bmff_boxes(stream, mdia_body, mdia_end):
                    if box_type in (b"hdlr", b"mdhd"):
                        stream.seek(body)
                        parts[box_type] = stream.read(min(box_end - body, 64))
                handler = parts.get(b"hdlr", b"")[8:12]
                samples = _sample_count(stream, (mdia_type, mdia_body, mdia_end)) if handler == b"vide" else None
                tracks.append((handler, parts.get(b"mdhd", b""), samples))
    return tracks


def check_bmff(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """The brand (M4A, isom, qt) says nothing reliable: the track handlers decide ("vide" means video, unless
    the track holds a single picture)."""
    tracks = _bmff_tracks(stream, size)
    handlers = [handler for handler, _, _ in tracks]
    moving = [handler for handler, _, samples in tracks if handler == b"vide" and samples != 1]
    if b"soun" in handlers and not moving:
        return "audio/mp4"
    return None


def bmff_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the first sound track's media header (mdhd)."""
    for handler, mdhd, _ in _bmff_tracks(stream, size):
        if handler == b"soun" and mdhd:
            if mdhd[0] == 1:
                timescale, duration = struct.unpack_from(">IQ", mdhd, 20)
            else:
                timescale, duration = struct.unpack_from(">II", mdhd, 12)
            return duration / timescale if duration and timescale else None
    return None


def _header(box_type: bytes, body_size: int) -> bytes:
    return struct.pack(">I4s", 8 + body_size, box_type)


def mp4_tag_list(stream: BoundedFile, size: int, max_item: int) -> TagCopy | None:
    """A movie box holding only the file's iTunes tag list (moov/udta/meta/ilst), as a tag library reads it,
    bounded in bytes and in atoms; None if the file has no tag list.

    The items bigger than ``max_item`` (a big cover) are never read, so the title survives a cover over the
    read budget. Of the rest, the first MAX_TAG_ITEMS atoms are kept, counting the items and the values (data
    atoms) in them, and at most MAX_ITEM_VALUES values an item: a `covr` of countless empty data atoms costs
    no more than the cap. Items named as boxes that hold boxes (`moov`, `meta`...) are no tags: left out.
    """
    parent: _Box | None = next((box for box in _bmff_boxes(stream, 0, size, top=True) if box[0] == b"moov"), None)
    for kind in (b"udta", b"meta", b"ilst"):
        if parent is None:
            return None
        skipped = 4 if parent[0] == b"meta" else 0  # meta is a full box: its children follow 4 bytes of flags
        parent = _child(stream, (parent[0], parent[1] + skipped, parent[2]), (kind,))
    if parent is None:
        return None
    items, atoms = TagCopy(), 0
    for item_type, body, end in _bmff_boxes(stream, parent[1], parent[2], limit=MAX_TAG_ITEMS):
        if atoms >= MAX_TAG_ITEMS:
            break
        if end - body > max_item or item_type in _CONTAINERS:
            continue
        try:
            values = _bmff_boxes(stream, body, end, limit=min(MAX_ITEM_VALUES, MAX_TAG_ITEMS - atoms - 1))
        except BudgetExceededError:
            raise
        except OutOfBoundsError:
            continue  # an item whose values are no boxes: not a tag we can read, the others still are
        item = TagCopy()
        for value_type, value_body, value_end in values:
            if value_type == b"data" and value_end - value_body < _DATA_HEADER:
                continue  # no value, and one that mutagen cannot read: it would cost the whole tag list
            item.add(_header(value_type, value_end - value_body))
            item.copy(stream, value_body, value_end - value_body)
        items.extend(item.wrapped(_header(item_type, len(item.data))))
        atoms += 1 + len(values)
    tag_list = items.wrapped(_header(b"ilst", len(items.data)))
    meta = tag_list.wrapped(_header(b"meta", 4 + len(tag_list.data)) + bytes(4))
    udta = meta.wrapped(_header(b"udta", len(meta.data)))
    return udta.wrapped(_header(b"moov", len(udta.data)))
