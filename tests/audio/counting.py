"""Counting what the audio parsers read: every binary file opened through Path.open adds its reads to a total."""

import io
from pathlib import Path
from typing import Any

import pytest
from audio_library.media import detection
from audio_library.media.formats.limits import BoundedFile


class CountingFile(io.FileIO):
    """An unbuffered file that adds every byte it reads, and every read, to shared totals."""

    total = 0
    calls = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        CountingFile.total += len(data)
        CountingFile.calls += 1
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        CountingFile.total += count
        CountingFile.calls += 1
        return count


def count_binary_reads(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Make Path.open count what is read in binary mode from now on: CountingFile.total bytes in
    CountingFile.calls reads."""
    original_open = Path.open

    def counting_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return CountingFile(self, "r") if mode == "rb" else original_open(self, mode, *args, **kwargs)

    CountingFile.total = CountingFile.calls = 0
    monkeypatch.setattr(Path, "open", counting_open)
    return CountingFile


def record_bounded_files(monkeypatch: pytest.MonkeyPatch) -> list[BoundedFile]:
    """Make detection and probing record the BoundedFile each reads through, to see what each one walked."""
    made: list[BoundedFile] = []

    class RecordedFile(BoundedFile):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(detection, "BoundedFile", RecordedFile)
    return made
