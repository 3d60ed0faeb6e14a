"""Fixtures for the CLI tests: the real screwdriver.py run as a subprocess against a real server."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.servers import REPO, RunningServer, audio_server


SCREWDRIVER = REPO / "screwdriver.py"
CLI_TIMEOUT = 120.0


def screwdriver_command(*args: str) -> list[str]:
    """The command line that runs the client with these arguments."""
    return [sys.executable, str(SCREWDRIVER), *args]


def run_screwdriver(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the client to completion with stdout and stderr captured apart, stdin closed."""
    environment = {key: value for key, value in os.environ.items() if key != "SCREWDRIVER_SERVER"}
    return subprocess.run(
        screwdriver_command(*args),
        cwd=cwd,
        env={**environment, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


class Screwdriver:
    """The client pointed at one server, plus direct looks at that server for checking what it did."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = server.url

    def __call__(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_screwdriver("--server", self.url, *args, cwd=cwd)

    def names(self) -> list[str]:
        """The names the server lists, asked without the client."""
        response = requests.get(f"{self.url}/api/files", timeout=10)
        response.raise_for_status()
        return [entry["name"] for entry in response.json()]

    def content(self, name: str) -> bytes:
        """A stored file's bytes, fetched without the client."""
        response = requests.get(f"{self.url}/files/{quote(name, safe='')}", timeout=30)
        response.raise_for_status()
        return response.content


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """An empty library folder for one test."""
    folder = tmp_path / "library"
    folder.mkdir()
    return folder


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder for the local files a test uploads or downloads."""
    folder = tmp_path / "files"
    folder.mkdir()
    return folder


@pytest.fixture
def screwdriver(library: Path) -> Iterator[Screwdriver]:
    """The client against a fresh server on an empty temporary library."""
    with audio_server(library) as server:
        yield Screwdriver(server)


def single_line(text: str) -> str:
    """The text's only line; fails the test if there are more or none."""
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got {text!r}"
    assert "Traceback" not in text
    return lines[0]
