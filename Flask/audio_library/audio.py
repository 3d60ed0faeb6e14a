"""Decide from a file's bytes whether it is audio, and how long it plays.

libmagic (python-magic) names the container; a small parser for that container then confirms there
really is audio in it, because libmagic alone is fooled both ways: it calls a random binary that happens
to start with an MPEG sync word "audio/mpeg", calls an MP4 with a video track "audio/x-m4a" when the
brand says so, and sees only "application/octet-stream" in an MP3 that opens with a big ID3 tag.
Every check reads a bounded amount of the file (a few tens of KB), never the whole of it.

The MIME types returned (one canonical name per format):

    audio/mpeg        MP3 and MP2 (MPEG-1/2/2.5 layer I-III), with or without ID3v1/ID3v2 tags
    audio/wav         RIFF WAVE with a non-empty data chunk
    audio/aiff        AIFF and AIFF-C with sample frames
    audio/flac        native FLAC, also behind an ID3v2 tag
    audio/ogg         Ogg with only audio streams: Vorbis, Opus, FLAC or Speex
    audio/mp4         ISO-BMFF (M4A, MP4, MOV) with a sound track and no video track
    audio/aac         raw AAC in ADTS frames
    audio/webm        WebM whose tracks are all audio
    audio/x-matroska  Matroska whose tracks are all audio
"""

import functools
import math
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import magic


SNIFF_BYTES = 16 * 1024  # what libmagic sees, and how much of an MPEG or ADTS stream must chain unbroken
MAX_JUNK = 4 * 1024  # padding or junk tolerated before the first frame of such a stream
MIN_FRAMES = 4  # consecutive frames that make an MPEG or ADTS stream
LONGEST_FRAME_HEADER = 7  # ADTS; MPEG audio headers are 4 bytes
MAX_ID3_TAGS = 4  # some taggers write several ID3v2 tags in a row
MAX_CHUNKS = 256  # bound on chunk, box and element walks
EBML_READ_LIMIT = 1024 * 1024  # largest Matroska Info or Tracks element read whole

# Trailers that may legitimately end an MPEG or ADTS frame chain.
STREAM_TRAILERS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3", b"3DI")

# What parsing a lying header can raise; such a file is simply not (measurable) audio.
_MALFORMED = (struct.error, ValueError, IndexError, OverflowError, ZeroDivisionError)

_mime_magic = magic.Magic(mime=True)


def detect_audio_type(path: Path) -> str | None:
    """Return the audio MIME type of the file at ``path`` decided by its bytes, or None if it is not audio.

    The file name and extension are never consulted. The result is one of the types listed in this
    module's docstring.
    """
    with path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        if size == 0:
            return None
        stream.seek(0)
        head = stream.read(SNIFF_BYTES)
        try:
            if head.startswith(b"ID3"):
                return _detect_after_id3(stream, size)
            check = _CHECKS.get(_mime_magic.from_buffer(head))
            return None if check is None else check(stream, size, head)
        except _MALFORMED:
            return None  # a container header that lies about its own structure


def probe_duration(path: Path, mime: str) -> float | None:
    """Return how many seconds the audio file at ``path`` plays, or None when that cannot be told cheaply.

    ``mime`` is what :func:`detect_audio_type` returned for the file. Durations come from headers
    (WAV/AIFF/FLAC sizes, MP4 and Matroska durations, Ogg granule positions, MP3 Xing/VBRI frame counts),
    or are estimated from the bitrate for constant-bitrate MP3 and ADTS streams.
    """
    probe = _PROBES.get(mime)
    if probe is None:
        return None
    with path.open("rb") as stream:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(0)
        try:
            duration = probe(stream, size)
        except _MALFORMED:
            return None
    if duration is None or not math.isfinite(duration) or duration < 0:
        return None
    return duration


# --- MPEG audio (MP3) ----------------------------------------------------------------------------

