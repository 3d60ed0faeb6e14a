"""What is known about each file in the library, cached so a listing does not re-read 10,000 files.

A file's type, duration and digest depend only on its bytes, so they are cached under the key (name, size,
mtime_ns): a file replaced or edited in place gets a new key and is examined again. The cache is kept in
memory and persisted to a hidden JSON file in the library, so a restarted server lists a large library at
once instead of running libmagic over every file.
"""

import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


CACHE_FILE = ".metadata.json"
CACHE_VERSION = 1
HASH_CHUNK = 1024 * 1024
REVALIDATE_NS = 1_000_000_000  # how stale a file rewritten in place (folder mtime unchanged) may be listed
SETTLE_NS = 50_000_000  # well above the granularity of the kernel's coarse clock that stamps folder mtimes

logger = logging.getLogger(__name__)

Key = tuple[str, int, int]


@dataclass(frozen=True)
class Entry:
    """One audio file in the library as the API lists it.

    `name` is always valid Unicode: a name on disk that is not UTF-8 (copied in by hand from an old system)
    is shown with U+FFFD for its undecodable bytes, and `file_name` keeps the name on disk.
    """

    name: str
    size: int
    type: str
    duration: float | None
    modified: str
    file_name: str = ""  # the name on disk, when it differs from `name`

    @property
    def on_disk(self) -> str:
        """The name of the file in the folder."""
        return self.file_name or self.name

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the API's listing."""
        return {
            "name": self.name,
            "size": self.size,
            "type": self.type,
            "duration": self.duration,
            "modified": self.modified,
        }


@dataclass(frozen=True)
class Listing:
    """The library's entries sorted by name, with the JSON array the API sends for them."""

    entries: list[Entry]
    json: bytes


@dataclass
class Facts:
    """What the bytes of one file say: its audio type (None: not audio), duration and, once needed, digest."""

    type: str | None
    duration: float | None
    sha256: str | None = None


def iso_utc(mtime_ns: int) -> str:
    """Format a modification time as ISO 8601 UTC with a Z, to the second."""
    moment = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def display_name(file_name: str) -> str:
    """A name as text: one on disk that is not UTF-8 shows U+FFFD where its undecodable bytes are."""
    return os.fsencode(file_name).decode("utf-8", errors="replace")


def make_entry(file_name: str, size: int, mime: str, duration: float | None, mtime_ns: int) -> Entry:
    """The Entry of a file, with a displayable name if its name on disk is not UTF-8."""
    shown = display_name(file_name)
    return Entry(shown, size, mime, duration, iso_utc(mtime_ns), "" if shown == file_name else file_name)


