"""The library's listing: the folder scanned, its files examined once each, in the background.

What each file's bytes say is kept by `metadata_cache.MetadataCache`, so a listing does not re-read 20,000
files. Examining is done by one background thread per library, never by a listing: a listing scans the folder (one
scan shared by every listing that arrives meanwhile), hands the files it has not seen to that thread, waits
for it at most LISTING_WAIT_S and then answers with what is known, saying how many files are not examined
yet. So a library of 20,000 new files is answered within a second, and uploads, downloads and other requests
never wait for it.
"""

import errno
import hashlib
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from audio_library.library.entries import Entry, Key, Listing, make_entry
from audio_library.library.entry_json import compact_json, file_json, json_array
from audio_library.library.listing_order import ListingOrder
from audio_library.library.metadata_cache import MetadataCache
from audio_library.media.examiner import Examiner, Facts
from audio_library.media.safe_open import open_regular


HASH_CHUNK = 1024 * 1024
REVALIDATE_NS = 1_000_000_000  # how stale a file rewritten in place (folder mtime unchanged) may be listed
SETTLE_NS = 50_000_000  # well above the granularity of the kernel's coarse clock that stamps folder mtimes
LISTING_WAIT_S = 1.0  # how long a listing waits for files being examined before answering without them
NOTIFY_EVERY = 100  # files examined between two wake-ups of the listings waiting for them

logger = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    """Hash a file in chunks, never holding it whole in memory."""
    digest = hashlib.sha256()
    with open_regular(path) as stream:
        while chunk := stream.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Catalog:
    """The listing of one library folder and the examination of its files, safe to share between threads."""

    def __init__(self, root: Path, temp_name: Callable[[str], str], examiner: Examiner) -> None:
        self.root = root
        self.examiner = examiner
        self.cache = MetadataCache(root, temp_name)
        self._rows: dict[Key, tuple[Entry, bytes]] = {}
        self._order = ListingOrder()
        self._lock = threading.Lock()  # guards everything below; never held while a file is read
        self._examined = threading.Condition(self._lock)
        self._scan_lock = threading.Lock()  # one scan and one build at a time, shared by the listings waiting
        self._keys: list[Key] = []
        self._keys_version = 0
        self._queue_version = 0  # grows when files are handed to the examiner: the listing counts them
        self._scanned_at = -1  # when the last scan started (time_ns), -1 before the first
        self._stated_at = -REVALIDATE_NS  # when the last scan that stat'ed every file started
        self._folder_mtime = 0
        self._listing: Listing | None = None
        self._built_for = (-1, -1, -1)
        self._queue: deque[Key] = deque()
        self._queued: set[Key] = set()
        self._worker: threading.Thread | None = None  # the running examiner, None once it has emptied the queue
        self._last_worker: threading.Thread | None = None  # the latest one, joined at close: it saves last
        self._closed = False

    def start(self) -> None:
        """Scan the folder and hand what the cache does not know to the examiner: start-up waits for the scan
        (a fraction of a second for 20,000 files), never for the examination."""
        self._current(time.time_ns())

    def close(self) -> None:
        """Stop examining (the file being examined is finished) and save what was learnt."""
        with self._lock:
            self._closed = True
            examiner = self._last_worker
            self._examined.notify_all()
        if examiner is not None:
            examiner.join(timeout=10)
        self.cache.save()

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
                stale = listing is None or self._built_for != self._versions()
            if stale:
                listing = self._build()
        self.cache.save_if_due()
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
            for key in self._rows.keys() - present:
                del self._rows[key]
        self.cache.retain(present)
        # Unknown files are (re)queued at every scan: one that could not be read is tried again.
        unknown = sorted(key for key, facts in self.cache.get_many(keys) if facts is None)
        self._enqueue(unknown)

    def _build(self) -> Listing:
        rows: list[tuple[Entry, bytes]] = []
        pending: list[Key] = []
        with self._lock:
            keys, built_for = self._keys, self._versions()
            # Taken before the facts: the examiner records a file's facts before it stops counting it as queued,
            # so every key is then either known or still pending, never neither.
            queued = self._queued & set(keys)
            generation = (self._listing.generation + 1) if self._listing is not None else 1
        known = self.cache.get_many(keys)
        for key, facts in known:
            if facts is None:
                if key in queued:
                    pending.append(key)
            elif facts.type is not None:
                rows.append(self._row(key, facts))
        rows = self._order.arrange(rows)
        listing = Listing(
            [entry for entry, _ in rows],
            json_array([fragment for _, fragment in rows]),
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
            keys = [key for key in keys if key not in self._queued]
            if not keys:
                return
            self._queue.extend(keys)
            self._queued.update(keys)
            self._queue_version += 1  # the listing gains pending files: built again
            if self._worker is None and not self._closed:
                self._worker = threading.Thread(target=self._examine_queue, name="library-examiner", daemon=True)
                self._last_worker = self._worker
                self._worker.start()

    def _examine_queue(self) -> None:
        """The examiner thread: examine queued files in name order until the queue is empty, then save."""
        done = 0
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    self._queue.clear()
                    self._queued.clear()
                    self._worker = None
                    self._examined.notify_all()
                    break
                key = self._queue.popleft()
            self.facts(key)
            done += 1
            with self._lock:
                self._queued.discard(key)
                if done % NOTIFY_EVERY == 0 or not self._queue:
                    self._examined.notify_all()
        self.cache.save()

    def _versions(self) -> tuple[int, int, int]:
        """What the listing is built from: the folder's keys, the facts known, the files handed over."""
        return self._keys_version, self.cache.version, self._queue_version

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
        row = (entry, compact_json(file_json(entry)))
        with self._lock:
            self._rows[key] = row
        return row

    def entry(self, name: str) -> Entry | None:
        """The entry for one name, or None if there is no such audio file; never waits for a scan."""
        try:
            info = (self.root / name).lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:  # a listed name with \xNN escapes may be longer than any file's
                return None
            raise
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
        known = self.cache.get(key)
        if known is not None:
            return known
        path = self.root / key[0]
        try:
            facts = self.examiner.examine(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            logger.warning("cannot read %s: %s", path, error)
            return None
        self.cache.put(key, facts)
        return facts

    def remember(self, key: Key, facts: Facts) -> None:
        """Record the facts of a file the library has just put in place, so that no listing examines it again."""
        self.cache.put(key, facts)

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
            self.cache.changed()
        return facts.sha256
