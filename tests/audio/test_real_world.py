"""Real-world variants (tests/fixtures/real_world.py): every real file is audio, plays in FFmpeg, is stored by a
live server with its duration; every look-alike, header-only file, video and polyglot is refused, with its
reason, on the page too. Detection stays within its bounds for each, and a library whose cache remembers a
file as refused by the old parsers examines it again.
"""

import html
import json
import struct
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library import create_app
from audio_library.library import metadata_cache
from audio_library.media.detection import UndecidableError, detect_audio_type, probe_duration
from audio_library.media.formats.limits import DETECT_READ_BYTES, DETECT_STRUCTURES
from audio_library.web.current_library import get_library
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.multipart import Part, post_raw
from devtools.servers import RunningServer, audio_server
from tests.audio.counting import count_binary_reads, record_bounded_files
from tests.fixtures.real_world import CLASSES, DURATION_TOLERANCE, NOT_AUDIO, VARIANTS, Sources, Variant, noise


STORED = sorted(name for name, variant in VARIANTS.items() if variant.stored)
REFUSED = sorted(name for name, variant in VARIANTS.items() if not variant.stored)
TIMED = sorted(name for name, variant in VARIANTS.items() if variant.duration is not None)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return Sources(tmp_path_factory.mktemp("real-world-sources"))


