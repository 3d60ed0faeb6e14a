"""Cover pictures: which embedded picture may be served, told by its bytes, never by what its tag claims.

Only JPEG, PNG, GIF and WebP of at most MAX_COVER_BYTES are served, so an SVG or an HTML page hidden in a tag
never reaches a browser from this server's origin.
"""

from collections.abc import Sequence
from dataclasses import dataclass


MAX_COVER_BYTES = 1024 * 1024  # a bigger picture is not served (and an ID3 frame holding one is not read)
_IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True)
class Cover:
    """An embedded picture whose bytes are a JPEG, PNG, GIF or WebP image (``type`` is its MIME type)."""

    type: str
    data: bytes


def servable_cover(candidates: Sequence[bytes]) -> Cover | None:
    """The first candidate that is an image we serve and not bigger than MAX_COVER_BYTES."""
    for data in candidates:
        if len(data) > MAX_COVER_BYTES:
            continue
        image_type = image_type_of(data)
        if image_type is not None:
            return Cover(image_type, bytes(data))
    return None


def image_type_of(data: bytes) -> str | None:
    """The MIME type of a JPEG, PNG, GIF or WebP image told by its first bytes; None for anything else."""
    for signature, image_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return image_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
