"""The copy of a file's tags that a tag parser reads, remembering where each piece of it lies in the file.

The format readers hand a tag library a new, smaller tag built from pieces of the file (the items it needs,
within the budgets); a cover found in that copy is located in the file through it, so it can be served
later by reading that byte range alone, without parsing the tags again.
"""

from dataclasses import dataclass, field

from audio_library.media.formats.limits import BoundedFile


Span = tuple[int, int]  # (offset in the file, length)


@dataclass
class TagCopy:
    """Bytes built for a tag parser; `pieces` maps (offset in the copy, offset in the file, length)."""

    data: bytearray = field(default_factory=bytearray)
    pieces: list[tuple[int, int, int]] = field(default_factory=list)

    def add(self, made: bytes) -> None:
        """Append bytes made here (headers rewritten, counts), which lie nowhere in the file."""
        self.data += made

    def copy(self, stream: BoundedFile, offset: int, length: int) -> None:
        """Append ``length`` bytes of the file from ``offset``, remembering where they came from."""
        stream.seek(offset)
        piece = stream.read(length)
        self.pieces.append((len(self.data), offset, len(piece)))
        self.data += piece

    def extend(self, other: "TagCopy") -> None:
        """Append another copy, its origins kept."""
        base = len(self.data)
        self.pieces.extend((base + at, origin, length) for at, origin, length in other.pieces)
        self.data += other.data

    def wrapped(self, head: bytes) -> "TagCopy":
        """A copy of ``head`` followed by this one (a container's header in front of its body)."""
        whole = TagCopy(bytearray(head))
        whole.extend(self)
        return whole

    def locate(self, found: bytes) -> Span | None:
        """Where ``found`` (bytes a parser gave back from this copy) lies in the file, as one unbroken range;
        None if it is not a piece of the file as it stands (decoded, unsynchronised, or built here)."""
        if not found:
            return None
        at = self.data.find(found)
        if at < 0:
            return None
        for start, origin, length in self.pieces:
            if start <= at and at + len(found) <= start + length:
                return origin + at - start, len(found)
        return None
