"""Tags examined once and bounded in items (issue 21): the format readers never hand mutagen more than
MAX_TAG_ITEMS items, the cover is served from where examining the file found it, tag text is shown without
bidi or control characters, and tag readings wait their turn within a bound."""

import base64
import io
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import mutagen
import mutagen.flac
import mutagen.id3
import mutagen.mp4
import pytest
from audio_library.library import metadata_cache
from audio_library.library.storage import Library
from audio_library.media import tags as tags_module
from audio_library.media.formats.bmff import mp4_tag_list
from audio_library.media.formats.flac import flac_metadata
from audio_library.media.formats.id3 import extract_id3
from audio_library.media.formats.limits import (
    MAX_TAG_ITEMS,
    TAG_READ_BYTES,
    TAG_READS,
    BoundedFile,
    OutOfBoundsError,
)
from audio_library.media.formats.ogg_comments import ogg_comments
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from mutagen._vorbis import VCommentDict
from mutagen.mp4._atom import Atoms

from devtools.corpus import AUDIO, FIXTURES_DIR
from devtools.multiplying_tags import COVER, FAMILIES
from devtools.tag_bytes import id3_frame, id3v2
from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes


_ANY = 1 << 30  # a size limit that keeps everything: only the item cap applies
_WANTED = dict.fromkeys((b"TIT2", b"APIC", b"CHAP"), _ANY)


def bounded(data: bytes) -> BoundedFile:
    return BoundedFile(io.BytesIO(data), TAG_READ_BYTES, TAG_READS)


def id3_items(data: bytes) -> int:
    copy = extract_id3(bounded(data), 0, _WANTED)
    return 0 if copy is None else len(mutagen.id3.ID3(io.BytesIO(bytes(copy.data))).values())


def flac_items(data: bytes) -> int:
    metadata = flac_metadata(bounded(data), len(data), _ANY, _ANY)
    audio = mutagen.flac.FLAC(io.BytesIO(bytes(metadata[0].data))) if metadata else None
    if audio is None:
        return 0
    comments: Any = audio.tags
    return len(audio.pictures) + len(comments or [])


def ogg_items(data: bytes) -> int:
    comments = ogg_comments(bounded(data), len(data), _ANY)
    return 0 if comments is None else len(VCommentDict(comments.data, framing=False))


def mp4_items(data: bytes) -> int:
    copy = mp4_tag_list(bounded(data), len(data), _ANY)
    if copy is None:
        return 0
    source = io.BytesIO(bytes(copy.data))
    found = mutagen.mp4.MP4Tags(Atoms(source), source)
    return sum(len(value) if isinstance(value, list) else 1 for value in found.values())


ITEMS = {"id3": id3_items, "flac": flac_items, "ogg": ogg_items, "mp4": mp4_items}


@settings(max_examples=60, deadline=None)
@given(
    family=st.sampled_from(sorted(ITEMS)),
    count=st.integers(1, 200_000),
    size=st.sampled_from([0, 1, 5, 300]),
    depth=st.integers(1, 100),
)
def test_mutagen_is_never_handed_more_items_than_the_cap(family: str, count: int, size: int, depth: int) -> None:
    built = FAMILIES[family](count, size, depth)
    try:
        items = ITEMS[family](built.data)
    except OutOfBoundsError:
        return  # over the read budget: nothing at all reaches mutagen
    assert items <= MAX_TAG_ITEMS


@pytest.mark.parametrize("family", sorted(ITEMS))
def test_a_flood_of_items_keeps_the_title_and_the_cover(tmp_path: Path, family: str) -> None:
    built = FAMILIES[family](200_000, 0, 1)
    path = tmp_path / built.name
    path.write_bytes(built.data)
    mime = {"id3": "audio/mpeg", "flac": "audio/flac", "ogg": "audio/ogg", "mp4": "audio/mp4"}[family]
    found = tags_module.read_tags(path, mime)
    assert found.title is not None
    assert found.cover
    cover = tags_module.read_cover(path, mime)
    assert cover is not None
    assert cover.data == COVER


