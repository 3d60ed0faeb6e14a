"""The facts known about the library's files, kept in memory and persisted to a hidden JSON file.

A file's type, duration, tags and digest depend only on its bytes, so they are kept under the key (name,
size, mtime_ns): a file replaced or edited in place gets a new key and is examined again. The cache is saved
atomically to CACHE_FILE in the library, so a restarted server lists a large library at once instead of
examining every file again.
"""

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from audio_library.library.entries import Key
from audio_library.media.examiner import Facts
from audio_library.media.tags import Tags


CACHE_FILE = ".metadata.json"
# 2: tags; 3: the parsers accept real files they refused, and FFmpeg's second judge (issue 18); 4: the cover's
# place in the file, and tag text without bidi or control characters (issue 21). A cache of another version
# is ignored, so every file is examined again.
CACHE_VERSION = 4
SAVE_INTERVAL_NS = 2_000_000_000  # the cache is saved at most this often while listings change it

logger = logging.getLogger(__name__)


class MetadataCache:
    """Facts per key, safe to share between threads; `version` grows with every change."""

    def __init__(self, root: Path, temp_name: Callable[[str], str]) -> None:
        self.root = root
        self._temp_name = temp_name
        self._facts: dict[Key, Facts] = {}
        self._lock = threading.Lock()  # guards everything below; never held while a file is read or written
        self.version = 0
        self._dirty = False
        self._saved_at = 0
        self._load()

    def get(self, key: Key) -> Facts | None:
        """The facts of one file version, or None if it was never examined."""
        with self._lock:
            return self._facts.get(key)

    def get_many(self, keys: Iterable[Key]) -> list[tuple[Key, Facts | None]]:
        """The facts of many keys, read at once."""
        with self._lock:
            return [(key, self._facts.get(key)) for key in keys]

    def put(self, key: Key, facts: Facts) -> None:
        """Record what a file's bytes say."""
        with self._lock:
            self._facts[key] = facts
            self.version += 1
            self._dirty = True

    def changed(self) -> None:
        """Say that facts already recorded were completed (a digest computed), so they are saved."""
        with self._lock:
            self._dirty = True

    def retain(self, present: set[Key]) -> None:
        """Forget the files that are no longer in the folder in these versions."""
        with self._lock:
            stale = self._facts.keys() - present
            for key in stale:
                del self._facts[key]
            if stale:
                self._dirty = True
                self.version += 1

    def save_if_due(self) -> None:
        """Save if something changed and the last save is SAVE_INTERVAL_NS old."""
        if self._dirty and time.monotonic_ns() - self._saved_at >= SAVE_INTERVAL_NS:
            self.save()

    def save(self) -> None:
        """Persist the cache if it changed: written to a temporary file, then renamed over the old one."""
        with self._lock:
            if not self._dirty:
                return
            rows = [_cache_row(key, facts) for key, facts in self._facts.items()]
            self._dirty = False
            self._saved_at = time.monotonic_ns()
        temp = self.root / self._temp_name("metadata")
        try:
            temp.write_text(json.dumps({"version": CACHE_VERSION, "files": rows}), encoding="utf-8")
            os.replace(temp, self.root / CACHE_FILE)
        except OSError as error:
            # The cache only saves time; a full disk must not turn a listing into an error.
            logger.warning("could not save the metadata cache: %s", error)
            temp.unlink(missing_ok=True)
            with self._lock:
                self._dirty = True

    def _load(self) -> None:
        try:
            document = json.loads((self.root / CACHE_FILE).read_text(encoding="utf-8"))
            if document.get("version") != CACHE_VERSION:
                return
            for name, size, mtime_ns, mime, duration, sha256, *fields in document["files"]:
                title, artist, album, track, cover, cover_offset, cover_length, in_comment = fields
                span = None if cover_offset is None else (int(cover_offset), int(cover_length))
                tags = Tags(title, artist, album, track, bool(cover), span, bool(in_comment))
                self._facts[(str(name), int(size), int(mtime_ns))] = Facts(mime, duration, sha256, tags)
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning("ignoring an unreadable metadata cache: %s", error)
            self._facts.clear()


def _cache_row(key: Key, facts: Facts) -> list[Any]:
    """A file's row in the persisted cache; `_load` reads it back."""
    tags = facts.tags
    offset, length = tags.cover_span or (None, None)
    fields = (tags.title, tags.artist, tags.album, tags.track, tags.cover, offset, length, tags.cover_in_comment)
    return [*key, facts.type, facts.duration, facts.sha256, *fields]
