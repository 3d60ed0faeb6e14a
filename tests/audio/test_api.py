"""The JSON API through Flask's test client: listing, uploading, deleting, and JSON errors."""

import io
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from audio_library import create_app
from audio_library.library import catalog, metadata_cache
from audio_library.library.entries import Listing
from audio_library.library.storage import Library
from audio_library.media import examiner
from audio_library.media.detection import detect_audio_type
from audio_library.web.api import UNEXAMINED_HEADER
from audio_library.web.current_library import get_library
from flask import Flask
from flask.testing import FlaskClient

from devtools.multipart import BOUNDARY, CONTENT_TYPE, PART_TAIL, Part, multipart
from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes, on_disk
from tests.polling import wait_until


WAV_HEADER = 44
FEED_PIECE = 16 * 1024  # what uploads.py feeds the decoder at a time: a quarter of the 64 KiB field limit


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_an_empty_library_lists_nothing(client: FlaskClient) -> None:
    response = client.get("/api/files")
    assert response.status_code == 200
    assert response.json == []


def test_an_upload_is_stored_and_listed_with_its_detected_type(client: FlaskClient, library_dir: Path) -> None:
    song = noise_wav(1)
    response = upload(client, ("song.wav", song))
    assert response.status_code == 201
    (stored,) = response.json["files"]  # type: ignore[index]
    assert stored["name"] == "song.wav"
    assert stored["sent_name"] == "song.wav"
    assert stored["status"] == "stored"
    assert stored["size"] == len(song)
    assert stored["type"].startswith("audio/")
    assert stored["duration"] == pytest.approx(0.25, abs=0.01)
    assert ISO_UTC.match(stored["modified"])
    assert (library_dir / "song.wav").read_bytes() == song
    listed = client.get("/api/files").json
    fields = ("name", "size", "type", "duration", "modified", "title", "artist", "album", "track", "cover")
    assert listed == [{key: stored[key] for key in fields}]


def test_the_listing_is_sorted_by_name(client: FlaskClient) -> None:
    for number, name in enumerate(["b.wav", "c.wav", "a.wav"]):
        assert upload(client, (name, noise_wav(number))).status_code == 201
    assert [entry["name"] for entry in client.get("/api/files").json] == ["a.wav", "b.wav", "c.wav"]  # type: ignore[union-attr]


def test_several_parts_are_stored_in_one_request(client: FlaskClient) -> None:
    response = upload(
        client, ("one.wav", noise_wav(1)), ("two.ogg", fixture_bytes("ogg-named.mp3")), ("three.mp3", noise_wav(3))
    )
    assert response.status_code == 201
    files = response.json["files"]  # type: ignore[index]
    assert [(item["name"], item["status"]) for item in files] == [
        ("one.wav", "stored"),
        ("two.ogg", "stored"),
        ("three.mp3", "stored"),
    ]
    assert files[1]["type"] == "audio/ogg"


def test_the_same_bytes_again_are_a_duplicate_and_not_copied(client: FlaskClient, library_dir: Path) -> None:
    song = noise_wav(7)
    assert upload(client, ("song.wav", song)).status_code == 201
    again = upload(client, ("song.wav", song))
    assert again.status_code == 200
    assert again.json["files"][0]["status"] == "duplicate"  # type: ignore[index]
    assert again.json["files"][0]["name"] == "song.wav"  # type: ignore[index]
    assert on_disk(library_dir) == ["song.wav"]


def test_other_bytes_under_a_taken_name_are_stored_under_a_new_name(client: FlaskClient, library_dir: Path) -> None:
    first, second, third = noise_wav(1), noise_wav(2), noise_wav(3)
    upload(client, ("song.wav", first))
    response = upload(client, ("song.wav", second), ("song.wav", third), ("song.wav", second))
    assert response.status_code == 201
    assert [(item["name"], item["status"]) for item in response.json["files"]] == [  # type: ignore[index]
        ("song (2).wav", "renamed"),
        ("song (3).wav", "renamed"),
        ("song (2).wav", "duplicate"),
    ]
    assert (library_dir / "song.wav").read_bytes() == first
    assert (library_dir / "song (2).wav").read_bytes() == second
    assert (library_dir / "song (3).wav").read_bytes() == third


def test_a_non_audio_part_rejects_the_whole_request(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("good.wav", noise_wav(1)), ("photo.mp3", fixture_bytes("image.jpg")))
    assert response.status_code == 415
    assert response.json == {"error": "Non-audio file detected: photo.mp3", "name": "photo.mp3"}
    assert on_disk(library_dir) == []


@pytest.mark.parametrize("name", ["image.jpg", "image.svg", "page.html", "document.pdf", "notes.txt"])
def test_non_audio_is_rejected_with_the_message_the_page_shows(
    client: FlaskClient, library_dir: Path, name: str
) -> None:
    response = upload(client, (name, fixture_bytes(name)))
    assert response.status_code == 415
    assert response.json["error"] == f"Non-audio file detected: {name}"  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_an_empty_file_is_not_audio(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("silence.mp3", b""))
    assert response.status_code == 415
    assert on_disk(library_dir) == []


