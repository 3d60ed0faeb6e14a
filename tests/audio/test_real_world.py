"""Real-world variants (tests/fixtures/real_world.py): every real file is audio, plays in FFmpeg, is stored by a
live server with its duration; every look-alike, header-only file, video and polyglot is refused, with its
reason. Detection stays within its bounds for each.
"""

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.audio import UndecidableError, detect_audio_type, probe_duration
from audio_library.formats.limits import DETECT_READ_BYTES, DETECT_STRUCTURES

from tests.audio.counting import count_binary_reads, record_bounded_files
from tests.fixtures.real_world import CLASSES, DURATION_TOLERANCE, NOT_AUDIO, VARIANTS, Sources, Variant
from tests.servers import RunningServer, audio_server


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
    if variant.stored or variant.reason == NOT_AUDIO:
        return variant.expected
    return f"undecided: {variant.reason}"


def test_the_corpus_covers_every_class() -> None:
    counts = Counter(variant.kind for variant in VARIANTS.values())
    assert set(counts) == set(CLASSES)
    assert len(VARIANTS) >= 80
    assert min(counts.values()) >= 3
    assert len(STORED) >= 50
    assert len(REFUSED) >= 25


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_each_variant_is_detected_within_the_bounds(corpus: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = count_binary_reads(monkeypatch)
    readers = record_bounded_files(monkeypatch)
    assert detected(corpus / name) == expected(VARIANTS[name]), VARIANTS[name].why
    assert counter.total <= DETECT_READ_BYTES
    assert all(reader.structures <= DETECT_STRUCTURES for reader in readers)


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
    assert {name: listed[name]["type"] for name in STORED} == {name: VARIANTS[name].expected for name in STORED}
    assert refusals == {name: f"{VARIANTS[name].reason}: {name}" for name in REFUSED}
