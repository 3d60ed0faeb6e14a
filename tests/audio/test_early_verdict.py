"""The early verdict refuses only what the full examination refuses too, judging a file's first bytes alone.

Its one promise: a start it calls certainly not audio belongs to no file the examination would accept,
whatever follows. Checked on the fixture corpus and, property-based, on starts built from audio and non-audio
files, cut, mutated and followed by anything.
"""

import struct
from pathlib import Path

import pytest
from audio_library.media.detection import _CHECKS
from audio_library.media.early_verdict import (
    BMFF_TYPES,
    NOT_AUDIO,
    VERDICT_BYTES,
    certainly_not_audio,
    movie_lists_video,
)
from audio_library.media.examiner import Examiner
from audio_library.media.second_judge import SecondJudge
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.corpus import AUDIO, FIXTURES_DIR, NON_AUDIO
from tests.fixtures.ffmpeg_formats import STORED, make_samples
from tests.fixtures.real_world import VARIANTS, Sources


EXAMPLES = 150
STARTS = {name: (FIXTURES_DIR / name).read_bytes()[:VERDICT_BYTES] for name in [*AUDIO, *NON_AUDIO]}
REFUSED_EARLY = ["archive.zip", "document.pdf", "image.png", "image.jpg", "notes.txt", "program.elf", "video.mp4"]


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def track(handler: bytes) -> bytes:
    """A trak box whose media handler is `handler` ("soun", "vide")."""
    hdlr = box(b"hdlr", bytes(8) + handler + bytes(12))
    return box(b"trak", box(b"mdia", box(b"mdhd", bytes(24)) + hdlr))


def movie_first(*handlers: bytes, media: int = 1000) -> bytes:
    """An MP4 whose movie box comes first, with one track per handler, then `media` bytes of media data."""
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", bytes(100)) + b"".join(track(handler) for handler in handlers))
    return ftyp + moov + struct.pack(">I4s", 8 + media, b"mdat") + bytes(media)


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_no_audio_fixture_is_refused_from_its_start(name: str) -> None:
    assert not certainly_not_audio(STARTS[name])


def repeated(start: bytes) -> bytes:
    """A file's start, repeated to the first MiB judged (a few fixtures are smaller)."""
    return (start * (VERDICT_BYTES // len(start) + 1))[:VERDICT_BYTES]


@pytest.mark.parametrize("name", REFUSED_EARLY)
def test_documents_images_text_programs_and_a_video_are_refused_from_their_start(name: str) -> None:
    assert certainly_not_audio(repeated(STARTS[name]))


def test_a_start_too_short_to_tell_is_unsure() -> None:
    assert not certainly_not_audio(b"%PDF-1.4\n")
    assert not certainly_not_audio(repeated(STARTS["document.pdf"])[:1000])


def test_no_type_an_audio_parser_is_asked_about_is_refused_by_name() -> None:
    assert not NOT_AUDIO & set(_CHECKS)
    assert not any(mime.startswith(("image/", "text/", "font/")) for mime in _CHECKS)


def test_an_mp4_is_refused_early_only_when_its_whole_movie_box_lists_a_video_track() -> None:
    assert movie_lists_video(movie_first(b"vide", b"soun"))
    assert not movie_lists_video(movie_first(b"soun"))
    with_video = movie_first(b"soun", b"vide")
    moov_end = with_video.index(b"mdat") - 4
    assert not movie_lists_video(with_video[: moov_end - 1])  # the movie box not all there yet: unsure
    media_first = box(b"ftyp", b"isom") + struct.pack(">I4s", 300_000_000, b"mdat") + bytes(VERDICT_BYTES)
    assert not movie_lists_video(media_first)  # the movie box comes after the media: unsure
    assert {"video/mp4", "audio/mp4"} <= BMFF_TYPES


def examined_as_audio(tmp_path: Path, content: bytes) -> bool:
    path = tmp_path / "part"
    path.write_bytes(content)
    return Examiner(SecondJudge()).examine(path).type is not None


starts = st.sampled_from(sorted(STARTS)).map(STARTS.__getitem__)
cuts = st.integers(min_value=0, max_value=VERDICT_BYTES)
flips = st.lists(st.tuples(st.integers(min_value=0, max_value=4096), st.integers(0, 255)), max_size=8)


def mutated(start: bytes, cut: int, changes: list[tuple[int, int]]) -> bytes:
    data = bytearray(start[: max(cut, 1)])
    for position, value in changes:
        if position < len(data):
            data[position] = value
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=starts, cut=cuts, changes=flips, tail=st.binary(max_size=2048))
def test_a_start_refused_early_is_never_accepted_by_the_full_examination(
    tmp_path: Path, start: bytes, cut: int, changes: list[tuple[int, int]], tail: bytes
) -> None:
    head = mutated(start, cut, changes)
    if certainly_not_audio(head):
        assert not examined_as_audio(tmp_path, head + tail)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(AUDIO)), cut=st.integers(min_value=1, max_value=VERDICT_BYTES))
def test_a_cut_audio_file_is_never_refused_early(name: str, cut: int) -> None:
    assert not certainly_not_audio(STARTS[name][:cut])


@settings(max_examples=EXAMPLES, deadline=None)
@given(head=st.binary(max_size=4096))
def test_any_bytes_get_a_verdict_without_an_error(head: bytes) -> None:
    assert certainly_not_audio(head) in (True, False)


def test_no_file_the_library_stores_is_refused_from_its_start(tmp_path: Path) -> None:
    """Every real-world variant and every format the second judge stores passes the early verdict: the two
    judges were built apart, and the early one may only refuse what neither would keep."""
    (tmp_path / "ffmpeg").mkdir()
    (tmp_path / "sources").mkdir()
    samples = make_samples(tmp_path / "ffmpeg")
    sources = Sources(tmp_path / "sources")
    starts = {sample.name: (samples / sample.name).read_bytes()[:VERDICT_BYTES] for sample in STORED}
    starts |= {name: variant.make(sources)[:VERDICT_BYTES] for name, variant in VARIANTS.items() if variant.stored}
    assert [name for name, start in starts.items() if certainly_not_audio(start)] == []
