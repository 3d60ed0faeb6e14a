"""GET /files/<name>: the bytes for the player, with the detected type, ranges and validators."""

import os
import shutil
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import pytest
from audio_library.library.entries import Entry
from audio_library.library.storage import Library
from flask.testing import FlaskClient

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import FIXTURES, fixture_bytes


def test_a_file_is_served_with_its_detected_type_not_its_extension(client: FlaskClient) -> None:
    ogg = fixture_bytes("ogg-named.mp3")
    upload(client, ("ogg-named.mp3", ogg))
    response = client.get("/files/ogg-named.mp3")
    assert response.status_code == 200
    assert response.data == ogg
    assert response.mimetype == "audio/ogg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"]
    assert response.headers["Last-Modified"]
    assert response.headers["Content-Disposition"] == "inline; filename=ogg-named.mp3"


def test_a_range_request_gets_206_with_just_those_bytes(client: FlaskClient) -> None:
    song = noise_wav(4)
    upload(client, ("song.wav", song))
    response = client.get("/files/song.wav", headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.data == song[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(song)}"
    tail = client.get("/files/song.wav", headers={"Range": "bytes=-10"})
    assert tail.data == song[-10:]


def test_an_unsatisfiable_range_is_416(client: FlaskClient) -> None:
    upload(client, ("song.wav", noise_wav(4)))
    response = client.get("/files/song.wav", headers={"Range": "bytes=999999-"})
    assert response.status_code == 416


def test_validators_give_304_when_unchanged(client: FlaskClient) -> None:
    upload(client, ("song.wav", noise_wav(4)))
    first = client.get("/files/song.wav")
    etag = first.headers["ETag"]
    assert client.get("/files/song.wav", headers={"If-None-Match": etag}).status_code == 304
    since = first.headers["Last-Modified"]
    assert client.get("/files/song.wav", headers={"If-Modified-Since": since}).status_code == 304


def test_a_unicode_name_is_served_inline_with_an_rfc_5987_filename(client: FlaskClient) -> None:
    upload(client, ("Песня про зайцев.wav", noise_wav(1)))
    response = client.get(
        "/files/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F%20%D0%BF%D1%80%D0%BE%20%D0%B7%D0%B0%D0%B9%D1%86%D0%B5%D0%B2.wav"
    )
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=UTF-8''%D0%9F%D0%B5%D1%81%D0%BD%D1%8F%20" in disposition
    assert 'filename="Pesnya pro zaytsev.wav"' in disposition


def test_download_asks_for_an_attachment(client: FlaskClient) -> None:
    upload(client, ("song.wav", noise_wav(1)))
    response = client.get("/files/song.wav?download=1")
    assert response.headers["Content-Disposition"] == "attachment; filename=song.wav"


def test_a_missing_file_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/files/nothing.mp3")
    assert response.status_code == 404
    assert response.json == {"error": 'There is no audio file named "nothing.mp3" in the library.'}


@pytest.mark.parametrize(
    "path", ["/files/.metadata.json", "/files/.hidden.wav", "/files/..%2F..%2Fetc%2Fpasswd", "/files/../conftest.py"]
)
def test_hidden_files_and_paths_outside_are_never_served(client: FlaskClient, library_dir: Path, path: str) -> None:
    assert upload(client, ("song.wav", noise_wav(1))).status_code == 201
    assert client.get("/api/files").status_code == 200  # the listing saves the metadata cache
    assert (library_dir / ".metadata.json").is_file()  # so the hidden files asked for really exist
    (library_dir / ".hidden.wav").write_bytes(noise_wav(2))  # audio, so only its leading dot keeps it out

    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json


def test_non_audio_copied_in_by_hand_is_neither_listed_nor_served(client: FlaskClient, library_dir: Path) -> None:
    shutil.copy(FIXTURES / "page.html", library_dir / "page.mp3")
    shutil.copy(FIXTURES / "image.svg", library_dir / "image.svg")
    assert client.get("/api/files").json == []
    for name in ("page.mp3", "image.svg"):
        response = client.get(f"/files/{name}")
        assert response.status_code == 404
        assert response.mimetype == "application/json"


def test_a_symlink_is_not_followed_out_of_the_library(client: FlaskClient, library_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.wav"
    outside.write_bytes(noise_wav(1))
    os.symlink(outside, library_dir / "link.wav")
    assert client.get("/api/files").json == []
    assert client.get("/files/link.wav").status_code == 404
    assert client.delete("/api/files/link.wav").status_code == 404
    assert outside.exists()


def test_a_name_that_is_not_utf8_is_listed_served_and_deleted(client: FlaskClient, library_dir: Path) -> None:
    song = noise_wav(4)
    on_disk_name = os.fsdecode(b"caf\xe9.wav")  # Latin-1, as copied from an old system
    (library_dir / on_disk_name).write_bytes(song)
    listed = client.get("/api/files")
    assert listed.status_code == 200
    assert [entry["name"] for entry in listed.json] == ["caf\\xe9.wav"]  # type: ignore[union-attr]
    served = client.get("/files/caf%5Cxe9.wav")
    assert served.status_code == 200
    assert served.data == song
    assert client.delete("/api/files/caf%5Cxe9.wav").status_code == 204
    assert not (library_dir / on_disk_name).exists()


def test_a_replacement_character_never_stands_for_a_byte(client: FlaskClient, library_dir: Path) -> None:
    for raw in (b"caf\xe9.wav", b"caf\xe8.wav"):
        (library_dir / os.fsdecode(raw)).write_bytes(noise_wav(raw[3]))
    assert len(client.get("/api/files").json) == 2  # type: ignore[arg-type]
    assert client.get("/files/caf%EF%BF%BD.wav").status_code == 404
    assert client.delete("/api/files/caf%EF%BF%BD.wav").status_code == 404


def test_a_file_deleted_between_lookup_and_open_is_a_404(
    client: FlaskClient, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(client, ("song.wav", noise_wav(1)))

    real_open = Library.open

    def delete_then_open(library: Library, entry: Entry) -> tuple[BinaryIO, os.stat_result]:
        library.path(entry).unlink()  # another request's DELETE wins the race
        return real_open(library, entry)

    monkeypatch.setattr(Library, "open", delete_then_open)
    response = client.get("/files/song.wav")
    assert response.status_code == 404
    assert response.is_json


def test_a_name_with_a_newline_copied_in_by_hand_is_listed_and_served(client: FlaskClient, library_dir: Path) -> None:
    song = noise_wav(5)
    (library_dir / "two\nlines.wav").write_bytes(song)
    assert [entry["name"] for entry in client.get("/api/files").json] == ["two\nlines.wav"]  # type: ignore[union-attr]
    served = client.get("/files/two%0Alines.wav?download=1")
    assert served.status_code == 200
    assert served.data == song
    assert served.headers["Content-Disposition"] == "attachment; filename=two_lines.wav"


def test_names_alike_but_for_a_byte_are_listed_and_served_apart(client: FlaskClient, library_dir: Path) -> None:
    for raw in (b"caf\xe9.wav", b"caf\xe8.wav"):
        (library_dir / os.fsdecode(raw)).write_bytes(noise_wav(raw[3]))
    listed = [entry["name"] for entry in client.get("/api/files").json]  # type: ignore[union-attr]
    assert listed == ["caf\\xe8.wav", "caf\\xe9.wav"]
    assert client.get("/files/caf%5Cxe9.wav").data == noise_wav(0xE9)
    assert client.delete("/api/files/caf%5Cxe8.wav").status_code == 204
    assert not (library_dir / os.fsdecode(b"caf\xe8.wav")).exists()


def test_a_long_name_that_is_not_utf8_is_served(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / os.fsdecode(b"\xff" * 200 + b".wav")).write_bytes(noise_wav(7))
    (name,) = [entry["name"] for entry in client.get("/api/files").json]  # type: ignore[union-attr]
    assert name == "\\xff" * 200 + ".wav"
    assert client.get(f"/files/{quote(name)}").data == noise_wav(7)
