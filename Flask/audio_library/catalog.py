"""What is known about each file in the library, cached so a listing does not re-read 20,000 files.

A file's type, duration and digest depend only on its bytes, so they are cached under the key (name, size,
mtime_ns): a file replaced or edited in place gets a new key and is examined again. The cache is kept in
memory and persisted to a hidden JSON file in the library, so a restarted server lists a large library at
once instead of running libmagic over every file.

Examining is done by one background thread per library, never by a listing: a listing scans the folder (one
scan shared by every listing that arrives meanwhile), hands the files it has not seen to that thread, waits
for it at most LISTING_WAIT_S and then answers with what is known, saying how many files are not examined
yet. So a library of 20,000 new files is answered within a second, and uploads, downloads and other requests
never wait for it.
"""

import hashlib
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from audio_library.tags import NO_TAGS, Tags, read_tags


CACHE_FILE = ".metadata.json"
CACHE_VERSION = 2  # 2: tags; a cache of another version is ignored, so every file is examined again
HASH_CHUNK = 1024 * 1024
REVALIDATE_NS = 1_000_000_000  # how stale a file rewritten in place (folder mtime unchanged) may be listed
SETTLE_NS = 50_000_000  # well above the granularity of the kernel's coarse clock that stamps folder mtimes
LISTING_WAIT_S = 1.0  # how long a listing waits for files being examined before answering without them
SAVE_INTERVAL_NS = 2_000_000_000  # the cache is saved at most this often while listings change it
NOTIFY_EVERY = 100  # files examined between two wake-ups of the listings waiting for them

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
    tags: Tags = NO_TAGS

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
            **self.tags.to_json(),
        }


@dataclass(frozen=True)
class Listing:
    """The library's entries sorted by name, with the JSON array the API sends for them.

    `unexamined` counts the files found in the folder whose examination is still under way: they are not in
    `entries` yet. `generation` grows whenever the listing changes, so callers can cache what they derive.
    """

    entries: list[Entry]
    json: bytes
    unexamined: int = 0
    generation: int = 0
    pending: frozenset[Key] = frozenset()


@dataclass
class Facts:
    """What the bytes of one file say: its audio type (None: not audio), duration, tags and, once needed, digest."""

    type: str | None
    duration: float | None
    sha256: str | None = None
    tags: Tags = NO_TAGS


def iso_utc(mtime_ns: int) -> str:
    """Format a modification time as ISO 8601 UTC with a Z, to the second."""
    moment = datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def display_name(file_name: str) -> str:
    """A name as text: one on disk that is not UTF-8 shows U+FFFD where its undecodable bytes are."""
    return os.fsencode(file_name).decode("utf-8", errors="replace")


