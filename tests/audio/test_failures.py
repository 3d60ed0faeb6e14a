"""Every way the folder or disk can fail under a request is a clear JSON status, never a 500 or a hang-up."""

import errno
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from audio_library.library.storage import Library
from audio_library.media import examiner
from audio_library.media.detection import detect_audio_type
from flask.testing import FlaskClient

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import on_disk


def failing(error_number: int) -> Any:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(error_number, os.strerror(error_number))

    return fail


@pytest.mark.parametrize(
    ("error_number", "status"),
    [(errno.EACCES, 403), (errno.EROFS, 403), (errno.ENOSPC, 507), (errno.EMFILE, 503), (errno.EIO, 500)],
    ids=["permission", "read-only", "full", "too-many-open", "io"],
)
def test_an_upload_the_folder_refuses_is_a_clear_json_status(
    client: FlaskClient, library: Library, monkeypatch: pytest.MonkeyPatch, error_number: int, status: int
) -> None:
    monkeypatch.setattr(library, "create_temporary", failing(error_number))
    response = upload(client, ("song.wav", noise_wav(1)))
    assert response.status_code == status
    message = response.json["error"]  # type: ignore[index]
    assert "disk is full" in message if status == 507 else os.strerror(error_number) in message
    if status == 503:
        assert response.headers["Retry-After"] == "1"
    assert on_disk(library.root) == []


@pytest.mark.parametrize(("error_number", "status"), [(errno.EACCES, 403), (errno.EROFS, 403)])
def test_a_delete_the_folder_refuses_is_a_403_and_keeps_the_file(
    client: FlaskClient, library_dir: Path, monkeypatch: pytest.MonkeyPatch, error_number: int, status: int
) -> None:
    assert upload(client, ("song.wav", noise_wav(1))).status_code == 201
    monkeypatch.setattr(Path, "unlink", failing(error_number))
    response = client.delete("/api/files/song.wav")
    assert response.status_code == status
    assert response.is_json
    page = client.post("/delete/song.wav")
    assert page.status_code == status
    assert page.mimetype == "text/html"
    monkeypatch.undo()
    assert on_disk(library_dir) == ["song.wav"]


def test_a_file_the_server_may_no_longer_read_is_a_403(
    client: FlaskClient, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert upload(client, ("song.wav", noise_wav(1))).status_code == 201  # known, so listed from the cache
    monkeypatch.setattr(Library, "open", failing(errno.EACCES))
    response = client.get("/files/song.wav")
    assert response.status_code == 403
    assert response.is_json


def test_a_removed_library_folder_is_a_404_everywhere(client: FlaskClient, library_dir: Path) -> None:
    assert upload(client, ("song.wav", noise_wav(1))).status_code == 201
    shutil.rmtree(library_dir)
    for response in (client.get("/api/files"), upload(client, ("a.wav", noise_wav(2)))):
        assert response.status_code == 404
        assert "library folder is gone" in response.json["error"]  # type: ignore[index]
    assert client.get("/files/song.wav").status_code == 404
    page = client.get("/")
    assert page.status_code == 404
    assert page.is_json  # the page cannot be rendered without its list: the error alone


def test_a_parser_that_crashes_refuses_the_file_and_the_examiner_goes_on(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_detect = detect_audio_type

    def detect(path: Path) -> str | None:
        if b"crash" in path.read_bytes()[-5:]:
            raise RuntimeError("a bug in a parser")
        return real_detect(path)

    monkeypatch.setattr(examiner, "detect_audio_type", detect)
    response = upload(client, ("bad.wav", noise_wav(1) + b"crash"))
    assert response.status_code == 415
    (library_dir / "copied.wav").write_bytes(noise_wav(2) + b"crash")
    (library_dir / "fine.wav").write_bytes(noise_wav(3))
    listed = client.get("/api/files")
    assert listed.status_code == 200
    assert [entry["name"] for entry in listed.json] == ["fine.wav"]  # type: ignore[union-attr]
    assert listed.headers["X-Library-Unexamined"] == "0"
