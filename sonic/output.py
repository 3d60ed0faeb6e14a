"""Output formats: names in the order people expect, sizes, durations, the long table, inert text and JSON."""

import json
import re
from collections.abc import Sequence

from sonic.entries import TaggedEntry


_DIGITS = re.compile(r"(\d+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_JSON_UNESCAPED_CONTROL = re.compile(r"[\x7f-\x9f]")


def json_text(value: object) -> str:
    """JSON for stdout, readable (UTF-8, indented) and inert: json.dumps escapes the C0 controls, and the
    rest (DEL and C1, which some terminals obey) are escaped here as \\u00XX, which JSON reads back the same."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return _JSON_UNESCAPED_CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def visible(text: str) -> str:
    """The text with control characters (newlines, escape sequences) written as \\xNN: one inert line."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def name_sort_key(name: str) -> tuple[tuple[int, int, str], ...]:
    """The order people expect: case-insensitive, runs of digits by value (`Track 2` before `Track 10`), first."""
    return tuple(
        (0, int(part), part) if _DIGITS.fullmatch(part) else (1, 0, part.casefold())
        for part in _DIGITS.split(name)
        if part
    )


def format_size(size: int) -> str:
    """Bytes in binary units with one decimal: 512 B, 1.5 KiB, 400.0 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour up."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


LONG_COLUMNS = ("NAME", "TITLE", "ARTIST", "ALBUM", "TRACK", "SIZE", "TYPE", "DURATION")
RIGHT_ALIGNED = frozenset({"TRACK", "SIZE", "DURATION"})


def long_table(entries: Sequence[TaggedEntry], header: bool) -> list[str]:
    """`list --long`: one aligned line per file, a missing field blank; a header line first if asked."""
    rows = [
        (
            entry["name"],
            entry.get("title") or "",
            entry.get("artist") or "",
            entry.get("album") or "",
            "" if entry.get("track") is None else str(entry.get("track")),
            format_size(entry["size"]),
            entry["type"],
            "" if entry["duration"] is None else format_duration(entry["duration"]),
        )
        for entry in entries
    ]
    if header and rows:
        rows.insert(0, LONG_COLUMNS)
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(len(LONG_COLUMNS))]
    return [
        "  ".join(
            cell.rjust(width) if column in RIGHT_ALIGNED else cell.ljust(width)
            for cell, width, column in zip(row, widths, LONG_COLUMNS, strict=True)
        )
        for row in rows
    ]
