"""GET /files/<name>/playable: stored formats browsers cannot play, re-encoded by FFmpeg in a child and cached.

Each copy is checked by ffprobe (Opus in WebM, or MP3, as long as the original); it is served with Range,
made once, never listed, removed with its file, and the download stays the original bytes.
"""

import json
import os
import struct
import subprocess
import threading
from pathlib import Path

import pytest
import requests
from audio_library import create_app
from audio_library.library.playable_copies import CACHE_FOLDER
from audio_library.web.current_library import get_library
from flask.testing import FlaskClient

from devtools.servers import audio_server, media_children
from tests.audio.flask_client import upload
from tests.fixtures.ffmpeg_formats import tone
from tests.library_folders import fixture_bytes
from tests.polling import wait_until


TOLERANCE_S = 0.1
# What each copy is: its Content-Type, and the container and codec ffprobe finds.
COPIES = {"webm": ("audio/webm;codecs=opus", "matroska,webm", "opus"), "mp3": ("audio/mpeg", "mp3", "mp3")}


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A second of tone in formats no browser plays everywhere: AIFF, AC-3, WMA and CAF."""
    folder = tmp_path_factory.mktemp("originals")
    tone(folder / "tone.ac3", "-c:a", "ac3", "-b:a", "64k", "-ar", "48000")
    tone(folder / "tone.wma", "-c:a", "wmav2", "-b:a", "24k")
    tone(folder / "tone.caf", "-c:a", "alac")
    found = {path.name: path.read_bytes() for path in folder.iterdir()}
    found["tone.aiff"] = fixture_bytes("aiff.aiff")
    return found


def probe(data: bytes, folder: Path) -> dict[str, str]:
    """What ffprobe says of a copy: its container, codec and duration."""
    path = folder / "probed"
    path.write_bytes(data)
    entries = "format=format_name,duration:stream=codec_name"
    command = ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)]
    result = json.loads(subprocess.run(command, capture_output=True, check=True, timeout=30).stdout)
    return {
        "format": result["format"]["format_name"],
        "duration": result["format"]["duration"],
        "codec": result["streams"][0]["codec_name"],
    }


def cached(library_dir: Path) -> list[str]:
    """The copies in the cache folder."""
    folder = library_dir / CACHE_FOLDER
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("name", ["tone.aiff", "tone.ac3", "tone.wma", "tone.caf"])
@pytest.mark.parametrize("kind", ["webm", "mp3"])
def test_a_copy_plays_as_long_as_the_original(
    client: FlaskClient, originals: dict[str, bytes], tmp_path: Path, name: str, kind: str
) -> None:
    mime, container, codec = COPIES[kind]
    assert upload(client, (name, originals[name])).status_code == 201
    response = client.get(f"/files/{name}/playable?as={kind}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == mime
    assert response.headers["Accept-Ranges"] == "bytes"
    probed = probe(response.data, tmp_path)
    assert probed["format"] == container
    assert probed["codec"] == codec
    assert float(probed["duration"]) == pytest.approx(1.0, abs=TOLERANCE_S)


def test_a_copy_is_made_once_served_with_ranges_and_never_listed(
    client: FlaskClient, library_dir: Path, originals: dict[str, bytes]
) -> None:
    assert upload(client, ("tone.ac3", originals["tone.ac3"])).status_code == 201
    whole = client.get("/files/tone.ac3/playable").data  # webm is the default
    [copy] = cached(library_dir)
    made = (library_dir / CACHE_FOLDER / copy).stat().st_ino
    part = client.get("/files/tone.ac3/playable?as=webm", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part.data == whole[100:200]
    assert (library_dir / CACHE_FOLDER / copy).stat().st_ino == made  # served from the cache, not made again
    assert [entry["name"] for entry in client.get("/api/files").json] == ["tone.ac3"]  # type: ignore[union-attr]
    download = client.get("/files/tone.ac3?download=1")
    assert download.data == originals["tone.ac3"]  # the download is always the original


def test_deleting_or_replacing_a_file_removes_its_copies(
    client: FlaskClient, library_dir: Path, originals: dict[str, bytes]
) -> None:
    assert upload(client, ("tone.wma", originals["tone.wma"])).status_code == 201
    first = client.get("/files/tone.wma/playable?as=mp3").data
    client.get("/files/tone.wma/playable?as=webm")
    assert len(cached(library_dir)) == 2
    assert client.delete("/api/files/tone.wma").status_code == 204
    assert cached(library_dir) == []
    assert upload(client, ("tone.wma", originals["tone.caf"])).status_code == 201  # other bytes, same name
    assert client.get("/files/tone.wma/playable?as=mp3").data != first
    # Replaced by hand (no delete through the API): the old version's copy goes when the new one is made.
    (library_dir / "tone.wma").write_bytes(originals["tone.wma"])
    client.get("/files/tone.wma/playable?as=mp3")
    assert len(cached(library_dir)) == 1


def test_bad_requests_are_refused(client: FlaskClient, library_dir: Path, originals: dict[str, bytes]) -> None:
    assert client.get("/files/nothing.ac3/playable").status_code == 404
    assert upload(client, ("tone.ac3", originals["tone.ac3"])).status_code == 201
    response = client.get("/files/tone.ac3/playable?as=flac")
    assert response.status_code == 400
    assert response.json == {"error": "Ask for ?as=webm (Opus in WebM) or ?as=mp3."}


def test_a_file_ffmpeg_cannot_decode_is_a_422(client: FlaskClient, library_dir: Path) -> None:
    # A WAV of a codec FFmpeg does not know, copied in by hand: the built-in parser lists any WAV encoding.
    data = bytes(8000)
    fmt = struct.pack("<HHIIHH", 0x7777, 1, 8000, 8000, 1, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    (library_dir / "odd.wav").write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    response = client.get("/files/odd.wav/playable")
    assert response.status_code == 422
    reason = "FFmpeg found no audio it could decode in it"
    assert response.json == {"error": f'The audio file "odd.wav" cannot be made playable: {reason}.'}
    assert cached(library_dir) == []


def test_past_the_transcode_limit_the_answer_is_503_with_retry_after(
    library_dir: Path, originals: dict[str, bytes], tmp_path: Path
) -> None:
    long_tone = tmp_path / "long.flac"
    tone(long_tone, "-c:a", "flac", source="sine=frequency=440:duration=1200:sample_rate=8000")
    app = create_app({"TESTING": True, "LIBRARY_DIR": library_dir, "TRANSCODES": 1})
    try:
        client = app.test_client()
        both = (("long.flac", long_tone.read_bytes()), ("tone.ac3", originals["tone.ac3"]))
        assert upload(client, *both).status_code == 201
        answers: list[int] = []
        first = threading.Thread(target=lambda: answers.append(client.get("/files/long.flac/playable").status_code))
        first.start()
        wait_until(lambda: media_children(os.getpid()), "the long file is being transcoded")
        busy = client.get("/files/tone.ac3/playable")
        first.join(timeout=120)
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "5"
        assert busy.json == {"error": "Every transcoder is at work: try again in a few seconds."}
        assert answers == [200]
        assert client.get("/files/tone.ac3/playable").status_code == 200  # free again
    finally:
        get_library(app).close()


def test_two_requests_for_one_copy_share_its_transcode(library_dir: Path, originals: dict[str, bytes]) -> None:
    app = create_app({"TESTING": True, "LIBRARY_DIR": library_dir, "TRANSCODES": 1})
    try:
        client = app.test_client()
        assert upload(client, ("tone.caf", originals["tone.caf"])).status_code == 201
        answers: list[tuple[int, bytes]] = []

        def ask() -> None:
            response = client.get("/files/tone.caf/playable?as=mp3")
            answers.append((response.status_code, response.data))

        askers = [threading.Thread(target=ask) for _ in range(2)]
        for asker in askers:
            asker.start()
        for asker in askers:
            asker.join(timeout=120)
        assert [status for status, _ in answers] == [200, 200]  # the second waited: no 503 with one transcoder
        assert answers[0][1] == answers[1][1]
        assert len(cached(library_dir)) == 1
    finally:
        get_library(app).close()


def test_a_live_server_streams_a_copy_in_ranges(library_dir: Path, originals: dict[str, bytes], tmp_path: Path) -> None:
    with audio_server(library_dir) as server:
        stored = requests.post(
            f"{server.url}/api/files", files={"file": ("tone.wma", originals["tone.wma"])}, timeout=60
        )
        assert stored.status_code == 201
        url = f"{server.url}/files/tone.wma/playable?as=webm"
        head = requests.get(url, headers={"Range": "bytes=0-1023"}, timeout=60)
        assert head.status_code == 206
        total = int(head.headers["Content-Range"].rpartition("/")[2])
        rest = requests.get(url, headers={"Range": f"bytes=1024-{total - 1}"}, timeout=60)
        assert rest.status_code == 206
        probed = probe(head.content + rest.content, tmp_path)
        assert probed["codec"] == "opus"
        assert float(probed["duration"]) == pytest.approx(1.0, abs=TOLERANCE_S)
        original = requests.get(f"{server.url}/files/tone.wma?download=1", timeout=60)
        assert original.content == originals["tone.wma"]
        assert original.headers["Content-Type"] == "audio/x-ms-wma"
