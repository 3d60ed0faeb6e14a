"""Matroska and WebM (EBML): audio when the Tracks, read before the first cluster, are all audio tracks."""

import struct

from audio_library.media.formats.limits import SNIFF_BYTES, BoundedFile, OutOfBoundsError


EBML_READ_LIMIT = 64 * 1024  # largest Matroska Info or Tracks element read whole

_EBML_HEADER, _EBML_DOCTYPE = 0x1A45DFA3, 0x4282
_SEGMENT, _CLUSTER, _INFO, _TRACKS = 0x18538067, 0x1F43B675, 0x1549A966, 0x1654AE6B
_TRACK_ENTRY, _TRACK_TYPE, _TIMESTAMP_SCALE, _DURATION = 0xAE, 0x83, 0x2AD7B1, 0x4489
_AUDIO_TRACK = 2
_UNKNOWN_SIZE = -1


def _ebml_vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """(value, next position) of the variable-length integer at ``pos``; size all-ones -> _UNKNOWN_SIZE."""
    first = data[pos]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML integer")
    value = int.from_bytes(data[pos : pos + length], "big")
    if keep_marker:
        return value, pos + length
    value &= (1 << (7 * length)) - 1
    return (_UNKNOWN_SIZE if value == (1 << (7 * length)) - 1 else value), pos + length


def _ebml_children(data: bytes, stream: BoundedFile) -> list[tuple[int, bytes]]:
    """(id, body) of the elements in ``data``, which is a whole element body; each is walked on ``stream``.

    A child running past its parent's end is a lie (OutOfBoundsError); an unknown size ends the walk.
    """
    children: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        stream.walk()
        element_id, pos = _ebml_vint(data, pos, keep_marker=True)
        element_size, pos = _ebml_vint(data, pos, keep_marker=False)
        if element_size == _UNKNOWN_SIZE:
            break
        if pos + element_size > len(data):
            raise OutOfBoundsError("EBML element runs past its parent")
        children.append((element_id, data[pos : pos + element_size]))
        pos += element_size
    return children


def _ebml_segment(stream: BoundedFile, size: int) -> tuple[bytes, int, int] | None:
    """(doc type, offset of the Segment's body, its end) from the EBML header in the first SNIFF_BYTES.

    A Segment running past the end of the file is a file cut short (a partial download): it ends there.
    """
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    element_id, pos = _ebml_vint(head, 0, keep_marker=True)
    header_size, pos = _ebml_vint(head, pos, keep_marker=False)
    if element_id != _EBML_HEADER or header_size == _UNKNOWN_SIZE:
        return None
    if pos + header_size > len(head):
        raise OutOfBoundsError("EBML header larger than any real one")
    doc_type = dict(_ebml_children(head[pos : pos + header_size], stream)).get(_EBML_DOCTYPE, b"")
    segment_id, pos = _ebml_vint(head, pos + header_size, keep_marker=True)
    segment_size, offset = _ebml_vint(head, pos, keep_marker=False)
    if segment_id != _SEGMENT:
        return None
    end = size if segment_size == _UNKNOWN_SIZE else min(size, offset + segment_size)
    return doc_type, offset, end


def _ebml_layout(stream: BoundedFile, size: int) -> tuple[bytes, list[int], bytes] | None:
    """(doc type, track types, Info body) of a Matroska/WebM file whose Tracks come before its clusters."""
    segment = _ebml_segment(stream, size)
    if segment is None:
        return None
    doc_type, offset, end = segment
    info, tracks = b"", None
    while offset < end:
        stream.walk()
        stream.seek(offset)
        header = stream.read(min(12, end - offset))
        if len(header) < 2:
            break
        element_id, pos = _ebml_vint(header, 0, keep_marker=True)
        element_size, pos = _ebml_vint(header, pos, keep_marker=False)
        if element_id == _CLUSTER or element_size == _UNKNOWN_SIZE:
            break
        if offset + pos + element_size > end:
            raise OutOfBoundsError("EBML element runs past its Segment")
        if element_id in (_INFO, _TRACKS):
            if element_size > EBML_READ_LIMIT:
                raise OutOfBoundsError("Info or Tracks larger than any real one")
            stream.seek(offset + pos)
            body = stream.read(element_size)
            if element_id == _INFO:
                info = body
            else:
                tracks = [
                    int.from_bytes(dict(_ebml_children(entry, stream)).get(_TRACK_TYPE, b"\0"), "big")
                    for entry_id, entry in _ebml_children(body, stream)
                    if entry_id == _TRACK_ENTRY
                ]
        offset += pos + element_size
    return None if tracks is None else (doc_type.rstrip(b"\0"), tracks, info)


def check_matroska(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Matroska/WebM is audio when its Tracks (read before any cluster) are all audio tracks."""
    layout = _ebml_layout(stream, size)
    if layout is None or not layout[1] or any(track != _AUDIO_TRACK for track in layout[1]):
        return None
    return {b"webm": "audio/webm", b"matroska": "audio/x-matroska"}.get(layout[0])


def matroska_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the Info element, scaled by its timestamp scale."""
    layout = _ebml_layout(stream, size)
    if layout is None:
        return None
    info = dict(_ebml_children(layout[2], stream))
    if _DURATION not in info:
        return None  # live recordings (MediaRecorder) carry no duration
    raw = info[_DURATION]
    duration = struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0]
    scale = int.from_bytes(info.get(_TIMESTAMP_SCALE, (1_000_000).to_bytes(4, "big")), "big")
    return float(duration) * scale / 1e9
