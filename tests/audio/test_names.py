"""sanitize_filename: names stay readable, Unicode included, and can only mean a plain file in the library."""

import unicodedata

import pytest
from audio_library.library.names import MAX_NAME_BYTES, numbered_name, sanitize_filename
from hypothesis import given
from hypothesis import strategies as st

from tests.examples import MANY_EXAMPLES


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("Песня про зайцев.wav", "Песня про зайцев.wav"),
        ("日本語の歌.MP3", "日本語の歌.MP3"),
        ("song.mp3", "song.mp3"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..\\..\\boot.ini", "_.._boot.ini"),
        ("a/b\\c.ogg", "a_b_c.ogg"),
        ("..", "unnamed"),
        (".", "unnamed"),
        ("", "unnamed"),
        ("...hidden.wav", "hidden.wav"),
        (" . .x.wav", "x.wav"),
        ("  spaced  .wav  ", "spaced  .wav"),
        ("nul\0byte.wav", "nul_byte.wav"),
        ("bell\x07\x1b[31m.wav", "bell__[31m.wav"),
        ("evil\u202ewav.exe", "evil_wav.exe"),
        ("line\u2028break.wav", "line_break.wav"),
        ("e\u0301te\u0301.wav", "été.wav"),  # decomposed accents are stored composed (NFC)
    ],
)
def test_names_are_kept_as_far_as_is_safe(sent: str, stored: str) -> None:
    assert sanitize_filename(sent) == stored


def test_an_over_long_name_is_cut_to_the_byte_limit_keeping_its_extension() -> None:
    name = sanitize_filename("ж" * 300 + ".flac")
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert name.endswith(".flac")
    assert name.startswith("жжж")
    assert set(name.removesuffix(".flac")) == {"ж"}  # cut between characters, none half-kept or replaced


def test_numbered_names_go_before_the_extension_and_fit() -> None:
    assert numbered_name("song.mp3", 1) == "song.mp3"
    assert numbered_name("song.mp3", 2) == "song (2).mp3"
    assert numbered_name("archive.tar.gz", 3) == "archive.tar (3).gz"
    assert numbered_name("README", 2) == "README (2)"
    long = sanitize_filename("я" * 200 + ".ogg")
    assert len(numbered_name(long, 12).encode()) <= MAX_NAME_BYTES
    assert numbered_name(long, 12).endswith(" (12).ogg")


@MANY_EXAMPLES
@given(st.text())
def test_any_name_becomes_one_safe_plain_name(sent: str) -> None:
    name = sanitize_filename(sent)
    assert name
    assert name not in {".", ".."}
    assert not name.startswith(".")
    assert "/" not in name
    assert "\\" not in name
    assert "\0" not in name
    assert all(unicodedata.category(char) not in {"Cc", "Cf", "Cs", "Zl", "Zp"} for char in name)
    assert len(name.encode()) <= MAX_NAME_BYTES


@MANY_EXAMPLES
@given(st.text())
def test_sanitizing_is_stable(sent: str) -> None:
    once = sanitize_filename(sent)
    assert sanitize_filename(once) == once
    assert sanitize_filename(sent) == once


@MANY_EXAMPLES
@given(st.text(), st.integers(min_value=2, max_value=100_000))
def test_numbered_names_stay_safe(sent: str, number: int) -> None:
    name = numbered_name(sanitize_filename(sent), number)
    assert len(name.encode()) <= MAX_NAME_BYTES
    assert f"({number})" in name
    assert not name.startswith(".")
