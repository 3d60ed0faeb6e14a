"""Fixtures for the CLI tests: a real server on a temporary library, and the client pointed at it."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.servers import audio_server
from tests.cli.screwdriver_runs import Screwdriver


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder for the local files a test uploads or downloads."""
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


@pytest.fixture
def screwdriver(library_dir: Path) -> Iterator[Screwdriver]:
    """The client against a fresh server on an empty temporary library."""
    with audio_server(library_dir) as server:
        yield Screwdriver(server)