_MPEG_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Version bits -> (version for the bitrate table, sample rates); 0b01 is reserved.
_MPEG_VERSIONS = {0b11: (1, (44100, 48000, 32000)), 0b10: (2, (22050, 24000, 16000)), 0b00: (2, (11025, 12000, 8000))}


class _MpegFrame:
    """The fields of one MPEG audio frame header that chaining and timing need."""

    def __init__(self, header: bytes) -> None:
        """Parse four header bytes; raise ValueError if they are not a valid frame header."""
        b1, b2, b3 = header[1], header[2], header[3]
        if header[0] != 0xFF or b1 & 0xE0 != 0xE0:
            raise ValueError("no frame sync")
        version_bits, layer_bits = (b1 >> 3) & 0b11, (b1 >> 1) & 0b11
        bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0b11
        # Reserved version, layer, sample rate and emphasis; free-format (index 0) and bad (15) bitrates.
        if version_bits not in _MPEG_VERSIONS or layer_bits == 0 or rate_index == 3 or b3 & 0b11 == 0b10:
            raise ValueError("reserved field")
        if bitrate_index in (0, 15):
            raise ValueError("free or bad bitrate")
        version, rates = _MPEG_VERSIONS[version_bits]
        self.layer = 4 - layer_bits
        self.bitrate = _MPEG_BITRATES[(version, self.layer)][bitrate_index] * 1000
        self.sample_rate = rates[rate_index]
        self.mono = b3 >> 6 == 0b11
        self.mpeg1 = version_bits == 0b11
        self.stream_key = (b1 & 0xFE, rate_index)  # version, layer and rate stay fixed along a stream
        padding = (b2 >> 1) & 1
        if self.layer == 1:
            self.samples = 384
            self.length = (12 * self.bitrate // self.sample_rate + padding) * 4
        else:
            self.samples = 1152 if self.layer == 2 or self.mpeg1 else 576
            self.length = self.samples // 8 * self.bitrate // self.sample_rate + padding


def _parse_mpeg(data: bytes, pos: int) -> _MpegFrame | None:
    return _mpeg_header(data[pos : pos + 4])


@functools.lru_cache(maxsize=4096)
def _mpeg_header(header: bytes) -> _MpegFrame | None:
    """A stream repeats a handful of distinct headers, so each is parsed once."""
    try:
        return _MpegFrame(header)
    except (ValueError, IndexError):
        return None


def _chain_ends_cleanly(data: bytes, pos: int) -> bool:
    """Whether a frame chain that stopped at ``pos`` of the window stopped somewhere a real stream may.

    That is the end of the window (which may cut the next header), a tag, or zero padding.
    """
    rest = data[pos:]
    return len(rest) < LONGEST_FRAME_HEADER or rest.startswith(STREAM_TRAILERS) or not rest.strip(b"\0")


def _find_chain(data: bytes, frame_at: Callable[[bytes, int], tuple[object, int] | None]) -> int | None:
    """Offset of the first frame of a chain that fills the window, searching the first MAX_JUNK bytes.

    ``frame_at(data, pos)`` returns (stream key, frame length) for a valid frame header at ``pos``.
    The chain must hold at least MIN_FRAMES frames of one stream, each starting where the previous one
    ends, and run to the end of the window (or of the file) or to a tag, so that neither a few lucky
    sync words in random bytes nor a few frames in front of a document count as audio.
    """
    walked: set[int] = set()  # a start on an already walked chain would end where that chain ended
    start = -1
    while (start := data.find(b"\xff", start + 1, MAX_JUNK + 1)) >= 0:
        first = None if start in walked else frame_at(data, start)
        if first is None:
            continue
        key, pos, count = first[0], start, 0
        while pos + 4 <= len(data):
            frame = frame_at(data, pos)
            if frame is None or frame[0] != key:
                break
            walked.add(pos)
            count += 1
            pos += frame[1]
        if count >= MIN_FRAMES and _chain_ends_cleanly(data, pos):
            return start
    return None


def _mpeg_frame_at(data: bytes, pos: int) -> tuple[object, int] | None:
    frame = _parse_mpeg(data, pos)
    return None if frame is None else (frame.stream_key, frame.length)


def _adts_frame_at(data: bytes, pos: int) -> tuple[object, int] | None:
    header = data[pos : pos + 7]
    # Sync 0xFFF, layer 00; sampling-frequency index 13-15 is reserved; frame length covers the header.
    if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
        return None
    rate_index = (header[2] >> 2) & 0x0F
    length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
    if rate_index > 12 or length < 7:
        return None
    return (header[1], header[2] & 0xFC, header[3] & 0xC0), length


def _skip_id3(stream: BinaryIO, size: int) -> int | None:
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


def _detect_after_id3(stream: BinaryIO, size: int) -> str | None:
    """An ID3v2 tag is just metadata: what follows it must be an MPEG or ADTS frame chain (or FLAC)."""
    start = _skip_id3(stream, size)
    if start is None:
        return None
    stream.seek(start)
    window = stream.read(SNIFF_BYTES)
    if window.startswith(b"fLaC"):
        return "audio/flac" if _flac_layout(stream, size) else None
    if _find_chain(window, _mpeg_frame_at) is not None:
        return "audio/mpeg"
    if _find_chain(window, _adts_frame_at) is not None:
        return "audio/aac"
    return None


def _check_mpeg(stream: BinaryIO, size: int, head: bytes) -> str | None:
    return "audio/mpeg" if _find_chain(head, _mpeg_frame_at) is not None else None


def _check_adts(stream: BinaryIO, size: int, head: bytes) -> str | None:
    return "audio/aac" if _find_chain(head, _adts_frame_at) is not None else None


def _check_unknown(stream: BinaryIO, size: int, head: bytes) -> str | None:
    """libmagic gives up ("application/octet-stream") on some real MP3s, e.g. ones that open with junk."""
    return _check_mpeg(stream, size, head) or _check_adts(stream, size, head)


def _audio_start(stream: BinaryIO, size: int) -> tuple[int, bytes]:
    start = _skip_id3(stream, size) or 0
    stream.seek(start)
    return start, stream.read(SNIFF_BYTES)


def _trailing_tag_bytes(stream: BinaryIO, size: int) -> int:
    if size < 128:
        return 0
    stream.seek(size - 128)
    return 128 if stream.read(3) == b"TAG" else 0


def _mpeg_duration(stream: BinaryIO, size: int) -> float | None:
    start, window = _audio_start(stream, size)
    first = _find_chain(window, _mpeg_frame_at)
    if first is None:
        return None
    frame = _parse_mpeg(window, first)
    if frame is None:
        return None
    # A VBR stream announces its frame count in a Xing/Info or VBRI header inside its first frame.
    side_info = (17 if frame.mono else 32) if frame.mpeg1 else (9 if frame.mono else 17)
    xing = first + 4 + side_info
    if window[xing : xing + 4] in (b"Xing", b"Info"):
        (flags,) = struct.unpack(">I", window[xing + 4 : xing + 8])
        if flags & 1:
            frames = int.from_bytes(window[xing + 8 : xing + 12], "big")
            return frames * frame.samples / frame.sample_rate
    vbri = first + 36
    if window[vbri : vbri + 4] == b"VBRI":
        frames = int.from_bytes(window[vbri + 14 : vbri + 18], "big")
        return frames * frame.samples / frame.sample_rate
    audio_bytes = size - start - first - _trailing_tag_bytes(stream, size)
    return audio_bytes * 8 / frame.bitrate


def _adts_duration(stream: BinaryIO, size: int) -> float | None:
    start, window = _audio_start(stream, size)
    first = _find_chain(window, _adts_frame_at)
    if first is None:
        return None
    rates = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
    sample_rate = rates[(window[first + 2] >> 2) & 0x0F]
    frames, pos = 0, first
    while (frame := _adts_frame_at(window, pos)) is not None:
        frames += 1
        pos += frame[1]
    average_length = (pos - first) / frames
    return (size - start - first) / average_length * 1024 / sample_rate


# --- RIFF WAVE and AIFF --------------------------------------------------------------------------


def _walk_chunks(stream: BinaryIO, size: int, start: int, big_endian: bool) -> list[tuple[bytes, int, int]]:
    """(chunk id, data offset, data size) of the chunks from ``start``, reading only their headers."""
    chunks: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= size and len(chunks) < MAX_CHUNKS:
        stream.seek(offset)
        header = stream.read(8)
        chunk_id, chunk_size = header[:4], struct.unpack(">I" if big_endian else "<I", header[4:])[0]
        chunks.append((chunk_id, offset + 8, chunk_size))
        offset += 8 + chunk_size + (chunk_size & 1)
    return chunks


def _wav_layout(stream: BinaryIO, size: int) -> tuple[int, int] | None:
    """(byte rate, audio bytes present) of a RIFF WAVE file with a valid fmt and a non-empty data chunk."""
    stream.seek(0)
    if (riff := stream.read(12))[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        return None
    byte_rate = None
    for chunk_id, offset, chunk_size in _walk_chunks(stream, size, 12, big_endian=False):
        if chunk_id == b"fmt " and chunk_size >= 16:
            stream.seek(offset)
            _, channels, rate, byte_rate, block_align, _ = struct.unpack("<HHIIHH", stream.read(16))
            if not (channels and rate and byte_rate and block_align):
                return None
        elif chunk_id == b"data":
            # The declared size may overstate what is there (streaming writers put 0xFFFFFFFF).
            present = min(chunk_size, size - offset)
            return (byte_rate, present) if byte_rate and present > 0 else None
    return None


def _check_wav(stream: BinaryIO, size: int, head: bytes) -> str | None:
    return "audio/wav" if _wav_layout(stream, size) else None


def _wav_duration(stream: BinaryIO, size: int) -> float | None:
    layout = _wav_layout(stream, size)
    return None if layout is None else layout[1] / layout[0]


def _extended_float(raw: bytes) -> float:
    """The 80-bit IEEE 754 extended number AIFF uses for its sample rate."""
    exponent, mantissa = struct.unpack(">HQ", raw)
    if exponent & 0x7FFF == 0 or mantissa == 0:
        return 0.0
    return float(mantissa * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63))


def _aiff_layout(stream: BinaryIO, size: int) -> tuple[int, float] | None:
    """(sample frames, sample rate) of an AIFF/AIFF-C file with a sound data chunk and sample frames."""
    stream.seek(0)
    if (form := stream.read(12))[:4] != b"FORM" or form[8:12] not in (b"AIFF", b"AIFC"):
        return None
    chunks = {
        chunk_id: (offset, chunk_size)
        for chunk_id, offset, chunk_size in _walk_chunks(stream, size, 12, big_endian=True)
    }
    if b"COMM" not in chunks or b"SSND" not in chunks:
        return None
    stream.seek(chunks[b"COMM"][0])
    comm = stream.read(18)
    channels, frames, _, rate = struct.unpack(">HIH10s", comm)
    sample_rate = _extended_float(rate)
    return (frames, sample_rate) if channels and frames and sample_rate > 0 else None


def _check_aiff(stream: BinaryIO, size: int, head: bytes) -> str | None:
    return "audio/aiff" if _aiff_layout(stream, size) else None


def _aiff_duration(stream: BinaryIO, size: int) -> float | None:
    layout = _aiff_layout(stream, size)
    return None if layout is None else layout[0] / layout[1]


# --- FLAC ----------------------------------------------------------------------------------------


def _flac_streaminfo(streaminfo: bytes) -> tuple[int, int]:
    """(sample rate, total samples) from a STREAMINFO block's body."""
    (packed,) = struct.unpack(">Q", streaminfo[10:18])
    return packed >> 44, packed & 0xF_FFFF_FFFF


def _flac_layout(stream: BinaryIO, size: int) -> tuple[int, int] | None:
    """(sample rate, total samples) of a native FLAC stream whose metadata is followed by a frame.

    Some rippers put an ID3v2 tag in front of the stream; it is skipped as for MP3.
    """
    start = _skip_id3(stream, size) or 0
    stream.seek(start)
    if stream.read(4) != b"fLaC":
        return None
    header = stream.read(4)
    if len(header) < 4 or header[0] & 0x7F != 0 or int.from_bytes(header[1:], "big") != 34:
        return None  # STREAMINFO must come first
    sample_rate, total = _flac_streaminfo(stream.read(34))
    offset, last = start + 42, bool(header[0] & 0x80)
    for _ in range(MAX_CHUNKS):
        if last:
            break
        stream.seek(offset)
        header = stream.read(4)
        if len(header) < 4:
            return None
        last, offset = bool(header[0] & 0x80), offset + 4 + int.from_bytes(header[1:], "big")
    stream.seek(offset)
    sync = stream.read(2)
    if sample_rate == 0 or len(sync) < 2 or sync[0] != 0xFF or sync[1] & 0xFE != 0xF8:
        return None  # metadata only, no audio frame
    return sample_rate, total


def _check_flac(stream: BinaryIO, size: int, head: bytes) -> str | None:
    return "audio/flac" if _flac_layout(stream, size) else None


def _flac_duration(stream: BinaryIO, size: int) -> float | None:
    layout = _flac_layout(stream, size)
    return layout[1] / layout[0] if layout and layout[1] else None


# --- Ogg -----------------------------------------------------------------------------------------

_OGG_AUDIO = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ")
_OGG_METADATA = (b"fishead\0", b"fisbone\0")  # Ogg Skeleton describes the other streams


def _ogg_pages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(header type, granule position, serial, first bytes of body) of the whole pages in ``data``."""
    pages: list[tuple[int, int, int, bytes]] = []
    pos = 0
    while data.startswith(b"OggS", pos) and pos + 27 <= len(data) and len(pages) < MAX_CHUNKS:
        header_type, granule, serial = struct.unpack_from("<BqI", data, pos + 5)
        segments = data[pos + 26]
        body = pos + 27 + segments
        body_size = sum(data[pos + 27 : body])
        pages.append((header_type, granule, serial, data[body : body + 64]))
        pos = body + body_size
    return pages


def _ogg_streams(head: bytes) -> dict[int, bytes]:
    """Serial -> identification packet of every stream that begins in ``head``."""
    return {serial: body for header_type, _, serial, body in _ogg_pages(head) if header_type & 0x02}


def _check_ogg(stream: BinaryIO, size: int, head: bytes) -> str | None:
    """Ogg is audio when every stream is an audio codec (Skeleton allowed), so Theora video is refused."""
    streams = [body for body in _ogg_streams(head).values() if not body.startswith(_OGG_METADATA)]
    if streams and all(body.startswith(_OGG_AUDIO) for body in streams):
        return "audio/ogg"
    return None


def _ogg_duration(stream: BinaryIO, size: int) -> float | None:
    stream.seek(0)
    streams = _ogg_streams(stream.read(SNIFF_BYTES))
    audio = [(serial, body) for serial, body in streams.items() if body.startswith(_OGG_AUDIO)]
    if not audio:
        return None
    serial, ident = audio[0]
    rate: int
    pre_skip = 0
    if ident.startswith(b"\x01vorbis"):
        (rate,) = struct.unpack_from("<I", ident, 12)
    elif ident.startswith(b"OpusHead"):
        (pre_skip,) = struct.unpack_from("<H", ident, 10)
        rate = 48000  # Opus granules always count 48 kHz samples
    elif ident.startswith(b"\x7fFLAC"):
        rate, _ = _flac_streaminfo(ident[17:51])
    else:
        (rate,) = struct.unpack_from("<I", ident, 36)
    for tail_size in (SNIFF_BYTES, 4 * SNIFF_BYTES + 27):
        start = max(0, size - tail_size)
        stream.seek(start)
        tail = stream.read(tail_size)
        pos = tail.rfind(b"OggS")
        while pos >= 0:
            pages = _ogg_pages(tail[pos:])
            if pages and pages[0][2] == serial and pages[0][1] >= 0:
                return (pages[0][1] - pre_skip) / rate
            pos = tail.rfind(b"OggS", 0, pos)
        if start == 0:
            break
    return None


# --- ISO base media (MP4, M4A, MOV) --------------------------------------------------------------


def _bmff_boxes(stream: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, body offset, body end) of the boxes between ``start`` and ``end``, reading only headers."""
    boxes: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end and len(boxes) < MAX_CHUNKS:
        stream.seek(offset)
        header = stream.read(16)
        box_size, box_type = struct.unpack(">I4s", header[:8])
        body = offset + 8
        if box_size == 1 and len(header) == 16:
            (box_size,) = struct.unpack(">Q", header[8:])
            body += 8
        elif box_size == 0:
            box_size = end - offset
        if box_size < body - offset:
            break
        boxes.append((box_type, body, min(offset + box_size, end)))
        offset += box_size
    return boxes


def _bmff_tracks(stream: BinaryIO, size: int) -> list[tuple[bytes, bytes]]:
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


def _check_bmff(stream: BinaryIO, size: int, head: bytes) -> str | None:
    """The brand (M4A, isom, qt) says nothing reliable: the track handlers decide ("vide" means video)."""
    handlers = [handler for handler, _ in _bmff_tracks(stream, size)]
    if b"soun" in handlers and b"vide" not in handlers:
        return "audio/mp4"
    return None


def _bmff_duration(stream: BinaryIO, size: int) -> float | None:
    for handler, mdhd in _bmff_tracks(stream, size):
        if handler == b"soun" and mdhd:
            if mdhd[0] == 1:
                timescale, duration = struct.unpack_from(">IQ", mdhd, 20)
            else:
                timescale, duration = struct.unpack_from(">II", mdhd, 12)
            return duration / timescale if duration and timescale else None
    return None


# --- Matroska and WebM ---------------------------------------------------------------------------

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


def _ebml_children(data: bytes) -> list[tuple[int, bytes]]:
    """(id, body) of the elements in ``data``, which is a whole element body."""
    children: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data) and len(children) < MAX_CHUNKS:
        element_id, pos = _ebml_vint(data, pos, keep_marker=True)
        element_size, pos = _ebml_vint(data, pos, keep_marker=False)
        if element_size == _UNKNOWN_SIZE:
            break
        children.append((element_id, data[pos : pos + element_size]))
        pos += element_size
    return children