def make_entry(file_name: str, size: int, facts: Facts, mtime_ns: int) -> Entry:
    """The Entry of an audio file, with a displayable name if its name on disk is not UTF-8."""
    shown = display_name(file_name)
    assert facts.type is not None
    renamed = "" if shown == file_name else file_name
    return Entry(shown, size, facts.type, facts.duration, iso_utc(mtime_ns), renamed, facts.tags)


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
        self._lock = threading.Lock()  # guards everything below; never held while a file is read
        self._examined = threading.Condition(self._lock)
        self._scan_lock = threading.Lock()  # one scan and one build at a time, shared by the listings waiting
        self._keys: list[Key] = []
        self._keys_version = 0
        self._facts_version = 0
        self._scanned_at = -1  # when the last scan started (time_ns), -1 before the first
        self._stated_at = -REVALIDATE_NS  # when the last scan that stat'ed every file started
        self._folder_mtime = 0
        self._listing: Listing | None = None
        self._built_for = (-1, -1)
        self._queue: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._examiner: threading.Thread | None = None  # the running examiner, None once it has emptied the queue
        self._last_examiner: threading.Thread | None = None  # the latest one, joined at close: it saves last
        self._closed = False
        self._dirty = False
        self._saved_at = 0
        self._load()

    def start(self) -> None:
        """Scan the folder and hand what the cache does not know to the examiner: start-up waits for the scan
        (a fraction of a second for 20,000 files), never for the examination."""
        self._current(time.time_ns())

    def close(self) -> None:
        """Stop examining (the file being examined is finished) and save what was learnt."""
        with self._lock:
            self._closed = True
            examiner = self._last_examiner
            self._examined.notify_all()
        if examiner is not None:
            examiner.join(timeout=10)
        self.save()

    def listing(self, wait: float | None = None) -> Listing:
        """Every audio file directly in the folder, sorted by name; hidden files and non-audio are left out.

        Files added, removed or renamed by anyone change the folder's mtime, which is checked on every call:
        they show at once. Only a file rewritten in place leaves the folder's mtime alone, so the files
        themselves are stat'ed again when REVALIDATE_NS has passed since the last look. When nothing changed,
        the previous listing, JSON included, is returned as it was. Files not examined yet are waited for
        at most `wait` seconds (LISTING_WAIT_S); those still unexamined then are counted in `unexamined`.
        """
        wait = LISTING_WAIT_S if wait is None else wait
        started = time.time_ns()
        listing = self._current(started)
        if listing.pending:
            with self._lock:
                self._examined.wait_for(lambda: self._closed or self._queued.isdisjoint(listing.pending), wait)
            listing = self._current(started)
        return listing

    def _current(self, started: int) -> Listing:
        """The listing as of a scan that began after `started` (or a settled, unchanged folder)."""
        folder_mtime = os.stat(self.root).st_mtime_ns
        with self._scan_lock:
            if not self._fresh(started, folder_mtime):
                self._rescan(folder_mtime)
            with self._lock:
                listing = self._listing
                stale = listing is None or self._built_for != (self._keys_version, self._facts_version)
            if stale:
                listing = self._build()
        self._save_if_due()
        assert listing is not None
        return listing

    def _fresh(self, started: int, folder_mtime: int) -> bool:
        if self._scanned_at >= started:  # another request's scan began after ours arrived: it saw our changes
            return True
        return (
            self._scanned_at >= 0
            and folder_mtime == self._folder_mtime
            # Folder mtimes come from a coarse clock: a change in the same tick as the one we saw would keep the
            # mtime, so only a folder that had settled before our last look can be trusted.
            and folder_mtime < self._scanned_at - SETTLE_NS
            and started - self._scanned_at < REVALIDATE_NS
        )

    def _rescan(self, folder_mtime: int) -> None:
        scanned_at = time.time_ns()
        # Names come and go with the folder's mtime; only a file rewritten in place needs every file stat'ed,
        # and that may show REVALIDATE_NS late: in between, known names keep the size and mtime last seen.
        full = scanned_at - self._stated_at >= REVALIDATE_NS
        keys = self._scan({} if full else {key[0]: key for key in self._keys})
        present = set(keys)
        with self._lock:
            self._scanned_at, self._folder_mtime = scanned_at, folder_mtime
            if full:
                self._stated_at = scanned_at
            if keys != self._keys:
                self._keys = keys
                self._keys_version += 1
            stale = self._facts.keys() - present
            for key in stale:
                del self._facts[key]
                self._rows.pop(key, None)
            if stale:
                self._dirty = True
                self._facts_version += 1
            # Unknown files are (re)queued at every scan: one that could not be read is tried again.
            unknown = sorted(key for key in keys if key not in self._facts and key not in self._queued)
            if unknown:
                self._facts_version += 1  # the listing gains pending files: built again
        self._enqueue(unknown)

    def _build(self) -> Listing:
        rows: list[tuple[Entry, bytes]] = []
        pending: list[Key] = []
        with self._lock:
            keys, built_for = self._keys, (self._keys_version, self._facts_version)
            known = [(key, self._facts.get(key)) for key in keys]
            queued = {key for key, facts in known if facts is None and key in self._queued}
            generation = (self._listing.generation + 1) if self._listing is not None else 1
        for key, facts in known:
            if facts is None:
                if key in queued:
                    pending.append(key)
            elif facts.type is not None:
                rows.append(self._row(key, facts))
        rows.sort(key=lambda row: row[0].name)
        listing = Listing(
            [entry for entry, _ in rows],
            b"[" + b",".join(fragment for _, fragment in rows) + b"]",
            unexamined=len(pending),
            generation=generation,
            pending=frozenset(pending),
        )
        with self._lock:
            self._listing, self._built_for = listing, built_for
        return listing

    def _enqueue(self, keys: list[Key]) -> None:
        if not keys:
            return
        with self._lock:
            self._queue.extend(keys)
            self._queued.update(keys)
            if self._examiner is None and not self._closed:
                self._examiner = threading.Thread(target=self._examine_queue, name="library-examiner", daemon=True)
                self._last_examiner = self._examiner
                self._examiner.start()

    def _examine_queue(self) -> None:
        """The examiner thread: examine queued files in name order until the queue is empty, then save."""
        done = 0
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    self._queue.clear()
                    self._queued.clear()
                    self._examiner = None
                    self._examined.notify_all()
                    break
                key = self._queue.popleft()
            self.facts(key)
            done += 1
            with self._lock:
                self._queued.discard(key)
                if done % NOTIFY_EVERY == 0 or not self._queue:
                    self._examined.notify_all()
        self.save()

    def _scan(self, known: dict[str, Key]) -> list[Key]:
        """The keys of the plain, visible files in the folder; those of `known` names are taken as they are."""
        keys: list[Key] = []
        with os.scandir(self.root) as scan:
            for item in scan:
                if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
                    continue
                if (key := known.get(item.name)) is not None:
                    keys.append(key)
                    continue
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:  # deleted while we looked
                    continue
                keys.append((item.name, info.st_size, info.st_mtime_ns))
        return keys

    def _row(self, key: Key, facts: Facts) -> tuple[Entry, bytes]:
        """The entry of an audio file and its JSON, built once per key."""
        with self._lock:
            row = self._rows.get(key)
        if row is not None:
            return row
        name, size, mtime_ns = key
        entry = make_entry(name, size, facts, mtime_ns)
        row = (entry, json.dumps(entry.to_json(), ensure_ascii=False, separators=(",", ":")).encode())
        with self._lock:
            self._rows[key] = row
        return row

    def entry(self, name: str) -> Entry | None:
        """The entry for one name, or None if there is no such audio file; never waits for a scan."""
        try:
            info = (self.root / name).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        facts = self.facts((name, info.st_size, info.st_mtime_ns))
        if facts is None or facts.type is None:
            return None
        return make_entry(name, info.st_size, facts, info.st_mtime_ns)

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
            tags = read_tags(path, mime) if mime is not None else NO_TAGS
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("cannot read %s: %s", path, error)
            return None
        facts = Facts(mime, duration, tags=tags)
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
            self._facts_version += 1
            self._dirty = True

    def _save_if_due(self) -> None:
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
            for name, size, mtime_ns, mime, duration, sha256, *tags in document["files"]:
                self._facts[(str(name), int(size), int(mtime_ns))] = Facts(mime, duration, sha256, Tags(*tags))
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
            logger.warning("ignoring an unreadable metadata cache: %s", error)
            self._facts.clear()


def _cache_row(key: Key, facts: Facts) -> list[Any]:
    """A file's row in the persisted cache; `_load` reads it back."""
    tags = facts.tags
    return [*key, facts.type, facts.duration, facts.sha256, tags.title, tags.artist, tags.album, tags.track, tags.cover]
