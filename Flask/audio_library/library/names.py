"""File names in the library: what a sent name becomes on disk, the names tried when it is taken, and the
name each file on disk is listed under."""

import os
import re
import unicodedata

from audio_library.visible_text import is_unsafe


MAX_NAME_BYTES = 255  # NAME_MAX of ext4, XFS, btrfs, APFS: the longest name the folder can hold
MAX_EXTENSION_BYTES = 16  # a longer "extension" is part of the name, not a type hint worth keeping
FALLBACK_NAME = "unnamed"

_SEPARATORS = frozenset({"/", "\\"})
_LEADING_JUNK = re.compile(r"^[\s.]+")
_NUMBER = re.compile(r"\d+")
_ESCAPE = "\\"  # the one character the listed form of a name escapes, besides bytes that are not UTF-8
_ESCAPE_SEQUENCE = re.compile(r"\\(?:\\|x([0-9a-f]{2}))")

# One piece of a name's sort key: (0, value, digits) for a number, (1, 0, casefolded text) for text, so
# numbers come before text at the same position and equal numbers written differently ("07", "7") still
# compare the same way every time.
SortPiece = tuple[int, int, str]


def sanitize_filename(sent: str) -> str:
    """Return the name to store a file sent as `sent` under: safe in one folder, as close to `sent` as possible.

    Unicode letters are kept; path separators, control and format characters become "_"; leading dots and
    surrounding white space are dropped, so the result is never hidden, "." or ".."; names longer than
    MAX_NAME_BYTES in UTF-8 are shortened keeping the extension. Pure: the same input gives the same output,
    and sanitizing a sanitized name changes nothing.
    """
    name = unicodedata.normalize("NFC", sent)
    name = "".join("_" if char in _SEPARATORS or is_unsafe(char) else char for char in name)
    name = _LEADING_JUNK.sub("", name).rstrip()
    name = fit_name(name, "")
    return name or FALLBACK_NAME


def numbered_name(name: str, number: int) -> str:
    """Return the `number`th candidate for `name` when it is taken: "song.mp3" → "song (2).mp3"."""
    if number == 1:
        return name
    return fit_name(name, f" ({number})")


def split_extension(name: str) -> tuple[str, str]:
    """Split "song.mp3" into ("song", ".mp3"); a name without a short extension has ext "" ."""
    dot = name.rfind(".")
    if dot <= 0 or len(name[dot:].encode()) > MAX_EXTENSION_BYTES or name[dot + 1 :].strip() != name[dot + 1 :]:
        return name, ""
    return name[:dot], name[dot:]


def fit_name(name: str, suffix: str) -> str:
    """Insert `suffix` before the extension of `name`, cutting the stem so the whole fits in MAX_NAME_BYTES."""
    stem, extension = split_extension(name)
    budget = MAX_NAME_BYTES - len(suffix.encode()) - len(extension.encode())
    encoded = stem.encode()
    if len(encoded) > budget:
        # Cutting bytes may split a character: drop the partial one rather than write invalid UTF-8.
        stem = encoded[:budget].decode(errors="ignore").rstrip()
    return f"{stem}{suffix}{extension}"


def listed_name(file_name: str) -> str:
    """The name a file in the folder is listed, served and deleted under: one-to-one with names on disk.

    A name that is UTF-8 without a backslash is listed as it is (every name stored through the API is: a
    sent backslash becomes "_"). Any other name is escaped: each backslash is doubled and each byte that is
    not UTF-8 is written \\xNN. Escaping the escape character makes the mapping injective by construction:
    an escaped name always holds a backslash, which an unescaped one never does, and the escapes read back
    one way only. :func:`disk_name` is its inverse.
    """
    raw = os.fsencode(file_name)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        pass
    else:
        if _ESCAPE not in text:
            return text
    return raw.replace(b"\\", b"\\\\").decode(errors="backslashreplace")


def disk_name(listed: str) -> str | None:
    """The name on disk (in os.fsdecode's form) that is listed as exactly `listed`, or None if none can be."""
    pieces = _ESCAPE_SEQUENCE.split(listed)  # text, then per escape its hex digits (None for a backslash), ...
    raw = bytearray()
    for index, piece in enumerate(pieces):
        if index % 2:
            raw += b"\\" if piece is None else bytes.fromhex(piece)
        elif _ESCAPE in piece:
            return None  # a backslash that starts no escape: no name is listed so
        else:
            raw += piece.encode(errors="surrogatepass")  # a surrogate is never listed: refused just below
    name = os.fsdecode(bytes(raw))
    return name if listed_name(name) == listed else None


def natural_sort_key(name: str) -> tuple[tuple[SortPiece, ...], str]:
    """The order people expect: case-insensitive, runs of digits by value ("Track 2" before "Track 10").

    screwdriver's `name_sort_key` orders names the same way (property-tested); names equal but for case
    are then ordered by code point, so the order never depends on the folder's.
    """
    pieces: list[SortPiece] = []
    position = 0
    for number in _NUMBER.finditer(name):
        if number.start() > position:
            pieces.append((1, 0, name[position : number.start()].casefold()))
        pieces.append((0, int(number.group()), number.group()))
        position = number.end()
    if position < len(name):
        pieces.append((1, 0, name[position:].casefold()))
    return tuple(pieces), name
