"""The cross-origin guard: pages of other origins cannot upload or delete; clients without those headers can."""

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import on_disk


OWN_ORIGIN = "http://localhost"  # the test client's host


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://localhost:9999"},
        {"Origin": "https://localhost"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": OWN_ORIGIN, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_uploads_from_another_origin_are_refused(
    client: FlaskClient, library_dir: Path, headers: dict[str, str]
) -> None:
    response = upload(client, ("song.wav", noise_wav(1)), **headers)
    assert response.status_code == 403
    assert "may not change this library" in response.json["error"]  # type: ignore[index]
    assert on_disk(library_dir) == []


def test_deletes_from_another_origin_are_refused(client: FlaskClient, library_dir: Path) -> None:
    upload(client, ("song.wav", noise_wav(1)))
    response = client.delete("/api/files/song.wav", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert on_disk(library_dir) == ["song.wav"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": OWN_ORIGIN},
        {"Origin": OWN_ORIGIN + "/"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_own_origin_and_plain_clients_may_upload(client: FlaskClient, headers: dict[str, str]) -> None:
    assert upload(client, ("song.wav", noise_wav(1)), **headers).status_code == 201


def test_reading_from_another_origin_is_not_blocked(client: FlaskClient) -> None:
    response = client.get("/api/files", headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
