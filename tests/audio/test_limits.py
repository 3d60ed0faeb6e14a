"""Limits and failures: too large, too many parts, oversized fields, a full disk — clear 4xx/5xx JSON, nothing left."""

import errno
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from audio_library import create_app
from audio_library.library.storage import Library
from audio_library.web.current_library import get_library
from flask import Flask
from flask.testing import FlaskClient

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import on_disk


LIMIT = 64 * 1024


@pytest.fixture
def small_app(library_dir: Path) -> Iterator[Flask]:
    """An app whose upload limit is 64 KiB."""
    application = create_app({"LIBRARY_DIR": library_dir, "MAX_CONTENT_LENGTH": LIMIT})
    yield application
    get_library(application).close()


def test_the_default_limit_is_one_gib_under_one_name(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024**3
    assert "MAX_UPLOAD_SIZE" not in app.config


def test_a_body_over_the_limit_is_refused_from_its_content_length(small_app: Flask, library_dir: Path) -> None:
    body = io.BytesIO(b"x" * (LIMIT + 1))
    response = small_app.test_client().post(
        "/api/files", input_stream=body, content_type="multipart/form-data; boundary=B", content_length=LIMIT + 1
    )
    assert response.status_code == 413
    assert response.json == {"error": "The upload is too large: the limit is 64 KiB (65536 bytes) per request."}
    assert body.tell() == 0  # not a byte of the body was read, let alone stored
    assert on_disk(library_dir) == []


def test_a_body_that_grows_past_the_limit_without_a_length_is_refused(small_app: Flask, library_dir: Path) -> None:
    head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'
    body = io.BytesIO(head + noise_wav(1, seconds=8))
    response = small_app.test_client().post(
        "/api/files",
        input_stream=body,
        content_type="multipart/form-data; boundary=B",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert "64 KiB" in response.json["error"]  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_thousands_of_tiny_parts_are_a_clear_413(client: FlaskClient, library_dir: Path) -> None:
    parts = [f'--B\r\nContent-Disposition: form-data; name="f{n}"\r\n\r\nx\r\n'.encode() for n in range(5000)]
    response = client.post(
        "/api/files",
        data=b"".join(parts) + b"--B--\r\n",
        content_type="multipart/form-data; boundary=B",
    )
    assert response.status_code == 413
    assert response.json == {"error": "Too many parts in the form: the limit is 1000."}
    assert on_disk(library_dir) == []


def test_thousands_of_tiny_files_are_a_clear_413_and_leave_nothing(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, *[(f"{n}.wav", b"RIFF") for n in range(1200)])
    assert response.status_code == 413
    assert "Too many parts" in response.json["error"]  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_an_oversized_form_field_is_a_clear_413(client: FlaskClient) -> None:
    response = client.post(
        "/api/files",
        data={"comment": "x" * (200 * 1024), "file": (io.BytesIO(noise_wav(1)), "a.wav")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert response.json == {"error": "A form field is too large: the limit is 64 KiB."}


def test_oversized_part_headers_are_a_clear_413(client: FlaskClient) -> None:
    header = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nX-Junk: ' + b"j" * 300_000
    response = client.post("/api/files", data=header, content_type="multipart/form-data; boundary=B")
    assert response.status_code == 413
    assert response.json == {"error": "The headers of a part are too large."}


class _FillingDisk(io.RawIOBase):
    """A file on a disk with `free` bytes left: writes past that fail with ENOSPC, as the kernel reports it."""

    def __init__(self, free: int) -> None:
        self.free = free

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(memoryview(data))
        if size > self.free:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.free -= size
        return size


@pytest.mark.parametrize("free", [0, 20_000], ids=["full", "filling-up"])
def test_a_full_disk_is_a_507_and_leaves_nothing(library_dir: Path, monkeypatch: pytest.MonkeyPatch, free: int) -> None:
    # A small field limit makes the parser hand over data in 1 KiB pieces, which a buffered file holds back.
    app = create_app({"LIBRARY_DIR": library_dir, "MAX_FORM_MEMORY_SIZE": 4096})
    client = app.test_client()
    library: Library = get_library(app)
    real_create = library.create_temporary

    def create_on_full_disk() -> tuple[Path, BinaryIO]:
        path, sink = real_create()
        sink.close()
        # Buffered like a real file, so bytes may still be waiting when the disk fills and close() fails too.
        return path, io.BufferedWriter(_FillingDisk(free))

    monkeypatch.setattr(library, "create_temporary", create_on_full_disk)
    try:
        response = upload(client, ("song.wav", noise_wav(1, seconds=2)))
    finally:
        library.close()
    assert response.status_code == 507
    assert response.json == {"error": "The library's disk is full: nothing from this upload was stored."}
    assert on_disk(library_dir) == []


def test_a_failure_while_committing_withdraws_the_files_already_committed(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_commit = library.commit
    calls: list[str] = []

    def commit_then_fill_the_disk(temporary: Path, sent_name: str, facts: object) -> object:
        calls.append(sent_name)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_commit(temporary, sent_name, facts)  # type: ignore[arg-type]

    monkeypatch.setattr(library, "commit", commit_then_fill_the_disk)
    response = upload(client, ("one.wav", noise_wav(1)), ("two.wav", noise_wav(2)))
    assert response.status_code == 507
    assert calls == ["one.wav", "two.wav"]
    assert on_disk(library_dir) == []
