"""The task's original client: `GET /` and `POST /` with `Accept: application/json`, against a real server.

Written from what that client does: it asks `/` for JSON, prints `message` and the names in `files`, and
uploads with a multipart form whose file field is `file`. Browsers asking `/` for HTML still get the page.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav
from tests.library_folders import fixture_bytes, on_disk


JSON = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The production server on a free port, serving the test's library folder."""
    with audio_server(library_dir) as running:
        yield running


def post(url: str, name: str, content: bytes, headers: dict[str, str] = JSON) -> requests.Response:
    return requests.post(f"{url}/", files={"file": (name, content)}, headers=headers, timeout=30)


def test_listing_an_empty_library(server: RunningServer) -> None:
    response = requests.get(f"{server.url}/", headers=JSON, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"message": "The library is empty.", "files": []}


def test_an_upload_is_stored_with_201_and_the_names_come_back(server: RunningServer, library_dir: Path) -> None:
    first = post(server.url, "Track 10.wav", noise_wav(1))
    assert first.status_code == 201
    assert first.json() == {"message": "Track 10.wav: Uploaded.", "files": ["Track 10.wav"]}
    second = post(server.url, "track 2.wav", noise_wav(2))
    assert second.json()["files"] == ["track 2.wav", "Track 10.wav"]
    assert on_disk(library_dir) == ["Track 10.wav", "track 2.wav"]
    listed = requests.get(f"{server.url}/", headers=JSON, timeout=10).json()
    assert listed == {"message": "2 audio files in the library.", "files": ["track 2.wav", "Track 10.wav"]}


def test_a_duplicate_is_200_and_a_rename_says_the_new_name(server: RunningServer) -> None:
    song = noise_wav(3)
    assert post(server.url, "song.wav", song).status_code == 201
    again = post(server.url, "song.wav", song)
    assert again.status_code == 200
    assert again.json()["message"] == "song.wav: Already in the library as “song.wav”."
    other = post(server.url, "song.wav", noise_wav(4))
    assert other.status_code == 201
    assert other.json() == {"message": "song.wav: Uploaded as “song (2).wav”.", "files": ["song (2).wav", "song.wav"]}


def test_a_non_audio_file_is_415_and_not_stored(server: RunningServer, library_dir: Path) -> None:
    response = post(server.url, "photo.mp3", fixture_bytes("image.png"))
    assert response.status_code == 415
    body = response.json()
    assert body["message"] == body["error"] == "Non-audio file detected: photo.mp3"
    assert body["files"] == []
    assert on_disk(library_dir) == []


def test_a_form_without_a_file_is_400_with_a_message(server: RunningServer) -> None:
    response = requests.post(f"{server.url}/", data={"other": "x"}, headers=JSON, timeout=10)
    assert response.status_code == 400
    assert "file" in response.json()["message"]


def test_a_cross_origin_upload_is_403_in_the_same_shape(server: RunningServer, library_dir: Path) -> None:
    response = post(server.url, "song.wav", noise_wav(5), {**JSON, "Origin": "https://evil.example"})
    assert response.status_code == 403
    assert set(response.json()) == {"message", "error", "files"}
    assert on_disk(library_dir) == []


def test_browsers_and_clients_without_a_preference_still_get_the_page(server: RunningServer) -> None:
    for headers in (BROWSER, {"Accept": "*/*"}, {}):
        response = requests.get(f"{server.url}/", headers=headers, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
    stored = post(server.url, "song.wav", noise_wav(6), BROWSER)
    assert stored.status_code == 201
    assert stored.headers["Content-Type"].startswith("text/html")


def test_a_refused_client_gets_the_error_alone_not_the_names(server: RunningServer) -> None:
    assert post(server.url, "song.wav", noise_wav(7)).status_code == 201
    response = requests.get(f"{server.url}/", headers={**JSON, "Host": "rebound.example"}, timeout=10)
    assert response.status_code == 403
    assert "files" not in response.json()
    assert "song.wav" not in response.text
