"""Tags: the title, artist, album, track number and cover art an audio file carries, read within a bound.

mutagen (GPL-2.0-or-later) reads the tags: it knows every format's text encodings and quirks. What it sees
is bounded here, because it trusts lengths and builds an object per item: it reads through a BoundedFile (at
most TAG_READ_BYTES in at most TAG_READS reads per file, never a seek outside the file), and it only ever
reads a copy of the tag made by the format readers, holding at most MAX_TAG_ITEMS items (frames, comments,
blocks, atoms) and none of the pictures over MAX_COVER_BYTES, stepped over unread, so a huge cover costs the
cover, not the title. An ID3 tag, whose compressed frames it would inflate without any bound, reaches it
holding only the few frames shown here, none of them compressed (`formats.id3.extract_id3`). A file whose
tags do not fit the bound, or that mutagen cannot read, simply has no tags: it is still audio.

At most TAG_PARSERS readings run at once (each holds up to TAG_READ_BYTES and its copy); another waits at
most TAG_WAIT_S for its turn, then gets TagsBusyError. Tags are read when a file is examined, once per file
version: the cover's place is kept with them (`Tags.cover_span`), so serving it reads that place alone
(`cover_places`).

Text is shown as `visible_text` makes it: no bidi override or control character can make a title lie.

Formats: ID3v1/ID3v2 (MP3, AAC, and the ID3 chunk of WAV and AIFF), Vorbis comments (FLAC, Ogg Vorbis,
Opus, Ogg FLAC, Speex) and MP4/M4A atoms. Matroska and WebM tags are not read.
"""

import errno
import io
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import mutagen
import mutagen.flac
import mutagen.id3
import mutagen.mp4
from mutagen._vorbis import VCommentDict  # the Vorbis comment parser of mutagen's Ogg and FLAC classes
from mutagen.mp4._atom import Atoms  # the atom tree MP4Tags reads; mutagen.mp4 uses it without exporting it

from audio_library.media.cover_places import comment_picture
from audio_library.media.covers import MAX_COVER_BYTES, Cover, servable_cover
from audio_library.media.formats.bmff import mp4_tag_list
from audio_library.media.formats.flac import flac_metadata
from audio_library.media.formats.id3 import extract_id3
from audio_library.media.formats.limits import TAG_READ_BYTES, TAG_READS, BoundedFile
from audio_library.media.formats.ogg_comments import ogg_comments
from audio_library.media.formats.riff import id3_chunk
from audio_library.media.formats.tag_copy import Span, TagCopy
from audio_library.media.formats.vorbis_comments import Comments
from audio_library.media.safe_open import open_regular
from audio_library.visible_text import visible_text


MAX_TEXT = 500  # characters kept of a title, artist or album
MAX_TEXT_FRAME = 64 * 1024  # an ID3 text frame bigger than this is left out
_PICTURE_HEADER = 1024  # what a picture frame, block or atom may hold besides the picture: type, description
_MAX_PICTURE_COMMENT = (MAX_COVER_BYTES + _PICTURE_HEADER) * 4 // 3 + 64  # base64, and its name
ID3V1_SIZE = 128

# ID3 frames shown (2.3/2.4 names, then 2.2 ones): title, artist, album artist, album, track, picture; each
# with the largest body kept of it.
_ID3_TEXT = (b"TIT2", b"TPE1", b"TPE2", b"TALB", b"TRCK", b"TT2", b"TP1", b"TP2", b"TAL", b"TRK")
_ID3_PICTURES = (b"APIC", b"PIC")
_ID3_WANTED = {
    **dict.fromkeys(_ID3_TEXT, MAX_TEXT_FRAME),
    **dict.fromkeys(_ID3_PICTURES, MAX_COVER_BYTES + _PICTURE_HEADER),
}
# Keys of title, artist, album artist, album and track, per tag format.
_ID3_KEYS = ("TIT2", "TPE1", "TPE2", "TALB", "TRCK")
_VORBIS_KEYS = ("title", "artist", "albumartist", "album", "tracknumber")
_MP4_KEYS = ("\xa9nam", "\xa9ART", "aART", "\xa9alb", "trkn")
_FRONT_COVER = 3  # the picture type of a front cover in ID3 and FLAC
_LEADING_NUMBER = re.compile(r"\s*0*(\d{1,6})")
TAG_PARSERS = 2  # tag readings at once: each may hold TAG_READ_BYTES, its copy and what mutagen makes of it
TAG_WAIT_S = 2.0  # how long a reading waits for its turn; readings take milliseconds, so only a flood waits
_parsers = threading.BoundedSemaphore(TAG_PARSERS)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tags:
    """What the API lists of a file's tags; None where the file says nothing (or nothing usable)."""

    title: str | None = None
    artist: str | None = None
    album: str | None = None
    track: int | None = None
    cover: bool = False  # whether GET /files/<name>/cover has a picture
    # Where the picture lies: (offset, length) in the file, or, when `cover_in_comment`, of the base64
    # METADATA_BLOCK_PICTURE value in the Vorbis comment list (the Ogg comment packet, the FLAC comment block);
    # None when it lies nowhere as it is (an unsynchronised ID3 frame).
    cover_span: Span | None = None
    cover_in_comment: bool = False

    def to_json(self) -> dict[str, Any]:
        """The tag fields of a file's JSON object."""
        return {
            "title": self.title,
            "artist": self.artist,
            "album": self.album,
            "track": self.track,
            "cover": self.cover,
        }