def test_a_unicode_name_is_kept(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("Песня про зайцев.wav", noise_wav(1)))
    assert response.json["files"][0]["name"] == "Песня про зайцев.wav"  # type: ignore[index]
    assert (library_dir / "Песня про зайцев.wav").is_file()
    assert client.get("/api/files").json[0]["name"] == "Песня про зайцев.wav"  # type: ignore[index]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../escape.wav", "_.._escape.wav"),
        ("/etc/passwd.wav", "_etc_passwd.wav"),
        (".hidden.wav", "hidden.wav"),
        ("..", "unnamed"),
        ("tab\there\x7f.wav", "tab_here_.wav"),
    ],
)
def test_a_dangerous_name_is_neutralised_inside_the_library(
    client: FlaskClient, tmp_path: Path, library_dir: Path, sent: str, stored: str
) -> None:
    response = upload(client, (sent, noise_wav(1)))
    assert response.status_code == 201
    assert response.json["files"][0]["name"] == stored  # type: ignore[index]
    assert response.json["files"][0]["sent_name"] == sent  # type: ignore[index]
    assert on_disk(library_dir) == [stored]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["library"]


def test_no_file_part_is_a_400(client: FlaskClient) -> None:
    response = client.post("/api/files", data={"other": "value"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "part named" in response.json["error"]  # type: ignore[index]


def test_a_file_part_with_an_empty_name_is_a_400(client: FlaskClient, library_dir: Path) -> None:
    response = client.post("/api/files", data={"file": (io.BytesIO(b""), "")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "empty file name" in response.json["error"]  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_a_body_that_is_not_multipart_is_a_400(client: FlaskClient) -> None:
    response = client.post("/api/files", data=noise_wav(1), content_type="audio/wav")
    assert response.status_code == 400
    assert "multipart/form-data" in response.json["error"]  # type: ignore[index]


def test_a_truncated_multipart_body_is_a_400_and_leaves_nothing(client: FlaskClient, library_dir: Path) -> None:
    body = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n' + noise_wav(1)
    response = client.post("/api/files", data=body, content_type="multipart/form-data; boundary=XyZ")
    assert response.status_code == 400
    assert "malformed" in response.json["error"]  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_a_multipart_body_without_boundary_is_a_400(client: FlaskClient) -> None:
    response = client.post("/api/files", data=b"whatever", content_type="multipart/form-data")
    assert response.status_code == 400
    assert "boundary" in response.json["error"]  # type: ignore[index]


def test_delete_removes_the_file(client: FlaskClient, library_dir: Path) -> None:
    upload(client, ("Песня.wav", noise_wav(1)))
    response = client.delete("/api/files/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F.wav")
    assert response.status_code == 204
    assert response.data == b""
    assert on_disk(library_dir) == []
    assert client.get("/api/files").json == []


def test_deleting_a_missing_file_is_a_json_404(client: FlaskClient) -> None:
    response = client.delete("/api/files/nothing.wav")
    assert response.status_code == 404
    assert response.json == {"error": 'There is no audio file named "nothing.wav" in the library.'}


def test_hidden_files_cannot_be_deleted(client: FlaskClient, library_dir: Path) -> None:
    assert upload(client, ("song.wav", noise_wav(1))).status_code == 201
    assert client.get("/api/files").status_code == 200  # the listing saves the metadata cache
    cache = library_dir / ".metadata.json"
    assert cache.is_file()

    hidden_audio = library_dir / ".hidden.wav"  # audio, so only its leading dot keeps it out
    hidden_audio.write_bytes(noise_wav(2))

    assert client.delete("/api/files/.metadata.json").status_code == 404
    assert client.delete("/api/files/.hidden.wav").status_code == 404
    assert cache.is_file()
    assert hidden_audio.is_file()
    assert any(path.name.startswith(".instance-") for path in library_dir.iterdir())


def test_unknown_routes_are_json_404s(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert response.is_json
    assert response.json == {"error": "There is no such file or page."}


def test_a_wrong_method_is_a_json_405_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/files")
    assert response.status_code == 405
    assert response.json == {"error": "The method PUT is not allowed here."}
    assert "POST" in response.headers["Allow"]


def test_an_unexpected_failure_is_a_json_500_without_traceback(
    client: FlaskClient, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Listing:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(library, "listing", broken)
    response = client.get("/api/files")
    assert response.status_code == 500
    assert response.json == {"error": "The server failed to handle this request."}
    assert b"secret" not in response.data
    assert b"Traceback" not in response.data


def test_every_response_forbids_sniffing(client: FlaskClient) -> None:
    assert client.get("/api/files").headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/missing").headers["X-Content-Type-Options"] == "nosniff"


class GatedDetect:
    """A detector that holds the files named `held` until `release` is set, and counts what it examines."""

    def __init__(self, real: Callable[[Path], str | None], *held: str) -> None:
        self.real = real
        self.held = set(held)
        self.release = threading.Event()
        self.examined: list[str] = []

    def __call__(self, path: Path) -> str | None:
        if path.name in self.held:
            self.release.wait(timeout=30)
        self.examined.append(path.name)
        return self.real(path)


def test_the_listing_says_how_many_files_are_not_examined_yet(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a.wav", "held.wav", "z.wav"):
        (library_dir / name).write_bytes(noise_wav(len(name) + ord(name[0])))
    detect = GatedDetect(detect_audio_type, "held.wav")
    monkeypatch.setattr(examiner, "detect_audio_type", detect)
    monkeypatch.setattr(catalog, "LISTING_WAIT_S", 0.2)
    try:
        response = client.get("/api/files")
        assert response.headers[UNEXAMINED_HEADER] == "2"  # held.wav, and z.wav queued behind it
        assert [entry["name"] for entry in response.json] == ["a.wav"]  # type: ignore[union-attr]
    finally:
        detect.release.set()
    wait_until(lambda: client.get("/api/files").headers[UNEXAMINED_HEADER] == "0", "every file examined")
    assert [entry["name"] for entry in client.get("/api/files").json] == ["a.wav", "held.wav", "z.wav"]  # type: ignore[union-attr]


def test_concurrent_listings_share_one_examination(
    app: Flask, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(40):
        (library_dir / f"{number:02}.wav").write_bytes(noise_wav(number))
    detect = GatedDetect(detect_audio_type, "00.wav")
    monkeypatch.setattr(examiner, "detect_audio_type", detect)
    answers: list[int] = []

    def list_files() -> None:
        answers.append(len(app.test_client().get("/api/files").json))  # type: ignore[arg-type]

    threads = [threading.Thread(target=list_files) for _ in range(8)]
    for thread in threads:
        thread.start()
    detect.release.set()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [40] * 8
    assert sorted(detect.examined) == [f"{number:02}.wav" for number in range(40)]  # each file once


def test_downloads_and_uploads_are_answered_while_files_wait_to_be_examined(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert upload(client, ("known.wav", noise_wav(1))).status_code == 201
    (library_dir / "held.wav").write_bytes(noise_wav(2))
    detect = GatedDetect(detect_audio_type, "held.wav")
    monkeypatch.setattr(examiner, "detect_audio_type", detect)
    monkeypatch.setattr(catalog, "LISTING_WAIT_S", 30.0)
    listing = threading.Thread(target=client.application.test_client().get, args=("/api/files",))
    listing.start()
    try:
        wait_until(lambda: bool(library.catalog._queued), "the listing hands held.wav to the examiner")
        assert client.get("/files/known.wav").status_code == 200
        assert upload(client, ("new.wav", noise_wav(3))).status_code == 201
        assert listing.is_alive()  # still waiting for held.wav: neither request waited for it
    finally:
        detect.release.set()
        listing.join(timeout=30)


def test_start_up_examines_the_library_in_the_background(library_dir: Path) -> None:
    for number in range(30):
        (library_dir / f"{number:02}.wav").write_bytes(noise_wav(number))
    app = create_app({"LIBRARY_DIR": library_dir})
    try:
        cache = library_dir / metadata_cache.CACHE_FILE
        # No request has been made: the examiner found the files by itself and saved what it learnt.
        wait_until(lambda: cache.is_file() and len(json.loads(cache.read_text())["files"]) == 30, "the cache saved")
        response = app.test_client().get("/api/files")
        assert response.headers[UNEXAMINED_HEADER] == "0"
        assert len(response.json) == 30  # type: ignore[arg-type]
    finally:
        get_library(app).close()


def test_an_rfc_2231_boundary_that_is_not_ascii_is_a_400(client: FlaskClient) -> None:
    content_type = "multipart/form-data; boundary*=UTF-8''%E2%82%AC"
    response = client.post("/api/files", data="--\u20ac--".encode(), content_type=content_type)
    assert response.status_code == 400
    assert response.json == {"error": "The multipart boundary must be ASCII (RFC 2046)."}


def test_a_name_whose_numbered_variants_are_all_taken_is_a_409(client: FlaskClient, library_dir: Path) -> None:
    upload(client, ("full.wav", noise_wav(1)))
    for number in range(2, 10_001):
        (library_dir / f"full ({number}).wav").touch()
    response = upload(client, ("full.wav", noise_wav(2)))
    assert response.status_code == 409
    assert "rename it and upload again" in response.json["error"]  # type: ignore[index]


@pytest.mark.parametrize("past", range(-1, 5))
def test_a_body_cut_inside_the_closing_delimiter_stores_the_exact_bytes(
    client: FlaskClient, library_dir: Path, past: int
) -> None:
    # The body reaches werkzeug's decoder in 16 KiB pieces; one that ended after the closing "\r\n--boundary"
    # but before its "--\r\n" made the decoder store the CR as the file's last byte. The cut is put there.
    head = len(multipart([Part(b"")])) - len(PART_TAIL)
    size = FEED_PIECE - head - len(f"\r\n--{BOUNDARY}") + past
    content = noise_wav(size, seconds=1)[:WAV_HEADER] + b"x" * (size - WAV_HEADER)  # no CR or LF near the end
    response = client.post("/api/files", data=multipart([Part(content)]), content_type=CONTENT_TYPE)
    assert response.status_code == 201, response.json
    assert (library_dir / "song.wav").read_bytes() == content
