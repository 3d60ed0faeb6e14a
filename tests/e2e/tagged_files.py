"""Audio files with the tags a test chooses: the MP3 fixture with its title and artist rewritten by mutagen."""

from pathlib import Path

from mutagen.id3 import ID3, TIT2, TPE1

from tests.library_folders import fixture_bytes


UTF8 = 3  # ID3's text encoding number for UTF-8


def tagged_mp3(folder: Path, name: str, title: str | None, artist: str | None) -> Path:
    """Half a second of MP3 with a cover, titled and attributed as asked (None: no such tag)."""
    path = folder / name
    path.write_bytes(fixture_bytes("tagged.mp3"))
    tags = ID3(path)
    tags.delall("TIT2")
    tags.delall("TPE1")
    if title is not None:
        tags.add(TIT2(encoding=UTF8, text=title))
    if artist is not None:
        tags.add(TPE1(encoding=UTF8, text=artist))
    tags.save(path)
    return path
