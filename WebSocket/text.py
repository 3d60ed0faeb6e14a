"""Text from a peer is data: which characters the chat refuses, and how the terminal client shows the rest.

A message or announcement may not carry a character that a terminal acts on instead of printing it: C0
controls (ESC starts every escape sequence, CR and LF forge lines), DEL, C1 controls (CSI and OSC have
one-character forms), bidi embeddings, overrides and isolates (they reorder what follows on screen),
line and paragraph separators, and lone surrogates (not text at all). A tab is the only control that has
a harmless meaning, so the server turns it into a space.
"""

import unicodedata


BIDI = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
SEPARATORS = frozenset({0x2028, 0x2029})
MAX_TEXT = 2000  # characters in one chat message or announcement
EXCERPT = 40  # characters of refused input an error may quote


def is_forbidden(character: str) -> bool:
    """Whether a terminal could act on this character instead of showing it, or it is not a character."""
    point = ord(character)
    return point < 0x20 or 0x7F <= point <= 0x9F or point in BIDI or point in SEPARATORS or 0xD800 <= point <= 0xDFFF


def first_forbidden(text: str) -> str | None:
    """The first character of `text` that the chat refuses, or None if there is none."""
    return next((character for character in text if is_forbidden(character)), None)


def describe(character: str) -> str:
    """`U+001B` and, where Unicode names it, its name: how an error names a refused character."""
    name = unicodedata.name(character, "")
    kind = "a control character" if unicodedata.category(character) == "Cc" else "not allowed"
    return f"U+{ord(character):04X} ({name})" if name else f"U+{ord(character):04X} ({kind})"


def clean(text: str) -> tuple[str, str | None]:
    """The message as the room will see it (tabs as spaces), and why it is refused, or None if it is not."""
    text = text.replace("\t", " ")
    character = first_forbidden(text)
    if character is None:
        return text, None
    return text, f"it contains {describe(character)}, which the chat does not carry"


def visible(text: str) -> str:
    """The text with every character a terminal could act on written as an escape (`\\x1b`, `\\u202e`)."""
    if first_forbidden(text) is None:
        return text
    return "".join(escape(character) if is_forbidden(character) else character for character in text)


def escape(character: str) -> str:
    point = ord(character)
    return f"\\x{point:02x}" if point <= 0xFF else f"\\u{point:04x}"


def excerpt(text: str) -> str:
    """A short, visible quote of refused input, for an error message."""
    shown = visible(text[:EXCERPT])
    return shown + "..." if len(text) > EXCERPT else shown