def _ebml_layout(stream: BinaryIO, size: int) -> tuple[bytes, list[int], bytes] | None:
    """(doc type, track types, Info body) of a Matroska/WebM file whose Tracks come before its clusters."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    element_id, pos = _ebml_vint(head, 0, keep_marker=True)
    header_size, pos = _ebml_vint(head, pos, keep_marker=False)
    if element_id != _EBML_HEADER or header_size == _UNKNOWN_SIZE:
        return None
    doc_type = dict(_ebml_children(head[pos : pos + header_size])).get(_EBML_DOCTYPE, b"")
    segment_id, pos = _ebml_vint(head, pos + header_size, keep_marker=True)
    _, offset = _ebml_vint(head, pos, keep_marker=False)
    if segment_id != _SEGMENT:
        return None
    info, tracks = b"", None
    for _ in range(MAX_CHUNKS):
        if offset >= size:  # also keeps a lying element size from seeking past what the OS allows
            break
        stream.seek(offset)
        header = stream.read(12)
        if len(header) < 2:
            break
        element_id, pos = _ebml_vint(header, 0, keep_marker=True)
        element_size, pos = _ebml_vint(header, pos, keep_marker=False)
        if element_id == _CLUSTER or element_size == _UNKNOWN_SIZE:
            break
        if element_id in (_INFO, _TRACKS):
            if element_size > EBML_READ_LIMIT:
                return None
            stream.seek(offset + pos)
            body = stream.read(element_size)
            if element_id == _INFO:
                info = body
            else:
                tracks = [
                    int.from_bytes(dict(_ebml_children(entry)).get(_TRACK_TYPE, b"\0"), "big")
                    for entry_id, entry in _ebml_children(body)
                    if entry_id == _TRACK_ENTRY
                ]
        offset += pos + element_size
    return None if tracks is None else (doc_type.rstrip(b"\0"), tracks, info)


def _check_ebml(stream: BinaryIO, size: int, head: bytes) -> str | None:
    """Matroska/WebM is audio when its Tracks (read before any cluster) are all audio tracks."""
    layout = _ebml_layout(stream, size)
    if layout is None or not layout[1] or any(track != _AUDIO_TRACK for track in layout[1]):
        return None
    return {b"webm": "audio/webm", b"matroska": "audio/x-matroska"}.get(layout[0])


def _ebml_duration(stream: BinaryIO, size: int) -> float | None:
    layout = _ebml_layout(stream, size)
    if layout is None:
        return None
    info = dict(_ebml_children(layout[2]))
    if _DURATION not in info:
        return None  # live recordings (MediaRecorder) carry no duration
    raw = info[_DURATION]
    duration = struct.unpack(">f" if len(raw) == 4 else ">d", raw)[0]
    scale = int.from_bytes(info.get(_TIMESTAMP_SCALE, (1_000_000).to_bytes(4, "big")), "big")
    return float(duration) * scale / 1e9


# --- dispatch ------------------------------------------------------------------------------------

_Check = Callable[[BinaryIO, int, bytes], str | None]
_Probe = Callable[[BinaryIO, int], float | None]

# libmagic's answer -> the parser that confirms it. Anything libmagic names otherwise is not audio.
_CHECKS: dict[str, _Check] = {
    "audio/mpeg": _check_mpeg,
    "application/octet-stream": _check_unknown,
    "audio/x-hx-aac-adts": _check_adts,
    "audio/aac": _check_adts,
    "audio/x-wav": _check_wav,
    "audio/wav": _check_wav,
    "audio/x-aiff": _check_aiff,
    "audio/aiff": _check_aiff,
    "audio/flac": _check_flac,
    "audio/x-flac": _check_flac,
    "audio/ogg": _check_ogg,
    "application/ogg": _check_ogg,
    "video/ogg": _check_ogg,
    "audio/mp4": _check_bmff,
    "audio/x-m4a": _check_bmff,
    "video/mp4": _check_bmff,
    "video/quicktime": _check_bmff,
    "video/x-m4v": _check_bmff,
    "video/3gpp": _check_bmff,
    "video/3gpp2": _check_bmff,
    "video/webm": _check_ebml,
    "audio/webm": _check_ebml,
    "video/x-matroska": _check_ebml,
    "audio/x-matroska": _check_ebml,
}

_PROBES: dict[str, _Probe] = {
    "audio/mpeg": _mpeg_duration,
    "audio/aac": _adts_duration,
    "audio/wav": _wav_duration,
    "audio/aiff": _aiff_duration,
    "audio/flac": _flac_duration,
    "audio/ogg": _ogg_duration,
    "audio/mp4": _bmff_duration,
    "audio/webm": _ebml_duration,
    "audio/x-matroska": _ebml_duration,
}
