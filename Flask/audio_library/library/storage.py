"""The library: a plain folder of audio files, changed only by atomic, never-overwriting steps.

Files are written to hidden temporary files inside the folder and put in place with `os.link`, which fails
if the name exists, so two requests (or two server processes sharing the folder) can never overwrite each
other. The folder's lock and the clean-up of dead processes' leftovers are `folder_lock.FolderLock`'s.
"""

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from audio_library.library.catalog import Catalog
from audio_library.library.entries import Entry, Listing, make_entry
from audio_library.library.folder_lock import FILE_MODE, FolderLock, LibraryError
from audio_library.library.names import disk_name, numbered_name, sanitize_filename
from audio_library.library.playable_copies import DEFAULT_TRANSCODES, Transcoder
from audio_library.media.cover_places import comment_cover, cover_at
from audio_library.media.covers import Cover
from audio_library.media.examiner import Examiner, Facts
from audio_library.media.safe_open import open_regular
from audio_library.media.second_judge import SecondJudge
from audio_library.media.tags import read_cover


MAX_NUMBERED_NAMES = 10_000  # "name (10000).mp3": past that, something other than uploads fills the folder


@dataclass(frozen=True)
class Committed:
    """The outcome of putting one received file in place: its entry in the library and how it got there."""

    entry: Entry
    status: str  # "stored", "renamed" (the name was taken by other bytes) or "duplicate" (same bytes there)


