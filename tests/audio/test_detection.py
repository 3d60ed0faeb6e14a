"""Content detection: every corpus file gets its right answer, from its bytes alone, reading little of it."""

import random
import shutil
from pathlib import Path

import magic
import pytest
from audio_library.media.detection import detect_audio_type, probe_duration
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.corpus import AUDIO, DURATION_TOLERANCE, DURATIONS, EXPECTED, FIXTURES_DIR, NON_AUDIO
from tests.audio.counting import CountingFile, count_binary_reads
from tests.audio.damage import damaged_fixtures


MIB = 1024 * 1024
READ_BUDGET = 64 * 1024  # bytes a decision and its duration may read together, however big the file


def id3_tag(body_size: int) -> bytes:
    """An ID3v2.3 tag holding one private frame of ``body_size`` zero bytes."""
    frame = b"PRIV" + body_size.to_bytes(4, "big") + b"\0\0" + b"\0" * body_size
    size = len(frame)
    return b"ID3\x03\x00\x00" + bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0)) + frame


@pytest.fixture
def bytes_read(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Count what is read in binary mode; the counter is CountingFile.total."""
    return count_binary_reads(monkeypatch)


def test_corpus_lists_every_fixture_file() -> None:
    assert sorted(path.name for path in FIXTURES_DIR.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_audio_is_accepted_with_its_type(name: str) -> None:
    assert detect_audio_type(FIXTURES_DIR / name) == AUDIO[name]


@pytest.mark.parametrize("name", NON_AUDIO)
def test_non_audio_is_refused(name: str) -> None:
    assert detect_audio_type(FIXTURES_DIR / name) is None


@pytest.mark.parametrize("name", sorted(DURATIONS))
def test_duration_is_read_from_the_headers(name: str) -> None:
    duration = probe_duration(FIXTURES_DIR / name, AUDIO[name])
    assert duration == pytest.approx(DURATIONS[name], abs=DURATION_TOLERANCE)


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("disguise", ["upload", "UPLOAD.MP3", "upload.wav", "upload.m4a", "upload.jpg"])
def test_names_do_not_matter(name: str, disguise: str, tmp_path: Path) -> None:
    renamed = tmp_path / disguise
    shutil.copyfile(FIXTURES_DIR / name, renamed)
    assert detect_audio_type(renamed) == EXPECTED[name]


def test_an_ogg_named_mp3_is_served_as_ogg() -> None:
    assert detect_audio_type(FIXTURES_DIR / "ogg-named.mp3") == "audio/ogg"
    assert detect_audio_type(FIXTURES_DIR / "mp3-uppercase.MP3") == "audio/mpeg"


def test_mp3_behind_a_cover_bigger_than_libmagic_reads() -> None:
    path = FIXTURES_DIR / "mp3-cover-art.mp3"
    head = path.read_bytes()
    tag_size = 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9])
    assert tag_size > 300 * 1024
    # The trap this fixture exists for: what libmagic sees of it does not say MPEG audio.
    assert magic.from_buffer(head[: 64 * 1024], mime=True) == "application/octet-stream"
    assert detect_audio_type(path) == "audio/mpeg"
    assert probe_duration(path, "audio/mpeg") == pytest.approx(1.152, abs=DURATION_TOLERANCE)


def test_video_is_refused_even_with_an_audio_brand() -> None:
    path = FIXTURES_DIR / "video-m4a-brand.m4a"
    assert magic.from_file(str(path), mime=True) == "audio/x-m4a"
    assert detect_audio_type(path) is None


def test_audio_only_mp4_is_accepted_despite_a_video_brand() -> None:
    path = FIXTURES_DIR / "aac-isom-brand.mp4"
    assert magic.from_file(str(path), mime=True) == "video/mp4"
    assert detect_audio_type(path) == "audio/mp4"


@pytest.mark.parametrize("name", sorted(set(AUDIO) - set(DURATIONS)))
def test_duration_is_unknown_when_the_headers_do_not_say(name: str) -> None:
    assert probe_duration(FIXTURES_DIR / name, AUDIO[name]) is None


@pytest.mark.parametrize(("name", "mime"), [("mp3-plain.mp3", "audio/mpeg"), ("adts.aac", "audio/aac")])
def test_a_stream_longer_than_the_window_is_accepted_wherever_the_window_cuts_it(
    tmp_path: Path, name: str, mime: str
) -> None:
    frames = (FIXTURES_DIR / name).read_bytes() * 40  # well past the bytes the detector looks at
    path = tmp_path / "stream"
    for padding in range(0, 300, 1):  # zero padding shifts the frames against the window's end
        path.write_bytes(b"\0" * padding + frames)
        assert detect_audio_type(path) == mime, f"refused with {padding} bytes of padding"


def test_unknown_type_has_no_duration() -> None:
    assert probe_duration(FIXTURES_DIR / "wav-pcm16.wav", "audio/x-unknown") is None


@pytest.mark.parametrize("mime", sorted(set(AUDIO.values())))
@pytest.mark.parametrize("name", ["random.bin", "empty.mp3", "id3-only.mp3", "page.html"])
def test_duration_of_a_file_that_is_not_that_type_is_unknown(name: str, mime: str) -> None:
    assert probe_duration(FIXTURES_DIR / name, mime) is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_is_decided_within_the_read_budget(name: str, bytes_read: type[CountingFile]) -> None:
    mime = detect_audio_type(FIXTURES_DIR / name)
    if mime is not None:
        probe_duration(FIXTURES_DIR / name, mime)
    assert bytes_read.total <= READ_BUDGET


@pytest.fixture(scope="module")
def mp3_frames() -> bytes:
    """The MPEG frames of the plain MP3 fixture, without its trailing partial data."""
    return (FIXTURES_DIR / "mp3-plain.mp3").read_bytes()


@pytest.mark.slow
def test_a_50_mb_tag_is_skipped_not_read(tmp_path: Path, mp3_frames: bytes, bytes_read: type[CountingFile]) -> None:
    path = tmp_path / "huge-tag.mp3"
    path.write_bytes(id3_tag(50 * MIB) + mp3_frames)
    assert detect_audio_type(path) == "audio/mpeg"
    assert probe_duration(path, "audio/mpeg") == pytest.approx(1.152, abs=DURATION_TOLERANCE)
    assert bytes_read.total <= READ_BUDGET


@pytest.mark.slow
def test_50_mb_of_audio_is_decided_from_its_start(
    tmp_path: Path, mp3_frames: bytes, bytes_read: type[CountingFile]
) -> None:
    path = tmp_path / "long.mp3"
    # The plain fixture is 16 whole frames with a Xing header; drop that header frame and repeat the rest.
    audio = mp3_frames[len(mp3_frames) // 16 :]
    repeats = 50 * MIB // len(audio)
    path.write_bytes(audio * repeats)
    assert detect_audio_type(path) == "audio/mpeg"
    # Constant bitrate: 15 frames of 72 ms per repeat.
    assert probe_duration(path, "audio/mpeg") == pytest.approx(repeats * 15 * 0.072, rel=0.01)
    assert bytes_read.total <= READ_BUDGET


@pytest.mark.slow
def test_50_mb_of_random_bytes_is_refused_from_its_start(tmp_path: Path, bytes_read: type[CountingFile]) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(random.Random(50).randbytes(50 * MIB))
    assert detect_audio_type(path) is None
    assert bytes_read.total <= READ_BUDGET


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis") / "sample"


@settings(max_examples=300, deadline=None)  # no timing asserts: the machine may be busy
@given(content=st.binary(min_size=1, max_size=32 * 1024))
def test_random_bytes_are_never_audio(sample_path: Path, content: bytes) -> None:
    sample_path.write_bytes(content)
    assert detect_audio_type(sample_path) is None


@settings(max_examples=300, deadline=None)  # no timing asserts: the machine may be busy
@given(tag_body=st.integers(min_value=0, max_value=4096), content=st.binary(max_size=32 * 1024))
def test_random_bytes_behind_an_id3_tag_are_never_audio(sample_path: Path, tag_body: int, content: bytes) -> None:
    sample_path.write_bytes(id3_tag(tag_body) + content)
    assert detect_audio_type(sample_path) is None


@settings(max_examples=300, deadline=None)  # no timing asserts: the machine may be busy
@given(content=st.binary(max_size=32 * 1024))
def test_random_bytes_behind_one_mpeg_frame_header_are_never_audio(sample_path: Path, content: bytes) -> None:
    sample_path.write_bytes(b"\xff\xfb\x90\x64" + content)  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
    assert detect_audio_type(sample_path) is None


@settings(max_examples=200, deadline=None)
@given(sample=damaged_fixtures(sorted(AUDIO)))
def test_damaged_audio_never_crashes_the_detector(sample_path: Path, sample: tuple[str, bytes]) -> None:
    sample_path.write_bytes(sample[1])
    mime = detect_audio_type(sample_path)
    assert mime in (None, *AUDIO.values())
    if mime is not None:
        duration = probe_duration(sample_path, mime)
        assert duration is None or duration >= 0
