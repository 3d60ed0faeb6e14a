"""The second judge: FFmpeg decides about a file the built-in parsers did not accept, from a bounded child.

The child (`child.py` run by `sandbox.py`) opens the file with PyAV, lists its streams and decodes up to
DECODE_SECONDS of its first audio stream, counting every packet good or bad; this module decides from those
counts, in the server, with these rules:

- the container must be one FFmpeg names in CONTAINER_TYPES or RAW_STREAM_TYPES (an image, a text FFmpeg
  reads as ANSI art or anything else it happens to open is not audio);
- any video stream other than a picture (an attached cover, or a still-image codec with at most one frame
  per second of audio, as chapter art) makes it "a video, not audio" in a media container;
- some audio must decode: at least MIN_GOOD_SHARE of the audio bytes read decode without error, and more than
  nothing comes out. In a container, packets that fail after the last good one at the end of the file are a
  download cut short, which players play up to the cut: they do not count. A container whose audio does not
  decode is "audio, but damaged beyond playing"; one without audio packets at all (a header, nothing after
  it) is not audio;
- raw elementary streams (MP3, ADTS, AC-3, E-AC-3, DTS) carry no signature but their sync words, which noise
  holds too: besides the share, at least MIN_RAW_FRAMES frames must decode, and a failure is "not audio".

Types: one canonical MIME type per format (see CONTAINER_TYPES), duration from the container's header
(else what was decoded, when the file ended within DECODE_SECONDS), tags from FFmpeg's reading of them.
"""

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import magic

from audio_library.media.covers import MAX_COVER_BYTES, Cover, image_type_of
from audio_library.media.formats.limits import SNIFF_BYTES
from audio_library.media.safe_open import open_regular
from audio_library.media.sandbox import Limits, Outcome, Sandbox
from audio_library.media.tags import NO_TAGS, Tags, tags_from_fields


JUDGE_CHILDREN = 2  # children judging at once, per library: the machine's cores, not its request threads
JUDGE_WAIT_S = 30.0  # how long an upload waits for a free child before it is answered 503
JUDGE_LIMITS = Limits(
    cpu_seconds=5, memory_bytes=512 * 1024**2, file_bytes=0, wall_seconds=15.0, output_bytes=64 * 1024
)
COVER_LIMITS = Limits(
    cpu_seconds=5, memory_bytes=512 * 1024**2, file_bytes=0, wall_seconds=15.0, output_bytes=MAX_COVER_BYTES
)
DECODE_SECONDS = 3.0
MIN_GOOD_SHARE = 0.9
MIN_RAW_FRAMES = 4
# What libmagic calls these is never media FFmpeg would take for audio (it reads images as pictures and text as
# ANSI art): refused without a child, which saves one per photo or note uploaded or copied into the library.
NEVER_MEDIA = ("image/", "text/")

# A raw stream (MP3, ADTS, AC-3, DTS) holding one of these near its start or end is a polyglot, not audio.
DOCUMENT_SCAN_BYTES = 64 * 1024
DOCUMENT_MARKERS = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<iframe", b"<object")

# Why a file was refused; each has its message (refusal_reason).
NOT_AUDIO = "not-audio"
DAMAGED = "damaged"
VIDEO = "video"
TOO_COSTLY = "too-costly"
NON_AUDIO_MESSAGE = "Non-audio file detected"  # the product's own words for a file that is not audio
_REFUSALS = {
    NOT_AUDIO: NON_AUDIO_MESSAGE,
    DAMAGED: "Audio, but damaged beyond playing",
    VIDEO: "A video, not audio",
    TOO_COSTLY: "Not checked: it took more than the checker's CPU, memory or time limit",
}

