"""Audio files whose tag structures multiply: many items, deep nesting, big or empty values, in every tag family
(ID3v2 and ID3v1, APEv2, Vorbis comments in Ogg and FLAC, FLAC metadata blocks, MP4 `ilst`/`covr`, Matroska
Tags), each built around a real fixture so that it is still audio, and kept near MAX_FILE_BYTES.

Each builder takes (count, size, depth): how many items, how big each one's value, how deep the nesting; it
clamps them so the file stays near MAX_FILE_BYTES, which is what fits in the tag read budget.
"""

import base64
import struct
from collections.abc import Callable
from dataclasses import dataclass

from devtools.corpus import COVER_BYTES, FIXTURES_DIR
from devtools.tag_bytes import flac_picture, id3_frame, id3v2


MAX_FILE_BYTES = 2 * 1024 * 1024
COVER = (FIXTURES_DIR / "image.jpg").read_bytes()  # the 765-byte JPEG every tagged fixture carries
assert len(COVER) == COVER_BYTES


@dataclass(frozen=True)
class Multiplied:
    """A built file: its name (the extension says the family) and its bytes."""

    name: str
    data: bytes


def _fit(count: int, item_bytes: int) -> int:
    """``count`` items of ``item_bytes`` each, fewer if they would not fit in MAX_FILE_BYTES."""
    return max(1, min(count, MAX_FILE_BYTES // max(1, item_bytes)))


def ogg_pages(serial: int, first_page: int, packet: bytes) -> bytes:
    """``packet`` as Ogg pages of 255 segments of 255 bytes (the last segment shorter), CRCs left zero."""
    pages, segments = [], [packet[at : at + 255] for at in range(0, len(packet), 255)]
    if len(segments[-1]) == 255:
        segments.append(b"")
    for number, start in enumerate(range(0, len(segments), 255)):
        chunk = segments[start : start + 255]
        header = b"OggS\0" + bytes((1 if number else 0,)) + struct.pack("<qII", 0, serial, first_page + number)
        pages.append(header + bytes(4) + bytes((len(chunk),)) + bytes(map(len, chunk)) + b"".join(chunk))
    return b"".join(pages)


def _vorbis_comment_list(count: int, size: int) -> bytes:
    """A Vorbis comment list (vendor, count, fields): a title, the cover as METADATA_BLOCK_PICTURE, then
    ``count`` distinct comments of ``size`` bytes of value."""
    picture = b"METADATA_BLOCK_PICTURE=" + base64.b64encode(flac_picture(COVER))
    count = _fit(count, 12 + size)
    fields = [b"TITLE=Multiplied", picture, *(b"C%d=" % index + b"x" * size for index in range(count))]
    framed = b"".join(struct.pack("<I", len(field)) + field for field in fields)
    return struct.pack("<I", 6) + b"vendor" + struct.pack("<I", len(fields)) + framed


def ogg_vorbis(count: int, size: int, depth: int) -> Multiplied:
    """Ogg Vorbis whose comment packet holds ``count`` distinct comments (``depth``: pages it is split into
    beyond what it needs, as empty packets do not exist; ignored)."""
    vorbis = (FIXTURES_DIR / "tagged.ogg").read_bytes()
    ident_end = 27 + vorbis[26] + sum(vorbis[27 : 27 + vorbis[26]])
    (serial,) = struct.unpack_from("<I", vorbis, 14)
    packet = b"\x03vorbis" + _vorbis_comment_list(count, size)
    return Multiplied("comments.ogg", vorbis[:ident_end] + ogg_pages(serial, 1, packet) + vorbis[ident_end:])


def flac_blocks(count: int, size: int, depth: int) -> Multiplied:
    """FLAC with a Vorbis comment block of ``count`` comments, then ``depth`` * 16 tiny picture blocks and as
    many padding blocks of ``size`` bytes."""
    flac = (FIXTURES_DIR / "flac.flac").read_bytes()
    streaminfo = flac[4:42]
    assert streaminfo[0] & 0x7F == 0
    comments = _vorbis_comment_list(count, size)[:0xFF_FFFF]
    blocks = [(4, comments)]
    pictures = _fit(depth * 16, 40 + len(COVER))
    blocks += [(6, flac_picture(COVER))] * min(pictures, (MAX_FILE_BYTES - len(comments)) // (50 + len(COVER)) + 1)
    blocks += [(1, bytes(size))] * _fit(depth * 16, 4 + size)
    end = _flac_audio_start(flac)
    body = b"".join(
        bytes((kind | (0x80 if index == len(blocks) - 1 else 0),)) + len(data).to_bytes(3, "big") + data
        for index, (kind, data) in enumerate(blocks)
    )
    return Multiplied("blocks.flac", b"fLaC" + bytes((0,)) + streaminfo[1:] + body + flac[end:])


def _flac_audio_start(flac: bytes) -> int:
    offset, last = 4, False
    while not last:
        last = bool(flac[offset] & 0x80)
        offset += 4 + int.from_bytes(flac[offset + 1 : offset + 4], "big")
    return offset


def id3_frames(count: int, size: int, depth: int) -> Multiplied:
    """MP3 behind an ID3v2.3 tag of ``count`` title and tiny picture frames, chapters nested ``depth`` deep,
    and an ID3v1 tag."""
    chapter = id3_frame(b"TIT2", b"\0deep")
    for level in range(depth):
        chapter = id3_frame(b"CHAP", b"ch%d\0" % level + bytes(16) + chapter)
    picture = id3_frame(b"APIC", b"\0image/jpeg\0\x03\0" + COVER)
    count = _fit(count, 11 + size)
    frames = [id3_frame(b"TIT2", b"\0" + b"t" * size) if index % 2 else b"" for index in range(count)]
    many = b"".join(frames) + b"".join(id3_frame(b"APIC", b"\0image/jpeg\0\x03\0") for _ in range(_fit(count // 2, 30)))
    tag = id3v2(picture + chapter + many[: MAX_FILE_BYTES - len(chapter)])
    id3v1 = b"TAG" + b"Multiplied".ljust(30, b"\0") + bytes(94) + b"\xff"
    return Multiplied("frames.mp3", tag + (FIXTURES_DIR / "mp3-plain.mp3").read_bytes() + id3v1)


def ape_items(count: int, size: int, depth: int) -> Multiplied:
    """MP3 followed by an APEv2 tag of ``count`` items (the library reads none of them) and an ID3v1 tag."""
    count = _fit(count, 20 + size)
    items = b"".join(struct.pack("<II", size, 0) + b"Item%d\0" % index + b"a" * size for index in range(count))
    flags_header, flags_footer = 0xA0000000, 0x80000000
    tag_size = len(items) + 32

    def frame(flags: int) -> bytes:
        return b"APETAGEX" + struct.pack("<IIII", 2000, tag_size, count, flags) + bytes(8)

    ape = frame(flags_header) + items + frame(flags_footer)
    id3v1 = b"TAG" + b"Ape".ljust(30, b"\0") + bytes(94) + b"\xff"
    return Multiplied("ape.mp3", (FIXTURES_DIR / "mp3-plain.mp3").read_bytes() + ape + id3v1)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _rewrite(data: bytes, path: tuple[bytes, ...], change: Callable[[bytes], bytes]) -> bytes:
    """The boxes in ``data`` with the body of the box at ``path`` changed (sizes on the way fixed)."""
    out, offset = bytearray(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + size]
        if kind == path[0]:
            if len(path) == 1:
                body = change(body)
            elif kind == b"meta":
                body = body[:4] + _rewrite(body[4:], path[1:], change)
            else:
                body = _rewrite(body, path[1:], change)
        out += _box(kind, body)
        offset += size
    return bytes(out)


def mp4_atoms(count: int, size: int, depth: int) -> Multiplied:
    """M4A whose `covr` holds ``count`` data atoms of ``size`` bytes (empty atoms, header alone, for 0) after
    the real cover, items nested ``depth`` deep in boxes named as containers, then 8 * ``depth`` text items."""
    m4a = (FIXTURES_DIR / "tagged.m4a").read_bytes()
    count = _fit(count, 16 + size if size else 8)
    cover = _box(b"data", struct.pack(">II", 13, 0) + COVER)
    value = _box(b"data", struct.pack(">II", 13, 0) + b"\xff" * size if size else b"")  # size 0: an empty atom
    values = value * count
    nested = _box(b"\xa9day", _box(b"data", struct.pack(">II", 1, 0) + b"2026"))
    for _ in range(depth):
        nested = _box(b"meta", bytes(4) + _box(b"ilst", nested))
    texts = b"".join(
        _box(b"\xa9cmt", _box(b"data", struct.pack(">II", 1, 0) + b"c" * size)) for _ in range(_fit(depth * 8, 24))
    )
    extra = (_box(b"covr", cover + values) + nested + texts)[:MAX_FILE_BYTES]
    cut = extra.rfind(b"\xa9cmt") - 4 if len(extra) == MAX_FILE_BYTES else len(extra)
    whole = _rewrite(m4a, (b"moov", b"udta", b"meta", b"ilst"), lambda ilst: extra[:cut] + ilst)
    return Multiplied("atoms.m4a", whole)


def _vint(value: int) -> bytes:
    return bytes((0x01,)) + value.to_bytes(7, "big")


def _element(element_id: bytes, body: bytes) -> bytes:
    return element_id + _vint(len(body)) + body


def matroska_tags(count: int, size: int, depth: int) -> Multiplied:
    """Matroska audio whose Segment starts with Tags: ``count`` Tag elements each holding SimpleTags nested
    ``depth`` deep (the library reads none of them)."""
    mka = (FIXTURES_DIR / "opus.mka").read_bytes()
    header_size = 4 + 1 + (mka[4] & 0x7F)  # the fixture's EBML header has a one-byte size
    assert mka[4] & 0x80
    assert mka[header_size : header_size + 4] == b"\x18\x53\x80\x67"
    size_at = header_size + 4
    size_length = 9 - mka[size_at].bit_length()
    body = mka[size_at + size_length :]
    simple = _element(b"\x67\xc8", _element(b"\x45\xa3", b"TITLE") + _element(b"\x44\x87", b"s" * size))
    for _ in range(depth):
        simple = _element(b"\x67\xc8", _element(b"\x45\xa3", b"PART") + simple)
    tag = _element(b"\x73\x73", _element(b"\x63\xc0", b"") + simple)
    tags = _element(b"\x12\x54\xc3\x67", tag * _fit(count, len(tag)))
    segment = tags + body
    return Multiplied("tags.mka", mka[:header_size] + b"\x18\x53\x80\x67" + _vint(len(segment)) + segment)


FAMILIES: dict[str, Callable[[int, int, int], Multiplied]] = {
    "id3": id3_frames,
    "ape": ape_items,
    "ogg": ogg_vorbis,
    "flac": flac_blocks,
    "mp4": mp4_atoms,
    "matroska": matroska_tags,
}
WITH_COVER = frozenset({"id3", "ogg", "flac", "mp4"})  # the families whose files carry the fixture's cover
