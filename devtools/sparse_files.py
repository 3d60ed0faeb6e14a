"""Large files that cost no disk: a document's first line, then a hole, for uploads that must be refused."""

from pathlib import Path


def sparse_pdf(path: Path, size: int) -> Path:
    """Write a `size`-byte file at `path` that starts as a PDF and is sparse after its first line; return it."""
    with path.open("wb") as file:
        file.write(b"%PDF-1.4\n")
        file.truncate(size)
    return path