# FFmpeg's name for a container -> the type its audio is stored as (refined by the head: RF64, WebM, Opus).
CONTAINER_TYPES = {
    "wav": "audio/wav",
    "w64": "audio/x-w64",
    "caf": "audio/x-caf",
    "au": "audio/basic",
    "wv": "audio/x-wavpack",
    "tta": "audio/x-tta",
    "asf": "audio/x-ms-wma",
    "voc": "audio/x-voc",
    "mpegts": "audio/mp2t",
    "mmf": "audio/x-smaf",
    "aiff": "audio/aiff",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "matroska,webm": "audio/x-matroska",
    "ape": "audio/x-ape",
    "amr": "audio/amr",
    "mpc": "audio/x-musepack",
    "mpc8": "audio/x-musepack",
    "dsf": "audio/x-dsf",
}
RAW_STREAM_TYPES = {
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "ac3": "audio/ac3",
    "eac3": "audio/eac3",
    "dts": "audio/vnd.dts",
}
# Containers in which a moving picture makes the file a video (elsewhere, pictures are images, not audio).
VIDEO_CONTAINERS = frozenset({"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "ogg", "asf", "mpegts", "avi", "flv"})
STILL_CODECS = frozenset({"mjpeg", "png", "bmp", "gif", "tiff", "webp", "jpeg2000", "jpegls", "qoi"})
# Every type this judge gives that the built-in parsers never do: their covers are read by FFmpeg too.
FFMPEG_TYPES = frozenset({*CONTAINER_TYPES.values(), *RAW_STREAM_TYPES.values(), "audio/x-rf64"}) - {
    "audio/mpeg",
    "audio/aac",
    "audio/wav",
    "audio/aiff",
    "audio/flac",
    "audio/ogg",
    "audio/mp4",
    "audio/x-matroska",
}

logger = logging.getLogger(__name__)
_mime_magic = magic.Magic(mime=True)


@dataclass(frozen=True)
class Verdict:
    """The second judge's answer: the audio type (None: refused, for `refused`), duration and tags."""

    type: str | None
    duration: float | None = None
    tags: Tags = NO_TAGS
    refused: str = NOT_AUDIO


def refusal_reason(reason: str) -> str:
    """What a person is told of a file refused for `reason` (one of NOT_AUDIO, DAMAGED, VIDEO, TOO_COSTLY)."""
    return _REFUSALS.get(reason, _REFUSALS[NOT_AUDIO])


class SecondJudge:
    """FFmpeg's opinion of files, each asked in a bounded child, at most JUDGE_CHILDREN at a time."""

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox or Sandbox(JUDGE_CHILDREN, JUDGE_WAIT_S)

    def judge(self, path: Path) -> Verdict:
        """Whether the file at `path` is audio to FFmpeg; BlockingIOError when no child is free in time."""
        with open_regular(path, buffered=False) as raw:
            head = raw.read(SNIFF_BYTES)  # RF64 or RIFF, WebM or Matroska, and what libmagic says
            if not head or _mime_magic.from_buffer(head).startswith(NEVER_MEDIA):
                return Verdict(None)
            arguments = (str(raw.fileno()), str(DECODE_SECONDS))
            outcome = self.sandbox.run("measure", arguments, JUDGE_LIMITS, (raw.fileno(),))
            try:
                verdict = decide(outcome, head)
            except (ValueError, KeyError, TypeError) as error:  # what a child that went wrong may print
                logger.warning("the media child's answer is malformed: %r", error)
                return Verdict(None)
            if verdict.type in RAW_STREAM_TYPES.values() and _holds_a_document(raw, head):
                return Verdict(None)  # a polyglot: FFmpeg resyncs past the document and plays the frames
            return verdict

    def cover(self, raw: BinaryIO, mime: str) -> Cover | None:
        """The attached picture of a file of one of FFMPEG_TYPES (opened unbuffered), or None."""
        if mime.partition(";")[0] not in FFMPEG_TYPES:
            return None
        arguments = (str(raw.fileno()), str(MAX_COVER_BYTES))
        outcome = self.sandbox.run("cover", arguments, COVER_LIMITS, (raw.fileno(),))
        image_type = image_type_of(outcome.output) if outcome.succeeded else None
        return None if image_type is None else Cover(image_type, outcome.output)


def _holds_a_document(raw: BinaryIO, head: bytes) -> bool:
    """Whether a raw stream's first or last DOCUMENT_SCAN_BYTES hold markup (HTML, SVG, XML, script): frames
    are compressed bytes, and no real stream carries a document beside them."""
    size = os.fstat(raw.fileno()).st_size
    raw.seek(max(len(head), size - DOCUMENT_SCAN_BYTES))
    scanned = (head + raw.read(DOCUMENT_SCAN_BYTES)).lower()
    return any(marker in scanned for marker in DOCUMENT_MARKERS)


def decide(outcome: Outcome, head: bytes) -> Verdict:
    """The verdict on one file from how its measuring child ended and the file's first bytes."""
    if outcome.over_limits:
        return Verdict(None, refused=TOO_COSTLY)
    if not outcome.succeeded:
        logger.warning("the media child failed with status %d", outcome.status)
        return Verdict(None)
    measured: dict[str, Any] = json.loads(outcome.output)
    return decide_measured(measured, head) if measured.get("opened") else Verdict(None)


def decide_measured(measured: dict[str, Any], head: bytes) -> Verdict:
    """The verdict on a file FFmpeg opened, from what the child measured and the file's first bytes."""
    container = str(measured["format"])
    streams: list[dict[str, Any]] = measured["streams"]
    seconds = float(measured["seconds"])
    audio = [stream for stream in streams if stream["type"] == "audio"]
    if any(_is_moving(stream, seconds) for stream in streams if stream["type"] == "video"):
        return Verdict(None, refused=VIDEO if container in VIDEO_CONTAINERS else NOT_AUDIO)
    mime = _type_of(container, head, audio)
    if mime is None or not audio or measured["good_packets"] + measured["bad_packets"] == 0:
        return Verdict(None)
    raw = container in RAW_STREAM_TYPES
    bad = measured["bad_bytes"]
    if measured["eof"] and not raw:  # a container cut short (a partial download) plays up to the cut
        bad -= measured["tail_bad_bytes"]
    decodes = seconds > 0 and measured["good_bytes"] >= MIN_GOOD_SHARE * (measured["good_bytes"] + bad)
    if not decodes or (raw and measured["good_packets"] < MIN_RAW_FRAMES):
        return Verdict(None, refused=NOT_AUDIO if raw else DAMAGED)
    return Verdict(mime, _duration(measured), _tags(measured))


def _is_moving(stream: dict[str, Any], audio_seconds: float) -> bool:
    """A video stream that is not a picture: not an attached cover, nor stills at most one a second."""
    if stream["picture"]:
        return False
    if stream["codec"] not in STILL_CODECS:
        return True
    return bool(max(stream["frames"], stream["packets"]) > max(1.0, audio_seconds))


def _type_of(container: str, head: bytes, audio: list[dict[str, Any]]) -> str | None:
    mime = CONTAINER_TYPES.get(container) or RAW_STREAM_TYPES.get(container)
    if mime == "audio/wav" and head[:4] in (b"RF64", b"BW64"):
        return "audio/x-rf64"
    if mime == "audio/x-matroska" and b"webm" in head[:64]:  # the EBML header's DocType
        return "audio/webm"
    if mime == "audio/ogg" and audio and all(stream["codec"] == "opus" for stream in audio):
        return "audio/ogg;codecs=opus"
    return mime


def _duration(measured: dict[str, Any]) -> float | None:
    duration = measured["duration"]
    if measured["eof"] and (duration is None or duration > measured["seconds"]):
        # The whole file was decoded: it plays no longer than that, whatever the container estimated (a raw
        # stream's length is guessed from its size and first bitrate, padding and junk included).
        duration = measured["seconds"]
    if duration is None or not math.isfinite(duration) or duration < 0:
        return None
    return float(duration)


def _tags(measured: dict[str, Any]) -> Tags:
    cover = measured["cover"]
    has_cover = (
        cover is not None
        and cover["size"] <= MAX_COVER_BYTES
        and image_type_of(bytes.fromhex(cover["head"])) is not None
    )
    fields = {str(key): str(value) for key, value in measured["tags"].items()}
    return tags_from_fields(fields, has_cover)
