"""How the page writes a size, a duration and a format: its template filters, and the 413 message's size.

`static/library.js` writes them the same way for the rows it adds.
"""

import math
from collections.abc import Mapping


# What the page calls each detected type; anything else is named after its subtype ("audio/x-foo" → "FOO").
FORMAT_NAMES: Mapping[str, str] = {
    "audio/mpeg": "MP3",
    "audio/wav": "WAV",
    "audio/x-wav": "WAV",
    "audio/wave": "WAV",
    "audio/vnd.wave": "WAV",
    "audio/ogg": "Ogg",
    "audio/opus": "Opus",
    "audio/ogg; codecs=opus": "Opus",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
    "audio/mp4": "M4A",
    "audio/x-m4a": "M4A",
    "audio/aac": "AAC",
    "audio/aiff": "AIFF",
    "audio/x-aiff": "AIFF",
    "audio/webm": "WebM",
    "audio/x-matroska": "MKA",
    # Stored since FFmpeg judges what the parsers do not claim; played from a playable copy where not native.
    "audio/x-rf64": "RF64",
    "audio/x-w64": "Wave64",
    "audio/x-caf": "CAF",
    "audio/basic": "AU",
    "audio/x-wavpack": "WavPack",
    "audio/x-tta": "TTA",
    "audio/x-ms-wma": "WMA",
    "audio/x-voc": "VOC",
    "audio/mp2t": "MPEG-TS",
    "audio/x-smaf": "SMAF",
    "audio/ac3": "AC-3",
    "audio/eac3": "E-AC-3",
    "audio/vnd.dts": "DTS",
    "audio/x-ape": "APE",
    "audio/amr": "AMR",
    "audio/x-musepack": "Musepack",
    "audio/x-dsf": "DSF",
}


def human_size(size: int) -> str:
    """1073741824 → "1 GiB", 1536 → "1.5 KiB"."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_name(mime_type: str) -> str:
    """A short human name for a detected MIME type: "audio/mpeg" → "MP3"."""
    bare, _, codecs = mime_type.lower().partition(";")
    bare = bare.strip()
    for known in (f"{bare}; {codecs.strip()}", bare):
        if known in FORMAT_NAMES:
            return FORMAT_NAMES[known]
    subtype = bare.partition("/")[2].removeprefix("x-")
    return subtype.upper() or "—"


def format_duration(seconds: float | None) -> str:
    """Seconds as "m:ss" or "h:mm:ss"; an unknown duration as a dash."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"
