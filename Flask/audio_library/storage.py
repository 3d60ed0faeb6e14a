"""The library: a plain folder of audio files, changed only by atomic, never-overwriting steps.

Files are written to hidden temporary files inside the folder and put in place with `os.link`, which fails
if the name exists, so two requests (or two server processes sharing the folder) can never overwrite each
other. Each process holds an flock on a hidden lock file named after its instance id and names its
temporary files after the same id; at start-up, temporary files whose owner no longer holds its lock are
stale and removed, while those of a live process sharing the folder are left alone.
"""

import fcntl
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from audio_library.audio import detect_audio_type, probe_duration
from audio_library.catalog import Catalog, Entry, Facts, Listing
from audio_library.names import MAX_NAME_BYTES, numbered_name, sanitize_filename


EXTENSION_KEY = "audio_library"
MAX_NUMBERED_NAMES = 10_000  # "name (10000).mp3": past that, something other than uploads fills the folder
FILE_MODE = 0o644
REPLACEMENT = "\ufffd"  # what stands for bytes that are not UTF-8 in a listed name
_TEMP_RE = re.compile(r"^\.[a-z]+-(?P<instance>[0-9a-f]{16})-[0-9a-f]{16}\.part$")
_LOCK_RE = re.compile(r"^\.instance-(?P<instance>[0-9a-f]{16})\.lock$")


class LibraryError(Exception):
    """The library folder cannot be used (missing, not a folder, not writable); the message says which."""


@dataclass(frozen=True)
class Committed:
    """The outcome of putting one received file in place: its name in the library and how it got there."""

    name: str
    status: str  # "stored", "renamed" (the name was taken by other bytes) or "duplicate" (same bytes there)


