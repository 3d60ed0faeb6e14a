"""Playable copies of stored files, for browsers that cannot decode their format: made by FFmpeg in a child,
kept in a hidden cache folder inside the library.

A copy is Opus in WebM ("webm", for Chromium and Firefox) or MP3 ("mp3", for Safari). It is made once per
version of a file (name, size, mtime), by `child.py`'s transcode task within TRANSCODE_LIMITS, at most
`slots` at a time (more are refused at once: TranscodersBusyError), written to a temporary file in the library
and renamed into the cache when complete, so a half-made copy is never served. The cache never holds more
than MAX_CACHE_BYTES (the copies used longest ago go first); a file's copies go when it is deleted or
replaced, and those of files no longer in the library whenever a new copy is made.
"""

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from audio_library.library.folder_lock import FILE_MODE
from audio_library.media.safe_open import open_regular
from audio_library.media.sandbox import Limits, Sandbox


CACHE_FOLDER = ".playable"  # hidden: never listed, never served as a track
PLAYABLE_TYPES = {"webm": "audio/webm;codecs=opus", "mp3": "audio/mpeg"}
DEFAULT_TRANSCODES = 2  # transcodes at once, per library; the next one is answered 503
MAX_CACHE_BYTES = 2 * 1024**3
UNKNOWN_DURATION_S = 6 * 3600.0  # what a file whose duration is not known is budgeted for
MAX_BYTES_PER_SECOND = 32 * 1024  # MP3 at 160 kbit/s is 20 KB/s: a copy that grows past this is a runaway
MIN_CPU_S = 30
MAX_CPU_S = 600  # 10 min: over 5 hours of audio at the measured speeds; a long claim buys no more
CPU_SHARE = 0.2  # a transcode may take a fifth of the audio's duration in CPU time (5x real time), at least MIN_CPU_S


class TranscodersBusyError(Exception):
    """Every transcoder is at work: try again later."""


class TranscodeError(Exception):
    """FFmpeg could not make a playable copy of this file (the message says why, in words)."""


def transcode_limits(duration: float | None) -> Limits:
    """What the child making a copy of audio lasting `duration` seconds may use."""
    seconds = duration if duration is not None and duration > 0 else UNKNOWN_DURATION_S
    cpu = int(min(MAX_CPU_S, max(MIN_CPU_S, seconds * CPU_SHARE)))
    return Limits(
        cpu_seconds=cpu,
        memory_bytes=512 * 1024**2,
        file_bytes=int(1024**2 + seconds * MAX_BYTES_PER_SECOND),
        wall_seconds=2.0 * cpu + 10,
        output_bytes=4096,
    )


def name_digest(name: str) -> str:
    """The part of a cached copy's name that says which library file it belongs to."""
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


class Transcoder:
    """The playable copies of one library's files."""

    def __init__(self, library_root: Path, temp_name: Callable[[str], str], slots: int = DEFAULT_TRANSCODES) -> None:
        self.root = library_root
        self.folder = library_root / CACHE_FOLDER
        self._temp_name = temp_name  # temporaries live in the library, where its stale clean-up finds them
        self.sandbox = Sandbox(slots, wait_seconds=0.0)
        self._lock = threading.Lock()  # guards _making
        self._making: dict[str, threading.Event] = {}

    def open(self, source: BinaryIO, key: tuple[str, int, int], duration: float | None, kind: str) -> BinaryIO:
        """The playable copy of the file version `key` (its bytes open in `source`), made if needed, opened.

        Raises TranscodersBusyError when every transcoder is at work, TranscodeError when FFmpeg cannot do it.
        """
        name, size, mtime_ns = key
        version = f"{name_digest(name)}-{size:x}-{mtime_ns:x}"
        target = self.folder / f"{version}.{kind}"
        while True:
            with contextlib.suppress(FileNotFoundError):
                return self._opened(target)
            with self._lock:
                making = self._making.get(target.name)
                if making is None:
                    making = self._making[target.name] = threading.Event()
                    mine = True
                else:
                    mine = False
            if not mine:  # another request makes this very copy: wait for it, then take it (or make it, if it failed)
                making.wait(transcode_limits(duration).wall_seconds + 5)
                continue
            try:
                self._make(source, target, duration, kind)
                self.forget(name, keep=version)
            finally:
                with self._lock:
                    del self._making[target.name]
                making.set()

    def forget(self, name: str, keep: str = "") -> None:
        """Remove the copies of the library file `name`: of every version, or of all but the version `keep`."""
        with contextlib.suppress(FileNotFoundError):
            for cached in self.folder.glob(f"{name_digest(name)}-*"):
                if cached.name.partition(".")[0] != keep:
                    cached.unlink(missing_ok=True)

    def sweep(self, present: Iterable[str]) -> None:
        """Remove the copies of files no longer in the library (`present`: the names there), then the copies
        used longest ago until the cache is within MAX_CACHE_BYTES."""
        wanted = {name_digest(name) for name in present}
        try:
            cached = [(path, path.stat()) for path in self.folder.iterdir()]
        except FileNotFoundError:
            return
        total = 0
        for path, info in sorted(cached, key=lambda item: item[1].st_mtime_ns, reverse=True):
            total += info.st_size
            if path.name.partition("-")[0] not in wanted or total > MAX_CACHE_BYTES:
                path.unlink(missing_ok=True)

    def _opened(self, target: Path) -> BinaryIO:
        stream = open_regular(target, buffered=True)
        os.utime(stream.fileno())  # used now: the last to be evicted
        return stream

    def _make(self, source: BinaryIO, target: Path, duration: float | None, kind: str) -> None:
        self.folder.mkdir(exist_ok=True)
        temporary = self.root / self._temp_name("transcode")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as output:
                arguments = (str(source.fileno()), str(output.fileno()), kind)
                try:
                    outcome = self.sandbox.run(
                        "transcode", arguments, transcode_limits(duration), (source.fileno(), output.fileno())
                    )
                except BlockingIOError as error:
                    raise TranscodersBusyError(str(error)) from error
            if outcome.over_limits:
                raise TranscodeError("transcoding it took more than the transcoder's CPU, memory or time limit")
            if not outcome.succeeded or _decoded_seconds(outcome.output) <= 0:
                raise TranscodeError("FFmpeg found no audio it could decode in it")
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)


def _decoded_seconds(output: bytes) -> float:
    """How many seconds of audio the transcode child says it decoded; 0 if it says nothing sensible."""
    try:
        seconds = json.loads(output)["seconds"]
    except (ValueError, KeyError, TypeError):
        return 0.0
    return float(seconds) if isinstance(seconds, (int, float)) else 0.0
