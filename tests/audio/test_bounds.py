"""Bounded detection: whatever a file's lengths say, detecting, probing and reading its tags read and walk at most
a fixed amount.

Every length field the detector walks, in every container family of the fixture corpus, is made to lie
(hypothesis picks the fields and the values); the bytes read and the reads made are counted at the file, and
the structures walked at the detector's BoundedFile. A length that runs past its parent's end is a refusal.
Then the hand-made worst cases: the hostile files of devtools/hostile.py, on disk and through a live server.
"""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.media.detection import BEYOND_LIMITS, UndecidableError, detect_audio_type, probe_duration
from audio_library.media.formats import mpeg
from audio_library.media.formats.limits import (
    DETECT_READ_BYTES,
    DETECT_STRUCTURES,
    SNIFF_BYTES,
    TAG_READ_BYTES,
    TAG_READS,
    BoundedFile,
)
from audio_library.media.tags import NO_TAGS, read_cover, read_tags
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.corpus import AUDIO, EXPECTED, FIXTURES_DIR
from devtools.hostile import FTYP, HOSTILE, mp4_nested
from devtools.multipart import upload_chunks
from devtools.servers import RunningServer, audio_server
from tests.audio.counting import count_binary_reads, record_bounded_files
from tests.audio.length_fields import LengthField, length_fields


MIB = 1024 * 1024
FIELDS = {name: length_fields((FIXTURES_DIR / name).read_bytes()) for name in sorted(EXPECTED)}
FAMILIES = {field.family for fields in FIELDS.values() for field in fields}
# Family -> (fixture, field) of every length field of that family, so that each family is drawn as often.
BY_FAMILY = {
    family: [(name, field) for name, fields in FIELDS.items() for field in fields if field.family == family]
    for family in sorted(FAMILIES)
}


def test_the_fixtures_cover_every_container_family() -> None:
    assert {"mp4", "riff", "aiff", "flac", "id3", "id3-frame", "matroska", "ogg", "mpeg", "adts"} == FAMILIES
    assert sum(len(fields) for fields in FIELDS.values()) > 300


def lengths(field: LengthField, file_size: int) -> st.SearchStrategy[int]:
    """Values a lying field may take: extremes, just inside and just past its parent's end, anything."""
    top = field.largest
    edges = [0, 1, 7, 8, 15, 16, 255, 0x7FFF_FFFF, top - 1, top]
    end = field.parent_end if field.parent_end is not None else file_size
    edges += [end - field.base + delta for delta in (-9, -1, 0, 1, 9, 1 << 20)]
    return st.one_of(st.sampled_from([value for value in edges if 0 <= value <= top]), st.integers(0, top))