@pytest.fixture(scope="module")
def corpus(sources: Sources, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every variant written to a folder, under its name."""
    folder = tmp_path_factory.mktemp("real-world")
    for name, variant in VARIANTS.items():
        (folder / name).write_bytes(variant.make(sources))
    return folder


def detected(path: Path) -> str | None:
    """What detection says, with an undecidable file's reason in place of a type."""
    try:
        return detect_audio_type(path)
    except UndecidableError as error:
        return f"undecided: {error}"


def expected(variant: Variant) -> str | None:
    """What the built-in parsers must say of a variant (the second judge comes after them)."""
    if variant.expected is not None or variant.reason == NOT_AUDIO:
        return variant.expected
    return f"undecided: {variant.reason}"


def detected_within_the_bounds(path: Path) -> str | None:
    """What detection says of the file (as `detected` does), having checked that detecting and probing it
    stayed within their budgets and that its duration, if any, is not negative."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        counter = count_binary_reads(monkeypatch)
        readers = record_bounded_files(monkeypatch)
        mime = detected(path)
        if mime is not None and not mime.startswith("undecided"):
            duration = probe_duration(path, mime)
            assert duration is None or duration >= 0
    assert counter.total <= 2 * DETECT_READ_BYTES
    assert all(reader.structures <= DETECT_STRUCTURES for reader in readers)
    return mime


def test_the_corpus_covers_every_class() -> None:
    counts = Counter(variant.kind for variant in VARIANTS.values())
    assert set(counts) == set(CLASSES)
    assert len(VARIANTS) >= 80
    assert min(counts.values()) >= 3
    assert len(STORED) >= 50
    assert len(REFUSED) >= 25


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_is_detected_within_the_bounds(corpus: Path, name: str) -> None:
    assert detected_within_the_bounds(corpus / name) == expected(VARIANTS[name]), VARIANTS[name].why


@pytest.mark.parametrize("name", STORED)
def test_each_real_file_plays_in_ffmpeg(corpus: Path, name: str) -> None:
    decoded = subprocess.run(
        ["ffmpeg", "-v", "quiet", "-i", str(corpus / name), "-map", "0:a:0", "-f", "s16le", "-"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert len(decoded.stdout) >= 2000, f"{name}: FFmpeg decodes {len(decoded.stdout)} bytes of audio"


@pytest.mark.parametrize("name", TIMED)
def test_durations_come_from_what_the_file_holds(corpus: Path, name: str) -> None:
    variant = VARIANTS[name]
    assert variant.expected is not None
    assert probe_duration(corpus / name, variant.expected) == pytest.approx(variant.duration, abs=DURATION_TOLERANCE)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with audio_server(tmp_path_factory.mktemp("real-world-library")) as running:
        yield running


def test_a_live_server_stores_every_real_file_and_refuses_the_rest_with_the_reason(
    corpus: Path, server: RunningServer
) -> None:
    refusals = {}
    for name, variant in VARIANTS.items():
        response = requests.post(
            f"{server.url}/api/files", files={"file": (name, (corpus / name).read_bytes())}, timeout=60
        )
        if variant.stored:
            assert response.status_code == 201, f"{name}: {response.text}"
        else:
            assert response.status_code == 415, f"{name}: {response.text}"
            refusals[name] = response.json()["error"]
    listed = {entry["name"]: entry for entry in requests.get(f"{server.url}/api/files", timeout=30).json()}
    assert sorted(listed) == STORED
    assert {name: listed[name]["type"] for name in STORED} == {name: VARIANTS[name].library_type for name in STORED}
    assert refusals == {name: f"{VARIANTS[name].library_reason}: {name}" for name in REFUSED}


def test_a_file_the_old_parsers_refused_is_examined_again(corpus: Path, tmp_path: Path) -> None:
    # A library whose cache (version 2) remembers a WAV with an ID3v1 tag appended as not audio.
    library_dir = tmp_path / "library"
    library_dir.mkdir()
    song = library_dir / "song.wav"
    song.write_bytes((corpus / "wav-id3v1").read_bytes())
    info = song.stat()
    old = {"version": 2, "files": [["song.wav", info.st_size, info.st_mtime_ns, None, None, None]]}
    (library_dir / metadata_cache.CACHE_FILE).write_text(json.dumps(old), encoding="utf-8")
    app = create_app({"LIBRARY_DIR": library_dir})
    try:
        listed = app.test_client().get("/api/files").json
    finally:
        get_library(app).close()
    assert [(entry["name"], entry["type"]) for entry in listed or []] == [("song.wav", "audio/wav")]


def test_the_page_gives_the_reason_of_a_refusal(corpus: Path, server: RunningServer) -> None:
    name = "video-webm"
    form = post_raw(server.port, [Part((corpus / name).read_bytes(), name.encode())], path="/")
    assert form.status == 415
    page = form.body.decode()
    assert html.escape(VARIANTS[name].library_reason) in page
    assert NOT_AUDIO not in page


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis") / "sample"


def ape_footer(size: int, flags: int) -> bytes:
    return b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, flags) + bytes(8)


TRAILERS = st.one_of(
    st.builds(ape_footer, st.integers(0, 2**32 - 1), st.sampled_from([0, 1 << 31, 1 << 29, 2**32 - 1])),
    st.builds(
        lambda digits: b"LYRICSBEGIN" + digits.encode() + b"LYRICS200", st.text("0123456789", min_size=6, max_size=6)
    ),
    st.builds(lambda body: b"LYRICSBEGIN" + body + b"LYRICSEND", st.binary(max_size=64)),
    st.just(b"TAG" + bytes(125)),
    st.binary(max_size=200),
)
# Base file -> what detection may say of it with any trailers: a WAV's container ends before them.
AFTER_TRAILERS = {
    "mp3": ("audio/mpeg", None),
    "mp3-cbr32": ("audio/mpeg", None),
    "adts": ("audio/aac", None),
    "wav16": ("audio/wav",),
    "noise": (None,),
}


@settings(max_examples=200, deadline=None)  # no timing asserts: the machine may be busy
@given(base=st.sampled_from(sorted(AFTER_TRAILERS)), trailers=st.lists(TRAILERS, max_size=4))
def test_lying_trailers_are_read_within_the_bounds(
    sources: Sources, sample_path: Path, base: str, trailers: list[bytes]
) -> None:
    sample_path.write_bytes((sources[base] if base != "noise" else noise(20, 3000)) + b"".join(trailers))
    assert detected_within_the_bounds(sample_path) in AFTER_TRAILERS[base]


NEVER_AUDIO = sorted(name for name, variant in VARIANTS.items() if variant.kind in ("look-alike", "video", "polyglot"))


@settings(max_examples=150, deadline=None)  # no timing asserts: the machine may be busy
@given(
    name=st.sampled_from(sorted(VARIANTS)),
    cut=st.one_of(st.just(1.0), st.floats(0.05, 1.0)),
    tail=st.one_of(st.just(b""), st.binary(max_size=2048), st.builds(bytes, st.integers(0, 8192))),
)
def test_cut_or_extended_variants_stay_within_the_bounds(
    corpus: Path, sample_path: Path, name: str, cut: float, tail: bytes
) -> None:
    whole = (corpus / name).read_bytes()
    sample_path.write_bytes(whole[: max(1, int(len(whole) * cut))] + tail)
    mime = detected_within_the_bounds(sample_path)
    # A polyglot cut short may be what is left of its frames and a little junk: a playable stream.
    if name in NEVER_AUDIO and (cut == 1.0 or VARIANTS[name].kind != "polyglot"):
        assert mime is None or mime.startswith("undecided"), f"{name} became {mime}"
