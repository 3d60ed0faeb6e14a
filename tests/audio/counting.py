"""Counting what the audio parsers read: every binary file opened through Path.open adds its reads to a total."""

import io
from pathlib import Path
from typing import Any

import pytest


class CountingFile(io.FileIO):
    """An unbuffered file that adds every byte it reads to a shared total."""

    total = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        CountingFile.total += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        count = super().readinto(buffer)
        CountingFile.total += count
        return count


def count_binary_reads(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Make Path.open count what is read in binary mode from now on; the counter is CountingFile.total."""
    original_open = Path.open

    def counting_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return CountingFile(self, "r") if mode == "rb" else original_open(self, mode, *args, **kwargs)

    CountingFile.total = 0
    monkeypatch.setattr(Path, "open", counting_open)
    return CountingFile
