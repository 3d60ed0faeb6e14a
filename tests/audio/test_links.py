"""No link is followed: a symbolic link (or a FIFO) swapped in after a name was checked is never opened."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from audio_library.library.entries import Entry
from audio_library.library.storage import Library
from audio_library.media import examiner
from audio_library.media.detection import detect_audio_type
from flask.testing import FlaskClient

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes


SECRET = b"the server's private key, outside the library"


def link_to_outside(path: Path) -> None:
    outside = path.parent.parent / "outside.wav"
    outside.write_bytes(noise_wav(99) + SECRET)
    path.unlink()
    os.symlink(outside, path)


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # opening it for reading without O_NONBLOCK would wait for a writer forever


def swap_after_lookup(monkeypatch: pytest.MonkeyPatch, swap: Callable[[Path], None]) -> None:
    """Make every lookup of a name swap the file for something else right after the check has passed."""
    real_entry = Library.entry

    def entry_then_swap(library: Library, name: str) -> Entry | None:
        found = real_entry(library, name)
        if found is not None:
            swap(library.path(found))
        return found

    monkeypatch.setattr(Library, "entry", entry_then_swap)


@pytest.mark.parametrize("route", ["/files/song.mp3", "/files/song.mp3/cover"], ids=["download", "cover"])
@pytest.mark.parametrize("swap", [link_to_outside, fifo], ids=["link", "fifo"])
def test_a_file_swapped_after_the_check_is_a_404(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, swap: Callable[[Path], None], route: str
) -> None:
    assert upload(client, ("song.mp3", fixture_bytes("mp3-cover-art.mp3"))).status_code == 201
    assert client.get("/files/song.mp3/cover").status_code == 200
    swap_after_lookup(monkeypatch, swap)
    response = client.get(route)
    assert response.status_code == 404
    assert response.is_json
    assert SECRET not in response.get_data()


def test_a_duplicate_check_does_not_hash_a_file_behind_a_link(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    song = noise_wav(2)
    (library_dir / "song.wav").write_bytes(song)  # copied in by hand: its digest is not known yet
    assert [entry["name"] for entry in client.get("/api/files").json] == ["song.wav"]  # type: ignore[union-attr]
    outside = library_dir.parent / "outside.wav"
    outside.write_bytes(song)
    real_sha256 = library.catalog.sha256

    def swap_then_hash(key: tuple[str, int, int]) -> str | None:
        link_to_outside_keeping(library_dir / key[0], outside)
        return real_sha256(key)

    monkeypatch.setattr(library.catalog, "sha256", swap_then_hash)
    # The same bytes sent again: the name is taken, its digest is needed, and it is now a link to a copy.
    response = upload(client, ("song.wav", song))
    assert response.status_code == 201
    assert response.json["files"][0]["status"] == "renamed"  # type: ignore[index]


def link_to_outside_keeping(path: Path, outside: Path) -> None:
    path.unlink()
    os.symlink(outside, path)


def test_a_file_swapped_for_a_link_before_it_is_examined_is_not_listed(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (library_dir / "song.wav").write_bytes(noise_wav(3))
    real_detect = detect_audio_type

    def swap_then_detect(path: Path) -> str | None:
        link_to_outside(path)  # between the folder scan and the examination
        return real_detect(path)

    monkeypatch.setattr(examiner, "detect_audio_type", swap_then_detect)
    assert client.get("/api/files").json == []