class Library:
    """One library folder: listing, lookup, atomic storing, deleting."""

    def __init__(self, root: Path) -> None:
        """Open (creating if needed) the folder, check it is writable and remove stale temporary files.

        Raises LibraryError with a one-line explanation if the folder cannot be used.
        """
        self.root = root.absolute()
        self.instance = secrets.token_hex(8)
        self._lock_file = self._claim_folder()
        self.removed_stale = self._remove_stale_temporaries()
        self.catalog = Catalog(self.root, detect_audio_type, probe_duration, self.temp_name)
        self.catalog.start()

    def close(self) -> None:
        """Release this process's claim on its temporary files (they become stale for the next start-up)."""
        if not self._lock_file.closed:
            self.catalog.close()
            (self.root / _lock_name(self.instance)).unlink(missing_ok=True)
            self._lock_file.close()

    def listing(self) -> Listing:
        """The current listing: entries, their JSON, and how many files are still being examined."""
        return self.catalog.listing()

    def entry(self, name: str) -> Entry | None:
        """The audio file called `name`, or None: absent, hidden, not a plain file, not audio, or not a name."""
        if not is_plain_name(name):
            return None
        entry = self.catalog.entry(name)
        if entry is None and REPLACEMENT in name:
            # Perhaps the name as listed of a file whose name on disk is not UTF-8: found if unambiguous.
            matches = [listed for listed in self.catalog.listing().entries if listed.name == name]
            entry = matches[0] if len(matches) == 1 else None
        return entry

    def path(self, entry: Entry) -> Path:
        """Where the bytes of an entry are."""
        return self.root / entry.on_disk

    def delete(self, name: str) -> bool:
        """Delete the audio file called `name`; False if there is none."""
        entry = self.entry(name)
        if entry is None:
            return False
        try:
            self.path(entry).unlink()
        except FileNotFoundError:  # another request deleted it first
            return False
        return True

    def temp_name(self, kind: str) -> str:
        """A fresh hidden name for a temporary file of this process, e.g. ".upload-<instance>-<random>.part"."""
        return f".{kind}-{self.instance}-{secrets.token_hex(8)}.part"

    def create_temporary(self) -> tuple[Path, BinaryIO]:
        """Create an empty hidden temporary file in the folder for an upload; the caller removes it."""
        path = self.root / self.temp_name("upload")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        return path, os.fdopen(descriptor, "wb")

    def commit(self, temporary: Path, sent_name: str, facts: Facts) -> Committed:
        """Give the complete, validated temporary file a name in the library, never replacing a file.

        The name is the sanitized sent name; if it is taken by the same bytes (facts.sha256) the upload is a
        duplicate and nothing is added; if taken by other bytes, "name (2).ext", "name (3).ext", ... are tried.
        The temporary file itself is left for the caller to remove.
        """
        base = sanitize_filename(sent_name)
        size = temporary.stat().st_size
        _sync(temporary)  # its bytes reach the disk before its name does
        for number in range(1, MAX_NUMBERED_NAMES + 1):
            candidate = numbered_name(base, number)
            final = self.root / candidate
            try:
                os.link(temporary, final)
            except FileExistsError:
                if facts.sha256 is not None and self._holds(candidate, size, facts.sha256):
                    return Committed(candidate, "duplicate")
                continue
            _sync(self.root)
            info = final.lstat()
            self.catalog.remember((candidate, info.st_size, info.st_mtime_ns), facts)
            return Committed(candidate, "stored" if number == 1 else "renamed")
        raise FileExistsError(f"every name from {base!r} to {numbered_name(base, MAX_NUMBERED_NAMES)!r} is taken")

    def withdraw(self, name: str) -> None:
        """Remove a file this request has just committed, when a later step of the same request failed."""
        (self.root / name).unlink(missing_ok=True)

    def _holds(self, name: str, size: int, sha256: str) -> bool:
        """True if the library's `name` is a plain file with exactly these bytes."""
        try:
            info = (self.root / name).lstat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return False
        return self.catalog.sha256((name, info.st_size, info.st_mtime_ns)) == sha256

    def _claim_folder(self) -> BinaryIO:
        """Create the folder if needed and take this process's lock file in it, proving it is writable."""
        if self.root.exists() and not self.root.is_dir():
            raise LibraryError(f"the library path {self.root} exists but is not a folder")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LibraryError(f"cannot create the library folder {self.root}: {error.strerror}") from error
        # Locked under a temporary name, then renamed: a lock file is never visible unlocked, so a process
        # starting at the same moment cannot mistake it for a dead one's.
        staging = self.root / self.temp_name("instance")
        try:
            descriptor = os.open(staging, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except OSError as error:
            raise LibraryError(f"the library folder {self.root} is not writable: {error.strerror}") from error
        lock_file = os.fdopen(descriptor, "r+b")
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        os.rename(staging, self.root / _lock_name(self.instance))
        return lock_file

    def _remove_stale_temporaries(self) -> list[str]:
        """Delete temporary files and lock files left by processes that are gone; return their names."""
        owners: dict[str, list[str]] = {}
        for name in os.listdir(self.root):
            match = _TEMP_RE.match(name) or _LOCK_RE.match(name)
            if match and match["instance"] != self.instance:
                owners.setdefault(match["instance"], []).append(name)
        removed: list[str] = []
        for instance, names in owners.items():
            if _is_alive(self.root / _lock_name(instance)):
                continue
            for name in names:
                (self.root / name).unlink(missing_ok=True)
                removed.append(name)
        return removed


def current_library() -> Library:
    """The Library of the application handling the current request."""
    library: Library = current_app.extensions[EXTENSION_KEY]
    return library


def is_plain_name(name: str) -> bool:
    """True if `name` can only mean a file directly inside the library, and not a hidden one."""
    return (
        bool(name)
        and not name.startswith(".")
        and "/" not in name
        and "\0" not in name
        and len(name.encode(errors="surrogateescape")) <= MAX_NAME_BYTES
    )


def _lock_name(instance: str) -> str:
    return f".instance-{instance}.lock"


def _is_alive(lock_path: Path) -> bool:
    """True if some process holds the flock on this lock file."""
    try:
        descriptor = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def _sync(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk: a stored file survives a power cut after the reply."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


__all__ = ["Committed", "Entry", "Facts", "Library", "LibraryError", "current_library"]
