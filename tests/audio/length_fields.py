"""Where the length fields of a file are, container by container, so tests can make them lie.

`length_fields(data)` lists every length the detector walks in a file of any supported family: MP4 box sizes
(top level, moov, trak, mdia), RIFF/AIFF chunk sizes, FLAC metadata block lengths, the ID3v2 tag and
frame sizes,
Matroska/WebM element sizes (EBML header, Segment, the elements before the first Cluster), Ogg lacing
values and MPEG/ADTS frame headers (whose bitrate or length field sets where the next frame is). Each
field knows where its structure must end: past its parent's end it is a lie the detector must refuse (or,
for ID3 frames, which only tag reading walks, a tag it must not read). Where the end of the file cuts a
structure that players play up to the cut (a Segment, an MP4 box at the top level other than the movie
box, a RIFF/AIFF chunk after the sound data), running past the file is a file cut short, not a lie.
"""

import struct
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LengthField:
    """A length field: its place, how it is encoded, and the span its structure may claim.

    The structure ends at ``base + value``; a strict field (``parent_end`` set) whose structure ends past
    ``parent_end`` makes the file a lie. ``reserved`` values have a special meaning (MP4 size 0 "to the
    end", 1 "64-bit size follows"; EBML all-ones "unknown") and are not lies.
    """

    family: str
    offset: int
    width: int
    encoding: str  # "be", "le", "syncsafe" or "ebml" (a variable-length integer of this width)
    base: int
    parent_end: int | None
    reserved: tuple[int, ...] = ()

    @property
    def largest(self) -> int:
        """The largest value the field can hold."""
        bits = {"syncsafe": 7 * self.width, "ebml": 7 * self.width}.get(self.encoding, 8 * self.width)
        return (1 << bits) - 1

    def encode(self, value: int) -> bytes:
        """``value`` written as this field writes it, in exactly ``width`` bytes."""
        if self.encoding == "le":
            return value.to_bytes(self.width, "little")
        if self.encoding == "syncsafe":
            return bytes((value >> (7 * shift)) & 0x7F for shift in reversed(range(self.width)))
        if self.encoding == "ebml":
            return (value | 1 << (7 * self.width)).to_bytes(self.width, "big")
        return value.to_bytes(self.width, "big")

    def lies(self, value: int) -> bool:
        """Whether the structure would run past its parent's end with this value."""
        return self.parent_end is not None and value not in self.reserved and self.base + value > self.parent_end


def length_fields(data: bytes) -> list[LengthField]:
    """Every length field the detector walks in ``data``, for whichever family it is."""
    if data.startswith(b"ID3"):
        size = _syncsafe(data[6:10])
        tag = [LengthField("id3", 6, 4, "syncsafe", 10, len(data)), *_id3_frames(data, 10 + size)]
        after = _flac if data.startswith(b"fLaC", 10 + size) else _frames
        return tag + after(data, 10 + size)
    if data[4:8] in (b"ftyp", b"moov", b"free", b"mdat", b"wide"):
        return _boxes(data, 0, len(data))
    containers: dict[bytes, Callable[[bytes], list[LengthField]]] = {
        b"fLaC": lambda data: _flac(data, 0),
        b"RIFF": lambda data: _chunks(data, "riff", "<I", b"data"),
        b"FORM": lambda data: _chunks(data, "aiff", ">I", b"SSND"),
        b"OggS": _ogg,
        b"\x1a\x45\xdf\xa3": _ebml,
    }
    found = containers.get(data[:4])
    return found(data) if found is not None else _frames(data, 0)


def _syncsafe(raw: bytes) -> int:
    value = 0
    for byte in raw:
        value = value << 7 | byte & 0x7F
    return value


def _id3_frames(data: bytes, end: int) -> list[LengthField]:
    """The frame sizes of the ID3v2 tag at the start (ID3v2.2: 3 bytes; 2.3: 4; 2.4: 4, syncsafe): only tag
    reading walks them, and a frame past the tag's end makes the tag unreadable, not the file non-audio."""
    major = data[3]
    header, width = (6, 3) if major == 2 else (10, 4)
    fields = []
    offset = 10
    while offset + header <= end and data[offset] != 0:
        raw = data[offset + width : offset + 2 * width]
        size = _syncsafe(raw) if major == 4 else int.from_bytes(raw, "big")
        encoding = "syncsafe" if major == 4 else "be"
        fields.append(LengthField("id3-frame", offset + width, width, encoding, offset + header, end))
        offset += header + size
    return fields


