"""The JSON of a file, the same in every answer: the listing, an upload's result, the original client's."""

import json
from typing import Any

from audio_library.library.entries import Entry


def file_json(entry: Entry, **extra: Any) -> dict[str, Any]:
    """The JSON object of one file: name, size, type, duration, modified and its tags, then `extra` (an
    upload adds sent_name and status)."""
    return {
        "name": entry.name,
        "size": entry.size,
        "type": entry.type,
        "duration": entry.duration,
        "modified": entry.modified,
        **entry.tags.to_json(),
        **extra,
    }


def compact_json(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON, as the listing sends it (names stay readable, not \\u-escaped)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def json_array(fragments: list[bytes]) -> bytes:
    """A JSON array joined from already-encoded elements, so a listing encodes each row only once."""
    return b"[" + b",".join(fragments) + b"]"