def file_sha256(path: Path) -> str:
    """Hash a file in chunks, never holding it whole in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Catalog:
    """The cache of Facts for the files of one library folder, safe to share between threads."""

    def __init__(
        self,
        root: Path,
        detect: Callable[[Path], str | None],
        probe: Callable[[Path, str], float | None],
        temp_name: Callable[[str], str],
    ) -> None:
        self.root = root
        self._detect = detect
        self._probe = probe
        self._temp_name = temp_name
        self._facts: dict[Key, Facts] = {}
        self._rows: dict[Key, tuple[Entry, bytes]] = {}
        self._listed_keys: list[Key] = []
        self._listing: Listing | None = None
        self._folder_mtime = 0
        self._looked_at = 0
        self._lock = threading.Lock()
        self._dirty = False
        self._load()

    def listing(self) -> Listing:
        """Every audio file directly in the folder, sorted by name; hidden files and non-audio are left out.

        Files added, removed or renamed by anyone change the folder's mtime, which is checked on every call:
        they show at once. Only a file rewritten in place leaves the folder's mtime alone, so the files
        themselves are stat'ed again when REVALIDATE_NS has passed since the last look. When nothing changed,
        the previous listing, JSON included, is returned as it was.
        """
        started = time.time_ns()
        folder_mtime = os.stat(self.root).st_mtime_ns
        with self._lock:
            if (
                self._listing is not None
                and folder_mtime == self._folder_mtime
                # Folder mtimes come from a coarse clock: a change in the same tick as the one we saw would
                # keep the mtime, so only a folder that had settled before our last look can be trusted.
                and folder_mtime < self._looked_at - SETTLE_NS
                and started - self._looked_at < REVALIDATE_NS
            ):
                return self._listing
        keys = self._scan()
        with self._lock:
            if self._listing is not None and keys == self._listed_keys:
                self._folder_mtime, self._looked_at = folder_mtime, started
                return self._listing
        rows: list[tuple[Entry, bytes]] = []
        unreadable = False
        for key in keys:
            facts = self.facts(key)
            if facts is None:
                unreadable = True
            elif facts.type is not None:
                rows.append(self._row(key, facts.type, facts.duration))
        rows.sort(key=lambda row: row[0].name)
        listing = Listing([entry for entry, _ in rows], b"[" + b",".join(fragment for _, fragment in rows) + b"]")
        self._forget_except(set(keys))
        self.save()
        with self._lock:
            # A listing that had to leave out unreadable files is not reused for the same keys: they are
            # tried again at the next look, and show once they can be read.
            self._listed_keys, self._listing = ([] if unreadable else keys), listing
            self._folder_mtime, self._looked_at = folder_mtime, started
        return listing

    def _scan(self) -> list[Key]:
        keys: list[Key] = []
        with os.scandir(self.root) as scan:
            for item in scan:
                if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
                    continue
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted while we looked
                    continue
                keys.append((item.name, info.st_size, info.st_mtime_ns))
        return keys

    def _row(self, key: Key, mime: str, duration: float | None) -> tuple[Entry, bytes]:
        """The entry of an audio file and its JSON, built once per key."""
        with self._lock:
            row = self._rows.get(key)
        if row is not None:
            return row
        name, size, mtime_ns = key
        entry = make_entry(name, size, mime, duration, mtime_ns)
        row = (entry, json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")).encode())
        with self._lock:
            self._rows[key] = row
        return row

    def entry(self, name: str) -> Entry | None:
        """The entry for one name, or None if there is no such audio file."""
        try:
            info = (self.root / name).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        facts = self.facts((name, info.st_size, info.st_mtime_ns))
        if facts is None or facts.type is None:
            return None
        return make_entry(name, info.st_size, facts.type, facts.duration, info.st_mtime_ns)

    def facts(self, key: Key) -> Facts | None:
        """Cached facts for a file, examining it if it is new or changed; None if it cannot be read now.

        A file that vanished meanwhile, or that the server may not read (copied in with the wrong owner), is
        left out of the listing, not cached: it shows once it becomes readable.
        """
        with self._lock:
            known = self._facts.get(key)
        if known is not None:
            return known
        path = self.root / key[0]
        try:
            mime = self._detect(path)
            duration = self._probe(path, mime) if mime is not None else None
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("cannot read %s: %s", path, error)
            return None
        facts = Facts(mime, duration)
        self.remember(key, facts)
        return facts

    def sha256(self, key: Key) -> str | None:
        """The digest of a file, computed once per (name, size, mtime_ns); None if it cannot be read."""
        facts = self.facts(key)
        if facts is None:
            return None
        if facts.sha256 is None:
            try:
                facts.sha256 = file_sha256(self.root / key[0])
            except OSError:
                return None
            self._dirty = True
        return facts.sha256

    def remember(self, key: Key, facts: Facts) -> None:
        """Record facts learnt elsewhere, e.g. while validating an upload."""
        with self._lock:
            self._facts[key] = facts
            self._dirty = True

    def _forget_except(self, keys: set[Key]) -> None:
        with self._lock:
            stale = self._facts.keys() - keys
            for key in stale:
                del self._facts[key]
                self._rows.pop(key, None)
            if stale:
                self._dirty = True

    def save(self) -> None:
        """Persist the cache if it changed: written to a temporary file, then renamed over the old one."""
        with self._lock:
            if not self._dirty:
                return
            rows = [[*key, facts.type, facts.duration, facts.sha256] for key, facts in self._facts.items()]
            self._dirty = False
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
            for name, size, mtime_ns, mime, duration, sha256 in document["files"]:
                self._facts[(str(name), int(size), int(mtime_ns))] = Facts(mime, duration, sha256)
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning("ignoring an unreadable metadata cache: %s", error)
            self._facts.clear()
