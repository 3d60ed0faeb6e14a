"""Hostile uploads: files of every container family whose lengths lie, streamed at any size without being built.

Each `HOSTILE` entry makes a file of exactly the size asked for, as chunks of at most CHUNK bytes, so the
tests can detect a 2 MB one and the benchmark can upload four of 400 MB at once. All of them must be refused
("Non-audio file detected") after a bounded read: they are what made an early detector read whole uploads
into memory or walk millions of boxes.
"""

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass


CHUNK = 1024 * 1024
FTYP = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"M4A ", 0, b"M4A ", b"isom")
MPEG_HEADER = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames


@dataclass(frozen=True)
class Hostile:
    """A crafted file: how it lies, and its bytes at a given size."""

    family: str
    lie: str
    chunks: Callable[[int], Iterator[bytes]]

    def content(self, size: int) -> bytes:
        """The whole file, for small sizes."""
        return b"".join(self.chunks(size))


def _filled(head: bytes, unit: bytes, size: int) -> Iterator[bytes]:
    """``head``, then ``unit`` repeated, cut to exactly ``size`` bytes, in chunks of about CHUNK bytes."""
    yield head[:size]
    left = size - min(len(head), size)
    block = unit * max(1, CHUNK // len(unit))
    while left > 0:
        piece = block[: min(left, len(block))]
        yield piece
        left -= len(piece)


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4_lying(size: int) -> Iterator[bytes]:
    """ftyp, then a moov whose 64-bit size is 2**62 bytes, then zeros."""
    return _filled(FTYP + struct.pack(">I4sQ", 1, b"moov", 1 << 62), b"\0", size)


def mp4_nested(size: int) -> Iterator[bytes]:
    """A moov filling the file, holding traks of 256 mdia boxes of 256 empty boxes each: 256 boxes per parent,
    so only a cap per file, not per parent, stops the walk (a 135 MB one holds 16.7 million boxes)."""
    mdia = _box(b"mdia", _box(b"free", b"") * 256)
    trak = _box(b"trak", mdia * 256)
    count = max(1, (size - len(FTYP) - 8) // len(trak))
    head = FTYP + struct.pack(">I4s", 8 + count * len(trak), b"moov")
    return _filled(head, trak, size)


def wav_lying(size: int) -> Iterator[bytes]:
    """RIFF WAVE whose fmt chunk claims 4 GB."""
    return _filled(b"RIFF\xff\xff\xff\xffWAVEfmt \xf0\xff\xff\xff", b"\0", size)


def aiff_lying(size: int) -> Iterator[bytes]:
    """AIFF whose COMM chunk claims 2 GB."""
    return _filled(b"FORM\0\0\0\0AIFFCOMM\x7f\xff\xff\xf0", b"\0", size)


def flac_lying(size: int) -> Iterator[bytes]:
    """FLAC: STREAMINFO, then padding blocks of 16 MB each, the last one running past the end of the file."""
    streaminfo = b"\0\0\x00\x22" + bytes(10) + struct.pack(">Q", (44100 << 44) | 1000) + bytes(16)
    block = b"\x01\xff\xff\xff" + bytes(0xFFFFFF)
    return _filled(b"fLaC" + streaminfo, block, size)


def matroska_lying(size: int) -> Iterator[bytes]:
    """WebM: EBML header, a Segment of unknown size, then a Tracks element claiming 2**48 bytes."""
    doc_type = b"\x42\x82\x84webm"
    header = b"\x1a\x45\xdf\xa3" + bytes((0x80 | len(doc_type),)) + doc_type
    segment = b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff"
    tracks = b"\x16\x54\xae\x6b\x01" + (1 << 48).to_bytes(7, "big")
    return _filled(header + segment + tracks, b"\0", size)


def ogg_flood(size: int) -> Iterator[bytes]:
    """A capture pattern every 64 bytes, each page claiming 255 lacing values of 255 over the next ones."""
    return _filled(b"", b"OggS\0\x02" + b"\xff" * 58, size)


def id3_lying(size: int) -> Iterator[bytes]:
    """An ID3v2 tag claiming 256 MB, then MPEG frame headers every 4 bytes that never chain."""
    return _filled(b"ID3\x03\0\0\x7f\x7f\x7f\x7f", MPEG_HEADER, size)


HOSTILE: dict[str, Hostile] = {
    hostile.family: hostile
    for hostile in (
        Hostile("mp4", "moov with a 64-bit size of 2^62", mp4_lying),
        Hostile("mp4-nested", "256 boxes per parent, nested three deep", mp4_nested),
        Hostile("wav", "fmt chunk claims 4 GB", wav_lying),
        Hostile("aiff", "COMM chunk claims 2 GB", aiff_lying),
        Hostile("flac", "16 MB metadata blocks, the last past the end", flac_lying),
        Hostile("webm", "Tracks element claims 2^48 bytes", matroska_lying),
        Hostile("ogg", "pages claiming 64 KB bodies over each other", ogg_flood),
        Hostile("mp3", "ID3 tag claims 256 MB, then unchained frame headers", id3_lying),
    )
}
