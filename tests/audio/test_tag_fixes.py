"""Tags that real taggers write and that were lost (issue 18): ID3v2.2 pictures, ID3v2.4 with plain frame sizes,
covers over the tag budget (FLAC, M4A, Ogg), tags of an Ogg stream behind an ID3 tag, and the 64 KiB cap on a
text frame."""

import base64
import shutil
import struct
from pathlib import Path

import mutagen
import mutagen.flac
import mutagen.mp4
import pytest
from audio_library.media.detection import detect_audio_type
from audio_library.media.formats.limits import TAG_READ_BYTES
from audio_library.media.tags import MAX_TEXT, MAX_TEXT_FRAME, read_cover, read_tags

from devtools.corpus import AUDIO, FIXTURES_DIR
from devtools.multiplying_tags import ogg_pages
from devtools.tag_bytes import id3v2
from tests.audio.counting import CountingFile, count_binary_reads
from tests.library_folders import fixture_bytes


JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 2  # what the cover checks look at: the JPEG signature
HUGE = b"\xff\xd8\xff\xe0" + bytes(TAG_READ_BYTES + 1024)  # a cover bigger than a tag reading may read


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Count what is read in binary mode; the counter is CountingFile.total."""
    return count_binary_reads(monkeypatch)


def frame_v22(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + len(body).to_bytes(3, "big") + body


def frame_plain_v24(frame_id: bytes, body: bytes) -> bytes:
    """An ID3v2.4 frame whose size is a plain integer, as an old iTunes wrote them."""
    return frame_id + struct.pack(">I", len(body)) + b"\0\0" + body


def mp3_with(tag: bytes, tmp_path: Path) -> Path:
    path = tmp_path / "tagged.mp3"
    path.write_bytes(tag + fixture_bytes("mp3-plain.mp3"))
    return path


def test_an_id3v22_pic_frame_is_the_cover(tmp_path: Path) -> None:
    frames = frame_v22(b"TT2", b"\0Old iTunes") + frame_v22(b"PIC", b"\0JPG\x03\0" + JPEG)
    path = mp3_with(id3v2(frames, major=2), tmp_path)
    assert read_tags(path, "audio/mpeg").title == "Old iTunes"
    cover = read_cover(path, "audio/mpeg")
    assert cover is not None
    assert (cover.type, cover.data) == ("image/jpeg", JPEG)


def test_id3v24_frames_with_plain_sizes_are_read(tmp_path: Path) -> None:
    frames = frame_plain_v24(b"TIT2", b"\0Plain sizes") + frame_plain_v24(b"APIC", b"\0image/jpeg\0\x03\0" + JPEG)
    assert len(JPEG) > 127  # so that its plain size is not a syncsafe one
    path = mp3_with(id3v2(frames, major=4), tmp_path)
    tags = read_tags(path, "audio/mpeg")
    assert (tags.title, tags.cover) == ("Plain sizes", True)
    cover = read_cover(path, "audio/mpeg")
    assert cover is not None
    assert cover.data == JPEG


@pytest.mark.parametrize(("size", "kept"), [(MAX_TEXT_FRAME - 100, True), (MAX_TEXT_FRAME + 100, False)])
def test_a_text_frame_over_64_kib_is_left_out(tmp_path: Path, size: int, kept: bool) -> None:
    title = b"TIT2" + struct.pack(">I", size) + b"\0\0" + b"\0" + b"T" * (size - 1)
    artist = b"TPE1" + struct.pack(">I", 7) + b"\0\0" + b"\0Artist"
    path = mp3_with(id3v2(title + artist), tmp_path)
    tags = read_tags(path, "audio/mpeg")
    assert tags.title == ("T" * MAX_TEXT if kept else None)
    assert tags.artist == "Artist"


def test_a_flac_cover_over_the_budget_keeps_the_title(tmp_path: Path) -> None:
    path = tmp_path / "huge-cover.flac"
    shutil.copyfile(FIXTURES_DIR / "tagged.flac", path)
    audio = mutagen.flac.FLAC(path)
    audio.clear_pictures()
    picture = mutagen.flac.Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", HUGE
    audio.add_picture(picture)
    audio.save()
    tags = read_tags(path, "audio/flac")
    assert (tags.title, tags.artist, tags.album, tags.track) == ("Tone Title", "Fixture Artist", "Fixture Album", 3)
    assert not tags.cover  # over MAX_COVER_BYTES: not served
    assert read_cover(path, "audio/flac") is None


def test_an_m4a_cover_over_the_budget_keeps_the_title(tmp_path: Path) -> None:
    path = tmp_path / "huge-cover.m4a"
    shutil.copyfile(FIXTURES_DIR / "tagged.m4a", path)
    audio = mutagen.mp4.MP4(path)
    assert audio.tags is not None
    audio.tags["covr"] = [mutagen.mp4.MP4Cover(HUGE, mutagen.mp4.MP4Cover.FORMAT_JPEG)]
    audio.save()
    tags = read_tags(path, "audio/mp4")
    assert (tags.title, tags.artist, tags.album, tags.track) == ("Tone Title", "Fixture Artist", "Fixture Album", 3)
    assert not tags.cover
    assert read_cover(path, "audio/mp4") is None


def test_an_m4a_cover_under_the_budget_is_still_read() -> None:
    cover = read_cover(FIXTURES_DIR / "tagged.m4a", "audio/mp4")
    assert cover is not None
    assert cover.type == "image/jpeg"


@pytest.mark.parametrize("name", ["tagged.ogg", "tagged.opus"])
def test_an_ogg_cover_over_the_budget_keeps_the_title(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copyfile(FIXTURES_DIR / name, path)
    audio = mutagen.File(path)
    picture = mutagen.flac.Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", HUGE
    audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()
    expected = read_tags(FIXTURES_DIR / name, AUDIO[name])
    tags = read_tags(path, AUDIO[name])
    assert (tags.title, tags.artist, tags.album, tags.track) == (
        expected.title,
        expected.artist,
        expected.album,
        expected.track,
    )
    assert tags.title is not None
    assert not tags.cover


def test_the_tags_of_an_ogg_stream_behind_an_id3_tag_are_read(tmp_path: Path) -> None:
    path = tmp_path / "behind.ogg"
    path.write_bytes(id3v2(b"") + fixture_bytes("tagged.ogg"))
    assert detect_audio_type(path) == "audio/ogg"
    assert read_tags(path, "audio/ogg").title == "Tone Title"


def test_a_comment_packet_of_countless_empty_comments_is_read_within_the_bounds(
    tmp_path: Path, bytes_read: type[CountingFile]
) -> None:
    vorbis = fixture_bytes("tagged.ogg")
    ident_end = 27 + vorbis[26] + sum(vorbis[27 : 27 + vorbis[26]])
    (serial,) = struct.unpack_from("<I", vorbis, 14)
    count = 2 * 1024 * 1024 // 4
    packet = b"\x03vorbis" + struct.pack("<I", 6) + b"vendor" + struct.pack("<I", count) + bytes(4 * count)
    path = tmp_path / "countless.ogg"
    path.write_bytes(vorbis[:ident_end] + ogg_pages(serial, 1, packet) + vorbis[ident_end:])
    assert read_tags(path, "audio/ogg").title is None
    assert bytes_read.total <= TAG_READ_BYTES


def test_flac_padding_over_the_budget_keeps_the_tags(tmp_path: Path) -> None:
    flac = fixture_bytes("tagged.flac")
    assert not flac[4] & 0x80  # STREAMINFO is not the last block: a padding block may follow it
    padding = b"\x01" + (3 * 1024 * 1024).to_bytes(3, "big") + bytes(3 * 1024 * 1024)
    path = tmp_path / "padded.flac"
    path.write_bytes(flac[:42] + padding + flac[42:])
    tags = read_tags(path, "audio/flac")
    assert (tags.title, tags.cover) == ("Tone Title", True)
