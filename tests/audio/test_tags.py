"""Tags: title, artist, album, track and cover art, in the API and at /files/<name>/cover, read within a bound."""

import json
import random
import shutil
import struct
import tracemalloc
import zlib
from pathlib import Path

import mutagen.id3
import pytest
import requests
from audio_library import create_app
from audio_library.library import metadata_cache
from audio_library.media import examiner
from audio_library.media.covers import MAX_COVER_BYTES
from audio_library.media.formats.limits import TAG_READ_BYTES
from audio_library.media.tags import read_cover, read_tags
from audio_library.web.current_library import get_library
from flask.testing import FlaskClient
from hypothesis import given, settings

from devtools.corpus import AUDIO, COVER_BYTES, FIXTURES_DIR, TAGS
from devtools.servers import audio_server
from devtools.tag_bytes import id3_frame, id3v2, title
from tests.audio.counting import CountingFile, count_binary_reads
from tests.audio.damage import damaged_fixtures
from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes


MIB = 1024 * 1024
UNTAGGED = (None, None, None, None, False)
WITH_COVER = sorted(name for name, tags in TAGS.items() if tags[4])


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Count what is read in binary mode; the counter is CountingFile.total."""
    return count_binary_reads(monkeypatch)


def fields(path: Path, mime: str) -> tuple[str | None, str | None, str | None, int | None, bool]:
    tags = read_tags(path, mime)
    return tags.title, tags.artist, tags.album, tags.track, tags.cover


def mp3_behind(tag: bytes, tmp_path: Path) -> Path:
    """An MP3 file: ``tag`` then the frames of the plain fixture."""
    path = tmp_path / "crafted.mp3"
    path.write_bytes(tag + fixture_bytes("mp3-plain.mp3"))
    return path


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_every_fixture_has_its_tags(name: str) -> None:
    assert fields(FIXTURES_DIR / name, AUDIO[name]) == TAGS.get(name, UNTAGGED)


@pytest.mark.parametrize("name", WITH_COVER)
def test_the_cover_is_the_embedded_jpeg(name: str) -> None:
    cover = read_cover(FIXTURES_DIR / name, AUDIO[name])
    assert cover is not None
    assert cover.type == "image/jpeg"
    assert cover.data.startswith(b"\xff\xd8\xff")
    if name.startswith("tagged"):
        assert len(cover.data) == COVER_BYTES


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_every_fixture_is_tagged_within_the_read_budget(name: str, bytes_read: type[CountingFile]) -> None:
    read_tags(FIXTURES_DIR / name, AUDIO[name])
    read_cover(FIXTURES_DIR / name, AUDIO[name])
    assert bytes_read.total <= 2 * TAG_READ_BYTES


def compressed_title(major: int, size: int) -> bytes:
    """A TIT2 frame whose zlib-compressed body inflates to ``size`` bytes of text."""
    text = zlib.compress(b"\0" + b"A" * size, 9)
    if major == 3:  # compression flag, then the inflated size before the data
        return b"TIT2" + struct.pack(">I", 4 + len(text)) + b"\x00\x80" + struct.pack(">I", size + 1) + text
    body = bytes((size + 1 >> shift) & 0x7F for shift in (21, 14, 7, 0)) + text  # 2.4: syncsafe data length
    length = 4 + len(text)
    return b"TIT2" + bytes((length >> shift) & 0x7F for shift in (21, 14, 7, 0)) + b"\x00\x09" + body


@pytest.mark.parametrize("major", [3, 4])
def test_a_compressed_frame_is_never_inflated(tmp_path: Path, major: int) -> None:
    frames = compressed_title(major, 32 * MIB) + id3_frame(b"TPE1", b"\0Artist", major)
    path = mp3_behind(id3v2(frames, major=major), tmp_path)
    # The trap is real: given the file, mutagen inflates the 32 KB frame to 32 MB.
    assert len(mutagen.id3.ID3(path)["TIT2"].text[0]) == 32 * MIB
    tracemalloc.start()
    try:
        tags = read_tags(path, "audio/mpeg")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (tags.title, tags.artist) == (None, "Artist")
    assert peak < 2 * MIB


def test_a_tag_claiming_more_than_the_file_holds_is_no_tag(tmp_path: Path, bytes_read: type[CountingFile]) -> None:
    tag = id3v2(title("Liar"))
    claimed = 200 * MIB
    lying = tag[:6] + bytes((claimed >> shift) & 0x7F for shift in (21, 14, 7, 0)) + tag[10:]
    path = mp3_behind(lying, tmp_path)
    assert fields(path, "audio/mpeg") == UNTAGGED
    assert bytes_read.total <= 4096


def test_a_frame_claiming_more_than_its_tag_holds_is_no_tag(tmp_path: Path, bytes_read: type[CountingFile]) -> None:
    frame = b"TIT2" + struct.pack(">I", 0x7FFF_FFFF) + b"\0\0\0Liar"
    path = mp3_behind(id3v2(frame + title("Second")), tmp_path)
    assert fields(path, "audio/mpeg") == UNTAGGED
    assert bytes_read.total <= 4096


def test_a_cover_too_big_to_serve_is_skipped_unread(tmp_path: Path, bytes_read: type[CountingFile]) -> None:
    picture = b"\xff\xd8\xff" + random.Random(4).randbytes(MAX_COVER_BYTES + 4096)
    path = mp3_behind(id3v2(title("Big") + id3_frame(b"APIC", b"\0image/jpeg\0\x03\0" + picture)), tmp_path)
    assert fields(path, "audio/mpeg") == ("Big", None, None, None, False)
    assert bytes_read.total <= 64 * 1024


@pytest.mark.parametrize("picture", [b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"<html><script>1</script>"])
def test_a_picture_that_is_not_an_image_is_no_cover(tmp_path: Path, picture: bytes) -> None:
    path = mp3_behind(id3v2(title("Trap") + id3_frame(b"APIC", b"\0image/jpeg\0\x03\0" + picture)), tmp_path)
    assert read_cover(path, "audio/mpeg") is None
    assert read_tags(path, "audio/mpeg").cover is False


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tags") / "sample"


@settings(max_examples=200, deadline=None)  # no timing asserts: the machine may be busy
@given(sample=damaged_fixtures(sorted(TAGS)))
def test_damaged_tags_never_crash_nor_read_past_the_budget(sample_path: Path, sample: tuple[str, bytes]) -> None:
    name, content = sample
    sample_path.write_bytes(content)
    with pytest.MonkeyPatch.context() as monkeypatch:
        counter = count_binary_reads(monkeypatch)
        tags = read_tags(sample_path, AUDIO[name])
        cover = read_cover(sample_path, AUDIO[name])
    assert counter.total <= 2 * TAG_READ_BYTES
    assert tags.track is None or tags.track > 0
    assert cover is None or len(cover.data) <= MAX_COVER_BYTES


def test_an_upload_lists_its_tags(client: FlaskClient) -> None:
    response = upload(client, ("Песня.opus", fixture_bytes("tagged.opus")))
    assert response.status_code == 201
    (stored,) = response.json["files"]  # type: ignore[index]
    expected = {"title": "Песня про зайцев", "artist": "Зайцев", "album": "Fixture Album", "track": 7, "cover": True}
    assert {key: stored[key] for key in expected} == expected
    (listed,) = client.get("/api/files").json  # type: ignore[misc]
    assert {key: listed[key] for key in expected} == expected


def test_an_untagged_file_lists_nulls(client: FlaskClient) -> None:
    upload(client, ("plain.mp3", fixture_bytes("mp3-plain.mp3")))
    (listed,) = client.get("/api/files").json  # type: ignore[misc]
    assert {key: listed[key] for key in ("title", "artist", "album", "track", "cover")} == dict(
        zip(("title", "artist", "album", "track", "cover"), UNTAGGED, strict=True)
    )


@pytest.mark.parametrize("name", [name for name in WITH_COVER if name.startswith("tagged")])
def test_the_cover_is_served_as_its_image_type(client: FlaskClient, name: str) -> None:
    upload(client, (name, fixture_bytes(name)))
    response = client.get(f"/files/{name}/cover")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data.startswith(b"\xff\xd8\xff")
    assert len(response.data) == COVER_BYTES
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    again = client.get(f"/files/{name}/cover", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("path", ["/files/tagged.ogg/cover", "/files/missing.mp3/cover"])
def test_no_cover_is_a_404_in_json(client: FlaskClient, path: str) -> None:
    upload(client, ("tagged.ogg", fixture_bytes("tagged.ogg")))
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert "error" in response.json  # type: ignore[operator]


def test_a_cache_of_the_previous_version_is_examined_again(library_dir: Path) -> None:
    song = library_dir / "song.flac"
    shutil.copy(FIXTURES_DIR / "tagged.flac", song)
    info = song.stat()
    old = {"version": 1, "files": [["song.flac", info.st_size, info.st_mtime_ns, "audio/flac", 0.5, None]]}
    (library_dir / metadata_cache.CACHE_FILE).write_text(json.dumps(old), encoding="utf-8")
    app = create_app({"LIBRARY_DIR": library_dir})
    try:
        (listed,) = app.test_client().get("/api/files").json  # type: ignore[misc]
    finally:
        get_library(app).close()
    assert listed["title"] == "Tone Title"
    assert (
        json.loads((library_dir / metadata_cache.CACHE_FILE).read_text(encoding="utf-8"))["version"]
        == metadata_cache.CACHE_VERSION
    )


def test_tags_are_cached_across_a_restart(library_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = create_app({"LIBRARY_DIR": library_dir})
    for name in TAGS:
        shutil.copy(FIXTURES_DIR / name, library_dir / name)
    before = first.test_client().get("/api/files").json
    get_library(first).close()

    def no_reading(path: Path, mime: str) -> None:
        raise AssertionError(f"the tags of {path} were read again after a restart")

    monkeypatch.setattr(examiner, "read_tags", no_reading)
    second = create_app({"LIBRARY_DIR": library_dir})
    try:
        assert second.test_client().get("/api/files").json == before
    finally:
        get_library(second).close()
    assert {entry["name"]: entry["title"] for entry in before} == {name: TAGS[name][0] for name in TAGS}  # type: ignore[union-attr]


def test_tags_and_cover_from_a_live_server(library_dir: Path) -> None:
    with audio_server(library_dir) as server:
        sent = requests.post(
            f"{server.url}/api/files", files={"file": ("tagged.m4a", fixture_bytes("tagged.m4a"))}, timeout=30
        )
        assert sent.status_code == 201
        (listed,) = requests.get(f"{server.url}/api/files", timeout=30).json()
        cover = requests.get(f"{server.url}/files/tagged.m4a/cover", timeout=30)
    assert (listed["title"], listed["artist"], listed["album"], listed["track"]) == TAGS["tagged.m4a"][:4]
    assert cover.status_code == 200
    assert cover.headers["Content-Type"] == "image/jpeg"
    assert len(cover.content) == COVER_BYTES