class TagsBusyError(OSError):
    """Too many tag readings at once for longer than TAG_WAIT_S: try again (an OSError, so a 503)."""


NO_TAGS = Tags()
_Found = tuple[Tags, Cover | None]


def read_tags(path: Path, mime: str) -> Tags:
    """The tags of the audio file at ``path`` (``mime`` as detected); NO_TAGS if it has none we can read."""
    with open_regular(path, buffered=False) as raw:
        return _read(raw, mime)[0]


def read_cover(source: Path | BinaryIO, mime: str) -> Cover | None:
    """The cover picture of an audio file (a path, or the file opened unbuffered), or None when it has none
    we may serve."""
    if isinstance(source, Path):
        with open_regular(source, buffered=False) as raw:
            return _read(raw, mime)[1]
    return _read(source, mime)[1]


def _read(raw: BinaryIO, mime: str) -> _Found:
    reader = _READERS.get(mime.partition(";")[0])
    if reader is None:
        return NO_TAGS, None
    if not _parsers.acquire(timeout=TAG_WAIT_S):
        raise TagsBusyError(errno.EAGAIN, f"more than {TAG_PARSERS} tag readings at once for {TAG_WAIT_S:g} s")
    try:
        return reader(BoundedFile(raw, TAG_READ_BYTES, TAG_READS))
    except OSError:
        raise
    except Exception as error:
        logger.debug("no tags read from %s: %r", raw.name, error)
        return NO_TAGS, None
    finally:
        _parsers.release()


def _leading_id3(stream: BoundedFile) -> _Found:
    """MP3 and ADTS: an ID3v2 tag at the start, an ID3v1 tag in the last 128 bytes."""
    tag = extract_id3(stream, 0, _ID3_WANTED)
    tail = b""
    if stream.size >= ID3V1_SIZE:
        stream.seek(stream.size - ID3V1_SIZE)
        tail = stream.read(ID3V1_SIZE)
    return _from_id3(tag, tail if tail.startswith(b"TAG") else b"")


def _chunk_id3(stream: BoundedFile) -> _Found:
    """WAV and AIFF: an ID3v2 tag in a chunk of its own."""
    offset = id3_chunk(stream, stream.size)
    tag = None if offset is None else extract_id3(stream, offset, _ID3_WANTED)
    return _from_id3(tag, b"")


def _from_id3(tag: TagCopy | None, tail: bytes) -> _Found:
    if tag is None and not tail:
        return NO_TAGS, None
    copy = tag or TagCopy()
    frames = mutagen.id3.ID3(io.BytesIO(bytes(copy.data) + tail))
    pictures = sorted(frames.getall("APIC"), key=lambda picture: picture.type != _FRONT_COVER)

    def first(key: str) -> object:
        return _first(getattr(frames.get(key), "text", None))

    return _tags(first, _ID3_KEYS, [picture.data for picture in pictures], copy)


def _flac(stream: BoundedFile) -> _Found:
    """Native FLAC: Vorbis comments and picture blocks (mutagen sees the metadata without the pictures over
    MAX_COVER_BYTES, so a huge cover does not cost the title)."""
    metadata = flac_metadata(stream, stream.size, MAX_COVER_BYTES + _PICTURE_HEADER, _MAX_PICTURE_COMMENT)
    copy, comments = metadata or (TagCopy(), None)
    audio = mutagen.flac.FLAC(io.BytesIO(bytes(copy.data)))
    found = _from_vorbis(audio.tags, list(audio.pictures), copy)
    if found[0] == NO_TAGS:  # some rippers tag only in the ID3 tag they put in front of the stream
        return _leading_id3(stream)
    return _placed_in_comment(found, comments)


