"""Fixtures for the audio library tests: a fresh app on a temporary library folder per test."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from audio_library import create_app
from audio_library.library.storage import Library
from audio_library.web.current_library import get_library
from flask import Flask
from flask.testing import FlaskClient


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
