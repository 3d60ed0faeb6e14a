"""listed_name and disk_name: every set of names on disk is listed one-to-one, and each listed name reads back."""

import os

import pytest
from audio_library.library.names import disk_name, listed_name, sanitize_filename
from hypothesis import example, given
from hypothesis import strategies as st

from tests.examples import MANY_EXAMPLES
from tests.name_bytes import ISSUE_NAMES, byte_names, with_look_alikes


@MANY_EXAMPLES
@given(st.lists(byte_names, min_size=1, max_size=3).map(with_look_alikes))
@example([b"caf\x80", b"caf\xe9", b"caf\\xe9"]).via("the three names the live test once listed as two")
@example(list(ISSUE_NAMES)).via("the six names once listed as four")
def test_different_names_on_disk_are_listed_differently(names: list[bytes]) -> None:
    assert len({listed_name(os.fsdecode(name)) for name in names}) == len(set(names))


@MANY_EXAMPLES
@given(byte_names)
@example(b"caf\xe9.wav")
@example(b"caf\\xe9.wav")
@example(b"\xed\xa0\x80")  # a surrogate encoded in UTF-8: not UTF-8 to Python
def test_a_listed_name_is_text_and_reads_back_as_its_name_on_disk(raw: bytes) -> None:
    name = os.fsdecode(raw)
    listed = listed_name(name)
    listed.encode()  # valid Unicode: JSON, a page and a URL can carry it
    assert disk_name(listed) == name


@MANY_EXAMPLES
@given(st.text())
def test_a_text_that_is_no_listed_name_reads_back_as_none(text: str) -> None:
    name = disk_name(text)
    assert name is None or listed_name(name) == text


@MANY_EXAMPLES
@given(st.text())
def test_a_name_stored_through_the_api_is_listed_as_it_is(sent: str) -> None:
    stored = sanitize_filename(sent)
    assert listed_name(stored) == stored


@pytest.mark.parametrize(
    ("raw", "listed"),
    [
        (b"caf\xe9.wav", "caf\\xe9.wav"),
        (b"caf\\xe9.wav", "caf\\\\xe9.wav"),
        ("caf\ufffd.wav".encode(), "caf\ufffd.wav"),
        (b"caf\xc3.wav", "caf\\xc3.wav"),
        (b"caf\\xc3.wav", "caf\\\\xc3.wav"),
        (b"a\\\\b.wav", "a\\\\\\\\b.wav"),
        ("Песня.wav".encode(), "Песня.wav"),
    ],
)
def test_the_issue_names_are_listed_so(raw: bytes, listed: str) -> None:
    assert raw in ISSUE_NAMES or raw == "Песня.wav".encode()
    assert listed_name(os.fsdecode(raw)) == listed


@pytest.mark.parametrize("text", ["caf\\x41", "caf\\xE9", "a\\b", "end\\", "caf\\x9", "x\ud800"])
def test_an_escape_no_file_is_listed_under_names_nothing(text: str) -> None:
    assert disk_name(text) is None