def _boxes(data: bytes, start: int, end: int, depth: int = 0) -> list[LengthField]:
    fields = []
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            fields.append(LengthField("mp4", offset + 8, 8, "be", offset, end))
            header = 16
        else:
            cut_short = depth == 0 and kind != b"moov"  # past the file: a partial download
            fields.append(LengthField("mp4", offset, 4, "be", offset, None if cut_short else end, reserved=(0, 1)))
            header = 8
        if size == 0:
            size = end - offset
        if size < header or offset + size > end:
            break
        if kind in (b"moov", b"trak", b"mdia") and depth < 3:
            fields += _boxes(data, offset + header, offset + size, depth + 1)
        offset += size
    return fields


def _chunks(data: bytes, family: str, layout: str, sound: bytes) -> list[LengthField]:
    encoding = "le" if layout == "<I" else "be"
    fields = [LengthField(family, 4, 4, encoding, 8, None)]  # the whole file's size: writers may leave it unknown
    offset, sound_seen = 12, False
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from(layout, data, offset + 4)
        sound_seen = sound_seen or chunk_id == sound  # after the sound data, a chunk past the end is a cut file
        fields.append(LengthField(family, offset + 4, 4, encoding, offset + 8, None if sound_seen else len(data)))
        offset += 8 + size + (size & 1)
    return fields


def _flac(data: bytes, start: int) -> list[LengthField]:
    fields = []
    offset = start + 4
    while offset + 4 <= len(data):
        fields.append(LengthField("flac", offset + 1, 3, "be", offset + 4, len(data)))
        last = data[offset] & 0x80
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
        if last:
            break
    return fields


def _ogg(data: bytes) -> list[LengthField]:
    fields = []
    offset = 0
    while data.startswith(b"OggS", offset) and offset + 27 <= len(data) and offset < 16 * 1024:
        segments = data[offset + 26]
        fields.append(LengthField("ogg", offset + 26, 1, "be", 0, None))
        fields += [LengthField("ogg", offset + 27 + index, 1, "be", 0, None) for index in range(segments)]
        offset += 27 + segments + sum(data[offset + 27 : offset + 27 + segments])
    return fields


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, width) of the variable-length integer at ``pos``."""
    width = 9 - data[pos].bit_length()
    value = int.from_bytes(data[pos : pos + width], "big") & ((1 << (7 * width)) - 1)
    return value, width


def _ebml(data: bytes) -> list[LengthField]:
    id_width = 4
    header_size, width = _ebml_vint(data, id_width)
    unknown = tuple((1 << (7 * w)) - 1 for w in range(1, 9))
    fields = [LengthField("matroska", id_width, width, "ebml", id_width + width, 16 * 1024, unknown)]
    pos = id_width + width + header_size
    segment_size, width = _ebml_vint(data, pos + 4)
    body = pos + 4 + width
    fields.append(LengthField("matroska", pos + 4, width, "ebml", body, None, unknown))  # a cut-short file
    end = len(data) if segment_size == (1 << (7 * width)) - 1 else body + segment_size
    offset = body
    while offset < end:
        id_width = 9 - data[offset].bit_length()
        element_id = int.from_bytes(data[offset : offset + id_width], "big")
        size, width = _ebml_vint(data, offset + id_width)
        if element_id == 0x1F43B675:  # the first Cluster: the detector stops here
            break
        fields.append(
            LengthField("matroska", offset + id_width, width, "ebml", offset + id_width + width, end, unknown)
        )
        offset += id_width + width + size
    return fields


def _frames(data: bytes, start: int) -> list[LengthField]:
    """The third header byte of each of the first frames (bitrate and padding set an MPEG frame's length);
    for ADTS frames, the 13-bit frame length in bytes 3-5."""
    fields: list[LengthField] = []
    offset = data.find(b"\xff", start)
    while 0 <= offset < min(len(data) - 6, start + 16 * 1024) and len(fields) < 64:
        if data[offset + 1] & 0xF6 == 0xF0:  # ADTS
            fields.append(LengthField("adts", offset + 3, 3, "be", 0, None))
            length = ((data[offset + 3] & 0x03) << 11) | (data[offset + 4] << 3) | (data[offset + 5] >> 5)
        else:
            fields.append(LengthField("mpeg", offset + 2, 1, "be", 0, None))
            length = 0
        offset = offset + length if length >= 7 else data.find(b"\xff", offset + 4)
    return fields
