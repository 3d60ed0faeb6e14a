"""Decide from a file's bytes whether it is audio, and how long it plays.

libmagic (python-magic) names the container; a small parser for that container then confirms there
really is audio in it, because libmagic alone is fooled both ways: it calls a random binary that happens
to start with an MPEG sync word "audio/mpeg", calls an MP4 with a video track "audio/x-m4a" when the
brand says so, and sees only "application/octet-stream" in an MP3 that opens with a big ID3 tag.
Every check reads a bounded amount of the file (a few tens of KB), never the whole of it. The parsers,
one module per container family, are in :mod:`audio_library.media.formats`.

The MIME types returned (one canonical name per format):

    audio/mpeg        MP3 and MP2 (MPEG-1/2/2.5 layer I-III), with or without ID3v1/ID3v2 tags
    audio/wav         RIFF WAVE with a non-empty data chunk
    audio/aiff        AIFF and AIFF-C with sample frames
    audio/flac        native FLAC, also behind an ID3v2 tag
    audio/ogg         Ogg with only audio streams: Vorbis, FLAC or Speex (mixed with Opus too)
    audio/ogg;codecs=opus  Ogg with only Opus streams (RFC 7845), served as such: it is still audio/ogg
    audio/mp4         ISO-BMFF (M4A, MP4, MOV) with a sound track and no video track
    audio/aac         raw AAC in ADTS frames
    audio/webm        WebM whose tracks are all audio
    audio/x-matroska  Matroska whose tracks are all audio
"""

import math
import struct
from collections.abc import Callable
from pathlib import Path

import magic

from audio_library.media.formats.bmff import bmff_duration, check_bmff
from audio_library.media.formats.flac import check_flac, flac_duration
from audio_library.media.formats.id3 import skip_id3
from audio_library.media.formats.limits import (
    DETECT_READ_BYTES,
    DETECT_STRUCTURES,
    SNIFF_BYTES,
    BoundedFile,
    BudgetExceededError,
)
from audio_library.media.formats.matroska import check_matroska, matroska_duration
from audio_library.media.formats.mpeg import adts_duration, check_adts, check_mpeg, check_unknown, mpeg_duration
from audio_library.media.formats.ogg import check_ogg, ogg_duration
from audio_library.media.formats.riff import aiff_duration, check_aiff, check_wav, wav_duration
from audio_library.media.safe_open import open_regular


# What parsing a lying header can raise; such a file is simply not (measurable) audio.
_MALFORMED = (struct.error, ValueError, IndexError, OverflowError, ZeroDivisionError)
BEYOND_LIMITS = (
    f"Could not tell whether it is audio within the limits ({DETECT_STRUCTURES:,} chunks, boxes, blocks or pages; "
    f"{DETECT_READ_BYTES // 1024} KiB read)"
)


class UndecidableError(Exception):
    """A file whose structure is bigger than detection may walk: it may be audio, but that cannot be told."""


_mime_magic = magic.Magic(mime=True)


def detect_audio_type(path: Path) -> str | None:
    """Return the audio MIME type of the file at ``path`` decided by its bytes, or None if it is not audio.

    The file name and extension are never consulted. The result is one of the types listed in this
    module's docstring. A file that needs more than the detection budget to decide raises UndecidableError:
    it is refused, but not called "not audio".
    """
    with open_regular(path, buffered=False) as raw:
        stream = BoundedFile(raw, DETECT_READ_BYTES, DETECT_STRUCTURES)
        size = stream.size
        if size == 0:
            return None
        try:
            head = stream.read(SNIFF_BYTES)
            if head.startswith(b"ID3"):
                return _detect_after_id3(stream, size)
            check = _CHECKS.get(_mime_magic.from_buffer(head))
            return None if check is None else check(stream, size, head)
        except BudgetExceededError as error:
            raise UndecidableError(BEYOND_LIMITS) from error
        except _MALFORMED:
            return None  # a container header that lies about its own structure


def probe_duration(path: Path, mime: str) -> float | None:
    """Return how many seconds the audio file at ``path`` plays, or None when that cannot be told cheaply.

    ``mime`` is what :func:`detect_audio_type` returned for the file. Durations come from headers
    (WAV/AIFF/FLAC sizes, MP4 and Matroska durations, Ogg granule positions, MP3 Xing/VBRI frame counts),
    or are estimated from the bitrate for constant-bitrate MP3 and ADTS streams.
    """
    probe = _PROBES.get(mime.partition(";")[0])
    if probe is None:
        return None
    with open_regular(path, buffered=False) as raw:
        stream = BoundedFile(raw, DETECT_READ_BYTES, DETECT_STRUCTURES)
        try:
            duration = probe(stream, stream.size)
        except _MALFORMED:
            return None
    if duration is None or not math.isfinite(duration) or duration < 0:
        return None
    return duration


def _detect_after_id3(stream: BoundedFile, size: int) -> str | None:
    """An ID3v2 tag is just metadata: what follows it must be FLAC or Ogg (some rippers and taggers put one
    in front of those), or, after any zero padding, an MPEG or ADTS frame chain."""
    start = skip_id3(stream, size)
    if start is None:
        return None
    stream.seek(start)
    window = stream.read(SNIFF_BYTES)
    if window.startswith(b"fLaC"):
        return check_flac(stream, size, window)
    if window.startswith(b"OggS"):
        return check_ogg(stream, size, window)
    return check_mpeg(stream, size, window) or check_adts(stream, size, window)


# A check is given the open file, its size and its first SNIFF_BYTES; a probe the file and its size. Either
# may raise what _MALFORMED lists when a header lies.
_Check = Callable[[BoundedFile, int, bytes], str | None]
_Probe = Callable[[BoundedFile, int], float | None]

# libmagic's answer -> the parser that confirms it. Anything libmagic names otherwise is not audio.
_CHECKS: dict[str, _Check] = {
    "audio/mpeg": check_mpeg,
    "application/octet-stream": check_unknown,
    "audio/x-hx-aac-adts": check_adts,
    "audio/aac": check_adts,
    "audio/x-wav": check_wav,
    "audio/wav": check_wav,
    "audio/x-aiff": check_aiff,
    "audio/aiff": check_aiff,
    "audio/flac": check_flac,
    "audio/x-flac": check_flac,
    "audio/ogg": check_ogg,
    "application/ogg": check_ogg,
    "video/ogg": check_ogg,
    "audio/mp4": check_bmff,
    "audio/x-m4a": check_bmff,
    "video/mp4": check_bmff,
    "video/quicktime": check_bmff,
    "video/x-m4v": check_bmff,
    "video/3gpp": check_bmff,
    "video/3gpp2": check_bmff,
    "video/webm": check_matroska,
    "audio/webm": check_matroska,
    "video/x-matroska": check_matroska,
    "audio/x-matroska": check_matroska,
}

_PROBES: dict[str, _Probe] = {
    "audio/mpeg": mpeg_duration,
    "audio/aac": adts_duration,
    "audio/wav": wav_duration,
    "audio/aiff": aiff_duration,
    "audio/flac": flac_duration,
    "audio/ogg": ogg_duration,
    "audio/mp4": bmff_duration,
    "audio/webm": matroska_duration,
    "audio/x-matroska": matroska_duration,
}
