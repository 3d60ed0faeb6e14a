"""Fixtures for the audio library tests: a fresh app on a temporary library folder per test, and audio to send."""

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audio_library import create_app
from audio_library.extension import get_library
from audio_library.storage import Library
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.servers import REPO


FIXTURES = REPO / "tests" / "fixtures" / "audio"


def fixture_bytes(name: str) -> bytes:
    """The bytes of one file of the shared fixture corpus."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """Where the test's library lives (created by the app)."""
    return tmp_path / "library"


@pytest.fixture
def app(library_dir: Path) -> Iterator[Flask]:
    """A fresh application on an empty temporary library folder."""
    application = create_app({"TESTING": True, "LIBRARY_DIR": library_dir})
    yield application
    get_library(application).close()


@pytest.fixture
def library(app: Flask) -> Library:
    """The Library object the app serves."""
    found: Library = get_library(app)
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client for the app."""
    return app.test_client()


def upload(client: FlaskClient, *files: tuple[str, bytes], **headers: str) -> TestResponse:
    """POST the (name, bytes) pairs as parts named "file" to /api/files."""
    data: dict[str, Any] = {"file": [(io.BytesIO(content), name) for name, content in files]}
    return client.post("/api/files", data=data, content_type="multipart/form-data", headers=headers)


def on_disk(folder: Path) -> list[str]:
    """Every name in the folder, hidden ones included, except the server's own bookkeeping files."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith((".instance-", ".metadata.json")))