class Library:
    """One library folder: listing, lookup, atomic storing, deleting."""

    def __init__(self, root: Path, transcodes: int = DEFAULT_TRANSCODES) -> None:
        """Open (creating if needed) the folder, check it is writable and remove stale temporary files;
        `transcodes` is how many playable copies may be made at once.

        Raises LibraryError with a one-line explanation if the folder cannot be used.
        """
        self.root = root.absolute()
        self.lock = FolderLock(self.root)
        self.removed_stale = self.lock.remove_stale()
        self.examiner = Examiner(SecondJudge())
        self.catalog = Catalog(self.root, self.lock.temp_name, self.examiner)
        self.catalog.start()
        self.transcoder = Transcoder(self.root, self.lock.temp_name, transcodes)

    def close(self) -> None:
        """Save the metadata cache and release this process's claim on the folder."""
        if self.lock.held:
            self.catalog.close()
            self.lock.release()

    def listing(self) -> Listing:
        """The current listing: entries, their JSON, and how many files are still being examined."""
        return self.catalog.listing()

    def entry(self, name: str) -> Entry | None:
        """The audio file called `name`, or None: absent, hidden, not a plain file, not audio, or not a name."""
        file_name = disk_name(name)
        if file_name is None or not is_plain_name(file_name):
            return None
        return self.catalog.entry(file_name)

    def path(self, entry: Entry) -> Path:
        """Where the bytes of an entry are."""
        return self.root / entry.on_disk

    def open(self, entry: Entry, *, buffered: bool = True) -> tuple[BinaryIO, os.stat_result]:
        """Open an entry's file for reading, never through a link, with its stat; FileNotFoundError if it is
        gone or no longer a plain file."""
        stream = open_regular(self.path(entry), buffered=buffered)
        return stream, os.fstat(stream.fileno())

    def cover(self, entry: Entry, stream: BinaryIO, info: os.stat_result) -> Cover | None:
        """The cover picture of an entry's file, opened unbuffered (`open`), or None if it has none.

        It is read from where examining this version of the file (size and mtime of the open file) found it; a
        version not examined yet is examined first: a range of the file, or the base64 value of an Ogg or FLAC
        comment, found again from the pages' or blocks' headers. Only a cover that lies nowhere as it is (an
        unsynchronised ID3 frame) needs the tags read again, within their bounds.
        """
        facts = self.catalog.facts((entry.on_disk, info.st_size, info.st_mtime_ns))
        if facts is None or facts.type is None or not facts.tags.cover:
            return None
        span = facts.tags.cover_span
        if span is None:  # an unsynchronised ID3 frame, or a format only FFmpeg reads (in a child)
            return read_cover(stream, facts.type) or self.examiner.judge.cover(stream, facts.type)
        return comment_cover(stream, facts.type, span) if facts.tags.cover_in_comment else cover_at(stream, span)

    def delete(self, name: str) -> bool:
        """Delete the audio file called `name`; False if there is none."""
        entry = self.entry(name)
        if entry is None:
            return False
        try:
            self.path(entry).unlink()
        except FileNotFoundError:  # another request deleted it first
            return False
        self.transcoder.forget(entry.on_disk)
        return True

    def playable(self, entry: Entry, kind: str) -> BinaryIO:
        """A copy of an entry's audio that browsers play (kind: a key of PLAYABLE_TYPES), opened; made on first
        use. Raises FileNotFoundError if the file is gone, TranscodersBusyError or TranscodeError."""
        stream, info = self.open(entry, buffered=False)
        with stream:
            key = (entry.on_disk, info.st_size, info.st_mtime_ns)
            copy = self.transcoder.open(stream, key, entry.duration, kind)
        self.transcoder.sweep(listed.on_disk for listed in self.listing().entries)
        return copy

    def create_temporary(self) -> tuple[Path, BinaryIO]:
        """Create an empty hidden temporary file in the folder for an upload; the caller removes it."""
        path = self.root / self.lock.temp_name("upload")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        return path, os.fdopen(descriptor, "wb")

    def examine(self, path: Path) -> Facts:
        """What the bytes of a file say (type None: not audio); raises OSError if it cannot be read."""
        return self.examiner.examine(path)

    def commit(self, temporary: Path, sent_name: str, facts: Facts) -> Committed:
        """Give the complete, validated temporary file a name in the library, never replacing a file.

        The name is the sanitized sent name; if it is taken by the same bytes (facts.sha256) the upload is a
        duplicate and nothing is added; if taken by other bytes, "name (2).ext", "name (3).ext", ... are tried.
        The temporary file itself is left for the caller to remove.
        """
        if facts.type is None:
            raise ValueError(f"{sent_name!r} is not audio: only validated files are committed")
        base = sanitize_filename(sent_name)
        size = temporary.stat().st_size
        _sync(temporary)  # its bytes reach the disk before its name does
        for number in range(1, MAX_NUMBERED_NAMES + 1):
            candidate = numbered_name(base, number)
            final = self.root / candidate
            try:
                os.link(temporary, final)
            except FileExistsError:
                if facts.sha256 is not None and (held := self._holding(candidate, size, facts.sha256)) is not None:
                    return Committed(make_entry(candidate, size, facts, held), "duplicate")
                continue
            _sync(self.root)
            info = final.lstat()
            self.catalog.remember((candidate, info.st_size, info.st_mtime_ns), facts)
            entry = make_entry(candidate, info.st_size, facts, info.st_mtime_ns)
            return Committed(entry, "stored" if number == 1 else "renamed")
        raise FileExistsError(f"every name from {base!r} to {numbered_name(base, MAX_NUMBERED_NAMES)!r} is taken")

    def withdraw(self, name: str) -> None:
        """Remove a file this request has just committed, when a later step of the same request failed."""
        (self.root / name).unlink(missing_ok=True)

    def _holding(self, name: str, size: int, sha256: str) -> int | None:
        """The mtime_ns of the library's `name` if it is a plain file with exactly these bytes, else None."""
        try:
            info = (self.root / name).lstat()
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            return None
        key = (name, info.st_size, info.st_mtime_ns)
        return info.st_mtime_ns if self.catalog.sha256(key) == sha256 else None


def is_plain_name(name: str) -> bool:
    """True if `name` can only mean a file directly inside the library, and not a hidden one."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\0" not in name


def _sync(path: Path) -> None:
    """Flush a file's bytes, or a folder's entries, to disk: a stored file survives a power cut after the reply."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


__all__ = ["Committed", "Entry", "Facts", "Library", "LibraryError"]
