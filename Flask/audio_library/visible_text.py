"""Text read from files (names, tags) made safe to show: no character in it may act instead of being seen.

Control, format (bidi overrides such as U+202E can disguise an extension or reorder a title), surrogate and
line/paragraph separator characters: none belongs in a name in a list, or in a title on a page or terminal.
"""

import unicodedata


UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_BREAKING = frozenset({"Cc", "Zl", "Zp"})  # those that separate words: a space keeps the words apart


def is_unsafe(char: str) -> bool:
    """Whether a character acts (moves the cursor, reorders text) rather than shows."""
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def visible_text(text: str) -> str:
    """``text`` with its unsafe characters gone: controls and line separators become spaces, format (bidi,
    zero-width) and surrogate characters are dropped."""
    if text.isprintable():
        return text
    return "".join(
        " " if category in _BREAKING else "" if category in UNSAFE_CATEGORIES else char
        for char, category in ((char, unicodedata.category(char)) for char in text)
    )
