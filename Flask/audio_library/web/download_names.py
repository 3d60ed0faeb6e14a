"""The Content-Disposition header for a download: a readable ASCII ``filename=`` and the exact ``filename*``.

Clients that ignore RFC 5987's ``filename*`` (``curl -OJ``, old browsers) save the ASCII ``filename=``, so it
is a transliteration (``Песня про зайцев.wav`` -> ``Pesnya pro zaytsev.wav``) rather than a row of "_".
anyascii (ISC licence) transliterates every script; Unidecode (GPL) gives "Pesnia" for the same name.
"""

from urllib.parse import quote

from anyascii import anyascii

from audio_library.library.names import split_extension


FALLBACK_STEM = "download"
# Printable ASCII that is safe inside a quoted-string and as a file name on every system.
_UNSAFE = frozenset('"\\/:*?<>|%;')


def ascii_download_name(name: str) -> str:
    """Return a non-empty printable-ASCII file name for ``name``, keeping its extension when that is ASCII."""
    stem, extension = split_extension(name)
    safe_extension = _ascii_safe(anyascii(extension)).replace(" ", "")
    safe_stem = " ".join(_ascii_safe(anyascii(stem)).split()).strip(".")
    if extension.isascii() and safe_extension == extension.replace(" ", ""):
        safe_extension = extension if _ascii_safe(extension) == extension else safe_extension
    return f"{safe_stem or FALLBACK_STEM}{safe_extension if safe_extension != '.' else ''}"


def content_disposition(name: str, *, attachment: bool) -> str:
    """Return the whole header value: the disposition, the ASCII ``filename=`` and ``filename*=UTF-8''...``."""
    disposition = "attachment" if attachment else "inline"
    fallback = ascii_download_name(name)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


def _ascii_safe(text: str) -> str:
    return "".join(char for char in text if " " <= char <= "~" and char not in _UNSAFE)