@pytest.mark.parametrize("family", sorted(ITEMS))
def test_the_cover_of_a_flood_is_served_without_reading_the_tags_again(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    built = FAMILIES[family](200_000, 0, 1)
    assert upload(client, (built.name, built.data)).status_code == 201

    def no_reading(*arguments: object) -> None:
        raise AssertionError("the tags were read again to serve the cover")

    monkeypatch.setattr(tags_module, "_read", no_reading)
    response = client.get(f"/files/{built.name}/cover")
    assert response.status_code == 200
    assert response.data == COVER


def mp3_titled(title: str, artist: str) -> bytes:
    frames = id3_frame(b"TIT2", b"\x01" + title.encode("utf-16")) + id3_frame(
        b"TPE1", b"\x01" + artist.encode("utf-16")
    )
    return id3v2(frames) + fixture_bytes("mp3-plain.mp3")


@pytest.mark.parametrize(
    ("title", "artist", "shown"),
    [
        ("Track\u202e3pm.exe", "A\u2066rtist\u2069", ("Track3pm.exe", "Artist")),
        ("\x1b[2J\x1b]0;owned\x07Song", "Line\nbreak\u2028here", ("[2J ]0;owned Song", "Line break here")),
        ("\u200f\u200e", "Zero\u200bwidth", (None, "Zerowidth")),
    ],
)
def test_tag_text_loses_bidi_and_control_characters(
    client: FlaskClient, title: str, artist: str, shown: tuple[str | None, str]
) -> None:
    response = upload(client, ("song.mp3", mp3_titled(title, artist)))
    assert response.status_code == 201
    (listed,) = client.get("/api/files").json  # type: ignore[misc]
    assert (listed["title"], listed["artist"]) == shown


@pytest.mark.parametrize("name", ["tagged.mp3", "tagged.flac", "tagged.m4a", "tagged.opus", "mp3-cover-art.mp3"])
def test_a_cover_is_served_without_reading_the_tags_again(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    assert upload(client, (name, fixture_bytes(name))).status_code == 201
    expected = tags_module.read_cover(FIXTURES_DIR / name, AUDIO[name])
    assert expected is not None

    def no_reading(*arguments: object) -> None:
        raise AssertionError("the tags were read again to serve the cover")

    monkeypatch.setattr(tags_module, "_read", no_reading)
    response = client.get(f"/files/{name}/cover")
    assert response.status_code == 200
    assert (response.mimetype, response.data) == (expected.type, expected.data)


def test_an_ogg_cover_across_pages_is_read_where_it_was_found(
    client: FlaskClient, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture = mutagen.flac.Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", b"\xff\xd8\xff\xe0" + os.urandom(300_000)
    song = library.root / "song.ogg"
    shutil.copyfile(FIXTURES_DIR / "tagged.ogg", song)
    audio = mutagen.File(song)
    audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()
    entry = library.entry("song.ogg")
    assert entry is not None
    assert entry.tags.cover_in_comment

    def no_reading(*arguments: object) -> None:
        raise AssertionError("the tags were read again to serve the cover")

    monkeypatch.setattr(tags_module, "_read", no_reading)
    response = client.get("/files/song.ogg/cover")
    assert response.status_code == 200
    assert response.data == picture.data


def test_a_file_changed_in_place_gets_the_cover_of_its_new_version(client: FlaskClient, library: Library) -> None:
    song = library.root / "song.mp3"
    shutil.copyfile(FIXTURES_DIR / "tagged.mp3", song)
    assert client.get("/files/song.mp3/cover").data == COVER
    shutil.copyfile(FIXTURES_DIR / "mp3-cover-art.mp3", song)
    info = song.stat()
    os.utime(song, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    new = tags_module.read_cover(song, "audio/mpeg")
    assert new is not None
    response = client.get("/files/song.mp3/cover")
    assert response.status_code == 200
    assert response.data == new.data


def test_bytes_no_longer_an_image_where_the_cover_was_are_no_cover(client: FlaskClient, library: Library) -> None:
    assert upload(client, ("song.flac", fixture_bytes("tagged.flac"))).status_code == 201
    entry = library.entry("song.flac")
    assert entry is not None
    assert entry.tags.cover_span is not None
    path = library.path(entry)
    info = path.stat()
    with path.open("r+b") as song:  # edited in place, its mtime put back: the examined version, as far as we see
        song.seek(entry.tags.cover_span[0])
        song.write(b"<svg>")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    response = client.get("/files/song.flac/cover")
    assert response.status_code == 404
    assert response.is_json


@pytest.mark.parametrize("name", ["tagged.flac", "tagged.opus"])
def test_the_cover_place_survives_a_restart(library_dir: Path, name: str) -> None:
    shutil.copyfile(FIXTURES_DIR / name, library_dir / name)
    first = Library(library_dir)
    try:
        entry = first.entry(name)
    finally:
        first.close()
    assert entry is not None
    assert entry.tags.cover_span is not None
    assert metadata_cache.CACHE_VERSION == 4
    second = Library(library_dir)
    try:
        again = second.catalog.cache.get((name, entry.size, (library_dir / name).stat().st_mtime_ns))
    finally:
        second.close()
    assert again is not None
    assert again.tags == entry.tags


def test_a_tag_reading_waits_for_a_slot_then_the_upload_gets_a_503(
    client: FlaskClient, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tags_module, "TAG_WAIT_S", 0.05)
    held = [tags_module._parsers.acquire(timeout=1) for _ in range(tags_module.TAG_PARSERS)]
    try:
        busy = upload(client, ("song.mp3", fixture_bytes("tagged.mp3")))
    finally:
        for _ in held:
            tags_module._parsers.release()
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert "try again" in busy.json["error"]  # type: ignore[index]
    assert [path.name for path in library.root.iterdir() if not path.name.startswith(".")] == []
    assert upload(client, ("song.mp3", fixture_bytes("tagged.mp3"))).status_code == 201


def test_a_tag_reading_waits_its_turn_when_a_slot_frees_in_time(client: FlaskClient) -> None:
    held = [tags_module._parsers.acquire(timeout=1) for _ in range(tags_module.TAG_PARSERS)]
    freeing = threading.Timer(0.2, tags_module._parsers.release)  # one reading ends while the upload waits
    freeing.start()
    try:
        response = upload(client, ("song.mp3", fixture_bytes("tagged.mp3")))
    finally:
        freeing.join()
        for _ in held[1:]:
            tags_module._parsers.release()
    assert response.status_code == 201
    assert response.json["files"][0]["title"] == "Tone Title"  # type: ignore[index]
