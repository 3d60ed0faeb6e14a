"""ISO base media (MP4, M4A, MOV): audio when a track handles sound and none handles video."""

import struct

from audio_library.media.formats.limits import MAX_CHUNKS, BoundedFile, OutOfBoundsError


def _bmff_boxes(stream: BoundedFile, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body offset, body end) of the boxes between ``start`` and ``end``, reading only headers.

    A box whose size is smaller than its header, runs past its parent (or the file), or whose 64-bit size is
    cut short is a lie: OutOfBoundsError. Size 0 means "to the end of the parent", as the format says.
    """
    boxes: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end and len(boxes) < MAX_CHUNKS:
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
        if box_size < body - offset or offset + box_size > end:
            raise OutOfBoundsError(f"box {box_type!r} of {box_size} bytes does not fit in its parent")
        boxes.append((box_type, body, offset + box_size))
        offset += box_size
    return boxes


def _bmff_tracks(stream: BoundedFile, size: int) -> list[tuple[bytes, bytes]]:
    """(handler type, mdhd body) of every track in the movie; empty if there is no movie box."""
    tracks = []
    for moov_type, moov_body, moov_end in _bmff_boxes(stream, 0, size):
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
                tracks.append((parts.get(b"hdlr", b"")[8:12], parts.get(b"mdhd", b"")))
    return tracks


def check_bmff(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """The brand (M4A, isom, qt) says nothing reliable: the track handlers decide ("vide" means video)."""
    handlers = [handler for handler, _ in _bmff_tracks(stream, size)]
    if b"soun" in handlers and b"vide" not in handlers:
        return "audio/mp4"
    return None


def bmff_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the first sound track's media header (mdhd)."""
    for handler, mdhd in _bmff_tracks(stream, size):
        if handler == b"soun" and mdhd:
            if mdhd[0] == 1:
                timescale, duration = struct.unpack_from(">IQ", mdhd, 20)
            else:
                timescale, duration = struct.unpack_from(">II", mdhd, 12)
            return duration / timescale if duration and timescale else None
    return None
