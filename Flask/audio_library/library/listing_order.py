"""The listing's rows in the order people sort names, kept cheap for 20,000 names rebuilt several times a second.

A natural key costs a regular expression per name, and sorting 20,000 shuffled keys takes a tenth of a
second, so keys are kept per name and each build starts from the previous listing's order: new names are
then placed by bisection.
"""

import bisect

from audio_library.library.entries import Entry
from audio_library.library.names import SortPiece, natural_sort_key


MAX_BISECTED = 64  # new names placed one by one into the previous order; more are sorted with the rest

Row = tuple[Entry, bytes]  # an entry and its JSON


class ListingOrder:
    """Orders the rows of successive listings; used by one build at a time."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[tuple[SortPiece, ...], str]] = {}  # natural_sort_key per listed name
        self._rank: dict[str, int] = {}  # each name's place in the last listing

    def arrange(self, rows: list[Row]) -> list[Row]:
        """The rows in natural name order (listed names are distinct: names.listed_name)."""
        rank = self._rank
        rows.sort(key=lambda row: rank.get(row[0].name, len(rank)))
        known = sum(1 for entry, _ in rows if entry.name in rank)
        if len(self._keys) > 2 * len(rows) + 1000:  # names long gone: start afresh rather than grow
            self._keys.clear()
        ordered, new = rows[:known], rows[known:]
        if len(new) <= MAX_BISECTED:
            for row in new:
                bisect.insort(ordered, row, key=self._key)
        else:
            ordered = sorted(rows, key=self._key)
        self._rank = {entry.name: position for position, (entry, _) in enumerate(ordered)}
        return ordered

    def _key(self, row: Row) -> tuple[tuple[SortPiece, ...], str]:
        name = row[0].name
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = natural_sort_key(name)
        return key