class Examined:
    """What detecting and probing one file did: its answer (None too when it could not be decided within the
    budget, then ``undecided``) and what it read and walked."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        counter = count_binary_reads(monkeypatch)
        readers = record_bounded_files(monkeypatch)
        self.undecided = False
        try:
            self.mime = detect_audio_type(path)
        except UndecidableError:
            self.mime, self.undecided = None, True
        self.duration = probe_duration(path, self.mime) if self.mime is not None else None
        self.bytes_read, self.reads = counter.total, counter.calls
        self.readers: list[BoundedFile] = readers
        self.tags = read_tags(path, self.mime) if self.mime is not None else None
        self.cover = read_cover(path, self.mime) if self.mime is not None else None
        self.tag_bytes_read, self.tag_reads = counter.total - self.bytes_read, counter.calls - self.reads

    def assert_bounded(self) -> None:
        """At most one detection and one probe, each within its budget, and two tag readings within theirs."""
        assert len(self.readers) <= 2
        assert self.bytes_read <= 2 * DETECT_READ_BYTES
        assert self.reads <= 2 * DETECT_STRUCTURES
        assert all(reader.structures <= DETECT_STRUCTURES for reader in self.readers)
        assert self.tag_bytes_read <= 2 * TAG_READ_BYTES
        assert self.tag_reads <= 2 * TAG_READS


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bounds") / "sample"


@settings(max_examples=600, deadline=None)  # no timing asserts: the machine may be busy
@given(data=st.data())
def test_lying_lengths_are_refused_within_the_bounds(sample_path: Path, data: st.DataObject) -> None:
    family = data.draw(st.sampled_from(sorted(BY_FAMILY)), label="family")
    name, first = data.draw(st.sampled_from(BY_FAMILY[family]), label="fixture and field")
    content = bytearray((FIXTURES_DIR / name).read_bytes())
    more = data.draw(st.lists(st.sampled_from(FIELDS[name]), max_size=2, unique=True), label="more fields")
    fields = [first, *(field for field in more if field != first)]
    values = [data.draw(lengths(field, len(content)), label=f"{field.family}@{field.offset}") for field in fields]
    for field, value in zip(fields, values, strict=True):
        content[field.offset : field.offset + field.width] = field.encode(value)
    sample_path.write_bytes(content)
    with pytest.MonkeyPatch.context() as monkeypatch:
        examined = Examined(sample_path, monkeypatch)
    examined.assert_bounded()
    assert examined.mime in (None, *AUDIO.values())
    assert examined.duration is None or examined.duration >= 0
    if len(fields) == 1 and fields[0].lies(values[0]):
        if fields[0].family == "id3-frame":
            assert examined.tags in (None, NO_TAGS), f"{name}: {fields[0]} = {values[0]} runs past its tag, yet read"
        else:
            assert examined.mime is None, f"{name}: {fields[0]} = {values[0]} runs past its parent, yet accepted"


@pytest.mark.parametrize("family", sorted(HOSTILE))
def test_hostile_files_are_refused_within_the_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, family: str
) -> None:
    path = tmp_path / family
    with path.open("wb") as sink:
        for chunk in HOSTILE[family].chunks(40 * MIB):
            sink.write(chunk)
    examined = Examined(path, monkeypatch)
    assert examined.mime is None
    examined.assert_bounded()


def test_the_box_cap_is_per_file_not_per_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Three traks of 256 mdia boxes of 256 boxes: 196,608 boxes, none over a per-parent cap of 256.
    trak_size = 8 + 256 * (8 + 256 * 8)
    path = tmp_path / "nested.m4a"
    path.write_bytes(b"".join(mp4_nested(len(FTYP) + 8 + 3 * trak_size)))
    examined = Examined(path, monkeypatch)
    assert examined.mime is None
    examined.assert_bounded()
    assert examined.readers[0].structures > DETECT_STRUCTURES - 64  # it was the cap that stopped it
    assert examined.undecided  # and the refusal says so


@pytest.mark.parametrize(
    ("lie", "content"),
    [
        ("64-bit size cut short", FTYP + b"\0\0\0\x01moov\0\0\0"),
        ("64-bit size absurd", FTYP + b"\0\0\0\x01moov" + (1 << 63).to_bytes(8, "big") + bytes(64)),
        ("size smaller than its header", FTYP + b"\0\0\0\x04moov" + bytes(64)),
        (
            "trak past its moov",
            FTYP + b"\0\0\0\x18moov\0\0\x10\x00trak" + bytes(64),
        ),
    ],
)
def test_hand_made_mp4_lies_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lie: str, content: bytes
) -> None:
    path = tmp_path / "lie.m4a"
    path.write_bytes(content)
    examined = Examined(path, monkeypatch)
    assert examined.mime is None, lie
    examined.assert_bounded()


def adts_header(length: int) -> bytes:
    """An ADTS frame header (AAC LC, 44.1 kHz, stereo) for a frame of ``length`` bytes."""
    return bytes((0xFF, 0xF1, 0x50, 0x80 | length >> 11, (length >> 3) & 0xFF, (length & 7) << 5 | 0x1F, 0xFC))


def test_chained_frame_search_parses_each_offset_at_most_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 410 frames in the first 4 KB each jump to one long chain that stops short of the window's end: a search
    # that walks every start to its end parses that chain 410 times (some 700,000 frames).
    window = bytearray(SNIFF_BYTES)
    for start in range(0, 4096, 10):
        window[start : start + 7] = adts_header(4096 - start)
    chain = adts_header(7) * ((SNIFF_BYTES - 4096 - 100) // 7)
    window[4096 : 4096 + len(chain)] = chain
    window[4096 + len(chain) :] = b"\x01" * (SNIFF_BYTES - 4096 - len(chain))
    path = tmp_path / "chains.aac"
    path.write_bytes(bytes(window) * 2)
    parsed: list[int] = []
    original = mpeg._adts_frame_at

    def counting_frame_at(data: bytes, pos: int) -> tuple[object, int] | None:
        parsed.append(pos)
        return original(data, pos)

    monkeypatch.setattr(mpeg, "_adts_frame_at", counting_frame_at)
    assert detect_audio_type(path) is None
    assert parsed
    assert max(Counter(parsed).values()) <= 2
    assert len(parsed) <= 2 * SNIFF_BYTES // 7 + 1024


def test_a_tail_full_of_capture_patterns_is_not_walked_without_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opus = (FIXTURES_DIR / "opus.opus").read_bytes()
    path = tmp_path / "flood.opus"
    path.write_bytes(opus + bytes(SNIFF_BYTES) + b"OggS" * (64 * 1024))
    examined = Examined(path, monkeypatch)
    assert examined.mime == AUDIO["opus.opus"]  # what counts is in the head
    assert examined.duration is None  # the tail's 65,536 candidate pages were more than the budget allows
    examined.assert_bounded()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with audio_server(tmp_path_factory.mktemp("bounds-library")) as server:
        yield server


# Hostile families that are refused because they hold more structures than the budget, not because they lie.
BEYOND_LIMITS_FAMILIES = {"mp4-nested"}


@pytest.mark.parametrize("family", sorted(HOSTILE))
def test_a_live_server_refuses_hostile_uploads_as_non_audio(live_server: RunningServer, family: str) -> None:
    name = f"{family}.upload"
    status, body = upload_chunks(live_server.port, name, 8 * MIB, HOSTILE[family].chunks(8 * MIB))
    assert status == 415
    reason = BEYOND_LIMITS if family in BEYOND_LIMITS_FAMILIES else "Non-audio file detected"
    assert body == {"error": f"{reason}: {name}", "name": name}
    assert requests.get(f"{live_server.url}/api/files", timeout=30).json() == []
