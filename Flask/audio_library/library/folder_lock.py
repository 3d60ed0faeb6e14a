"""One server process's claim on a library folder, and the clean-up of what dead processes left in it.

Each process holds an flock on a hidden lock file named after its instance id and names its temporary files
after the same id. At start-up, temporary files whose owner no longer holds its lock are stale and removed,
while those of a live process sharing the folder are left alone.
"""

import fcntl
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO


FILE_MODE = 0o644
_TEMP_RE = re.compile(r"^\.[a-z]+-(?P<instance>[0-9a-f]{16})-[0-9a-f]{16}\.part$")
_LOCK_RE = re.compile(r"^\.instance-(?P<instance>[0-9a-f]{16})\.lock$")


class LibraryError(Exception):
    """The library folder cannot be used (not creatable, not a folder, not writable); the message says which."""


class FolderLock:
    """This process's lock file in the folder, the names of its temporary files, and removing stale ones."""

    def __init__(self, root: Path) -> None:
        """Create the folder if needed and take this process's lock in it, proving it is writable."""
        self.root = root
        self.instance = secrets.token_hex(8)
        self._lock_file = self._claim()

    @property
    def held(self) -> bool:
        """True until release()."""
        return not self._lock_file.closed

    def temp_name(self, kind: str) -> str:
        """A fresh hidden name for a temporary file of this process, e.g. ".upload-<instance>-<random>.part"."""
        return f".{kind}-{self.instance}-{secrets.token_hex(8)}.part"

    def release(self) -> None:
        """Give up the claim: this process's temporary files become stale for the next start-up."""
        if self.held:
            (self.root / _lock_name(self.instance)).unlink(missing_ok=True)
            self._lock_file.close()

    def remove_stale(self) -> list[str]:
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

    def _claim(self) -> BinaryIO:
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
