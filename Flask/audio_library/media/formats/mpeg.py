"""MPEG audio (MP3, MP2) and raw AAC in ADTS frames: no container, only frames, so the frames must chain."""

import functools
import struct
from collections.abc import Callable

from audio_library.media.formats.id3 import audio_start
from audio_library.media.formats.limits import SNIFF_BYTES, BoundedFile
from audio_library.media.formats.trailers import audio_end


MAX_JUNK = 4 * 1024  # padding or junk tolerated before the first frame of an MPEG or ADTS stream
MIN_FRAMES = 4  # consecutive frames that make an MPEG or ADTS stream
MIN_FRAMES_BEFORE_JUNK = 8  # consecutive frames that make a stream even when junk follows them
LONGEST_FRAME_HEADER = 7  # ADTS; MPEG audio headers are 4 bytes

# Trailers that may legitimately end an MPEG or ADTS frame chain.
STREAM_TRAILERS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3", b"3DI")

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


def _find_chain(
    data: bytes, frame_at: Callable[[bytes, int], tuple[object, int] | None], whole: bool = False
) -> int | None:
    """Offset of the first frame of a chain that fills the window, searching the first MAX_JUNK bytes.

    ``frame_at(data, pos)`` returns (stream key, frame length) for a valid frame header at ``pos``.
    The chain must hold at least MIN_FRAMES frames of one stream, each starting where the previous one
    ends, and run to the end of the window (or of the audio, which ends where the trailing tags start) or
    to a tag, so that neither a few lucky sync words in random bytes nor a few frames in front of a document
    count as audio. When ``data`` runs to the end of the audio (``whole``), a chain of MIN_FRAMES_BEFORE_JUNK
    frames or more may end in trailing junk no longer than itself (nor MAX_JUNK), which is not a document:
    players play the frames and skip it.

    A chain that joins one already walked takes over its count and end instead of walking it again, so each
    offset of the window is parsed at most twice (as a start, and inside a chain), however the chains
    overlap: crafted ones cost no more than the window's length.
    """
    walked: dict[int, tuple[object, int, int]] = {}  # frame offset -> (stream key, frames from it, chain end)
    start = -1
    while (start := data.find(b"\xff", start + 1, MAX_JUNK + 1)) >= 0:
        if start in walked:
            continue  # a start on an already walked chain would end where that chain ended
        first = frame_at(data, start)
        if first is None:
            continue
        key, pos, path = first[0], start, []
        count, end = 0, 0
        while pos + 4 <= len(data):
            if pos in walked:
                known_key, known_count, known_end = walked[pos]
                if known_key == key:
                    count, end = known_count, known_end
                break
            frame = frame_at(data, pos) if pos != start else first
            if frame is None or frame[0] != key:
                break
            path.append(pos)
            pos += frame[1]
        if count == 0:
            end = pos
        for steps_left, offset in enumerate(reversed(path), start=1):
            walked[offset] = (key, count + steps_left, end)
        frames = count + len(path)
        if frames >= MIN_FRAMES and _chain_ends_cleanly(data, end):
            return start
        if whole and frames >= MIN_FRAMES_BEFORE_JUNK and _is_trailing_junk(data[end:], end - start):
            return start
    return None


def _is_trailing_junk(tail: bytes, chain_length: int) -> bool:
    """Whether what follows a chain of frames is junk players skip: short, and no document (a polyglot's
    HTML, SVG or script after a few frames is not junk, whatever its length)."""
    if len(tail) > min(chain_length, MAX_JUNK):
        return False
    text = tail.strip(b" \t\r\n\0")
    printable = sum(32 <= byte < 127 or byte in b"\t\r\n" for byte in text)
    return not (b"<" in text and printable * 10 >= len(text) * 9)


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


def _audio_window(stream: BoundedFile, size: int) -> tuple[int, int, bytes]:
    """(start, end, first bytes) of the audio: after the ID3v2 tags and zero padding at the start, before the
    tags at the end; the first bytes are at most SNIFF_BYTES, and none past the end."""
    start = audio_start(stream, size)
    if start is None:
        return 0, 0, b""
    end = audio_end(stream, start, size)
    stream.seek(start)
    return start, end, stream.read(min(SNIFF_BYTES, end - start))


def _first_frame(
    stream: BoundedFile, size: int, frame_at: Callable[[bytes, int], tuple[object, int] | None]
) -> tuple[int, int, bytes, int | None]:
    """(start, end, first bytes) of the audio as _audio_window gives them, and where its first frame is in
    those bytes (None: no chain of frames)."""
    start, end, window = _audio_window(stream, size)
    return start, end, window, _find_chain(window, frame_at, whole=start + len(window) == end)


def check_mpeg(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the audio (after any tags and padding) starts with a chain of MPEG audio frames."""
    return "audio/mpeg" if _first_frame(stream, size, _mpeg_frame_at)[3] is not None else None


def check_adts(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the audio (after any tags and padding) starts with a chain of ADTS frames."""
    return "audio/aac" if _first_frame(stream, size, _adts_frame_at)[3] is not None else None


def check_unknown(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """libmagic gives up ("application/octet-stream") on some real MP3s, e.g. ones that open with junk."""
    return check_mpeg(stream, size, head) or check_adts(stream, size, head)


def mpeg_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the Xing/Info or VBRI frame count of a VBR stream, else from the bitrate."""
    start, end, window, first = _first_frame(stream, size, _mpeg_frame_at)
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
    return (end - start - first) * 8 / frame.bitrate


def adts_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds estimated from the average length of the frames in the first window."""
    start, end, window, first = _first_frame(stream, size, _adts_frame_at)
    if first is None:
        return None
    rates = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)
    sample_rate = rates[(window[first + 2] >> 2) & 0x0F]
    frames, pos = 0, first
    while (frame := _adts_frame_at(window, pos)) is not None:
        frames += 1
        pos += frame[1]
    average_length = (pos - first) / frames
    return (end - start - first) / average_length * 1024 / sample_rate