def _ogg(stream: BoundedFile) -> _Found:
    """Ogg Vorbis, Opus, FLAC and Speex: Vorbis comments (pictures base64-encoded in them), which mutagen
    parses once they are gathered from the pages without the fields over the cover limit."""
    comments = ogg_comments(stream, stream.size, _MAX_PICTURE_COMMENT)
    if comments is None:
        return NO_TAGS, None
    found = _from_vorbis(VCommentDict(comments.data, framing=False), [], TagCopy())
    return _placed_in_comment(found, comments)


def _placed_in_comment(found: _Found, comments: Comments | None) -> _Found:
    """The tags with the place of their cover in the Vorbis comment list (an Ogg comment packet, a FLAC
    block), when the cover is the base64 METADATA_BLOCK_PICTURE value of one of ``comments``."""
    tags, cover = found
    if cover is None or tags.cover_span is not None or comments is None:
        return found
    for field, (offset, _) in zip(comments.fields, comments.places, strict=True):
        key, _, value = field.partition(b"=")
        picture = comment_picture(value) if key.lower() == b"metadata_block_picture" else None
        if picture is not None and picture.data == cover.data:
            return replace(tags, cover_span=(offset + len(key) + 1, len(value)), cover_in_comment=True), cover
    return found


def _from_vorbis(found: Any, pictures: list[Any], copy: TagCopy) -> _Found:
    comments: Any = found if found is not None else {}
    encoded = comments.get("metadata_block_picture") or []
    pictures += [picture for picture in map(comment_picture, encoded) if picture is not None]
    pictures.sort(key=lambda picture: picture.type != _FRONT_COVER)
    return _tags(lambda key: _first(comments.get(key)), _VORBIS_KEYS, [picture.data for picture in pictures], copy)


def _mp4(stream: BoundedFile) -> _Found:
    """MP4/M4A: the iTunes-style atoms under moov/udta/meta/ilst (mutagen sees them without the items over
    MAX_COVER_BYTES, so a huge cover does not cost the title)."""
    tag_list = mp4_tag_list(stream, stream.size, MAX_COVER_BYTES + _PICTURE_HEADER)
    if tag_list is None:
        return NO_TAGS, None
    source = io.BytesIO(tag_list.data)
    atoms: Any = mutagen.mp4.MP4Tags(Atoms(source), source)
    covers = [bytes(picture) for picture in atoms.get("covr") or []]
    return _tags(lambda key: _first(atoms.get(key)), _MP4_KEYS, covers, tag_list)


def _tags(first: Callable[[str], object], keys: tuple[str, ...], pictures: Sequence[bytes], copy: TagCopy) -> _Found:
    """Tags from a format's getter of a key's first value, its keys (title, artist, album artist, album,
    track), its pictures, best first, and the copy of the tag they were read from."""
    title, artist, album_artist, album, track = keys
    cover = servable_cover(pictures)
    span = None if cover is None else copy.locate(cover.data)
    shown_artist = _text(first(artist)) or _text(first(album_artist))
    tags = Tags(_text(first(title)), shown_artist, _text(first(album)), _track(first(track)), cover is not None, span)
    return tags, cover


def _first(values: Any) -> Any:
    """The first of a tag's values, or None."""
    return values[0] if values else None


def _text(value: object) -> str | None:
    """A tag value as shown: visible text, stripped, at most MAX_TEXT characters, None if empty."""
    if value is None:
        return None
    shown = visible_text(str(value)[: MAX_TEXT * 2]).strip()[:MAX_TEXT]
    return shown or None


def _track(value: object) -> int | None:
    """The track number of "3", "03", "3/12", 3 or (3, 12); None if absent, zero or not a number."""
    if isinstance(value, tuple):
        value = _first(value)
    if isinstance(value, int):
        return value if 0 < value < 1_000_000 else None
    match = _LEADING_NUMBER.match(str(value)) if value is not None else None
    return int(match[1]) or None if match else None


_READERS: dict[str, Callable[[BoundedFile], _Found]] = {
    "audio/mpeg": _leading_id3,
    "audio/aac": _leading_id3,
    "audio/wav": _chunk_id3,
    "audio/aiff": _chunk_id3,
    "audio/flac": _flac,
    "audio/ogg": _ogg,
    "audio/mp4": _mp4,
}


def tags_from_fields(fields: Mapping[str, str], cover: bool) -> Tags:
    """Tags from plain tag names and texts (title, artist, album_artist, album, track), as FFmpeg reports a
    file's tags, with `cover` saying whether it holds a picture we serve."""
    keys = ("title", "artist", "album_artist", "album", "track")
    return replace(_tags(fields.get, keys, [], TagCopy())[0], cover=cover)
