"""Ogg: pages of interleaved streams, audio when every stream is an audio codec (Vorbis, Opus, FLAC, Speex)."""

import struct

from audio_library.media.formats.flac import flac_streaminfo
from audio_library.media.formats.id3 import skip_id3
from audio_library.media.formats.limits import SNIFF_BYTES, BoundedFile


_OGG_AUDIO = (b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   ")
_OGG_METADATA = (b"fishead\0", b"fisbone\0")  # Ogg Skeleton describes the other streams
OGG_OPUS = "audio/ogg;codecs=opus"  # RFC 7845's name for Ogg Opus, so that the page can say "Opus"


_Page = tuple[int, int, int, bytes]


def _ogg_page_at(data: bytes, pos: int, stream: BoundedFile) -> tuple[_Page, int] | None:
    """((header type, granule position, serial, first bytes of body), next page's offset) of the page at ``pos``.

    A page cannot lie much: its lacing values add up to at most 65,025 body bytes.
    """
    if not data.startswith(b"OggS", pos) or pos + 27 > len(data):
        return None
    stream.walk()
    header_type, granule, serial = struct.unpack_from("<BqI", data, pos + 5)
    body = pos + 27 + data[pos + 26]
    return (header_type, granule, serial, data[body : body + 64]), body + sum(data[pos + 27 : body])


def _ogg_streams(head: bytes, stream: BoundedFile) -> dict[int, bytes]:
    """Serial -> identification packet of every stream that begins in ``head`` (each page walked on ``stream``)."""
    streams: dict[int, bytes] = {}
    pos = 0
    while True:
        found = _ogg_page_at(head, pos, stream)
        if found is None:
            break
        (header_type, _, serial, body), pos = found
        if header_type & 0x02:
            streams[serial] = body
    return streams


def check_ogg(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Ogg is audio when every stream is an audio codec (Skeleton allowed), so Theora video is refused.

    Opus alone is OGG_OPUS, any other audio "audio/ogg".
    """
    streams = [body for body in _ogg_streams(head, stream).values() if not body.startswith(_OGG_METADATA)]
    if not streams or not all(body.startswith(_OGG_AUDIO) for body in streams):
        return None
    return OGG_OPUS if all(body.startswith(b"OpusHead") for body in streams) else "audio/ogg"


def ogg_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the granule position of the first audio stream's last page."""
    stream.seek(skip_id3(stream, size) or 0)  # some taggers put an ID3v2 tag in front
    streams = _ogg_streams(stream.read(SNIFF_BYTES), stream)
    audio = [(serial, body) for serial, body in streams.items() if body.startswith(_OGG_AUDIO)]
    if not audio:
        return None
    serial, ident = audio[0]
    rate: int
    pre_skip = 0
    if ident.startswith(b"\x01vorbis"):
        (rate,) = struct.unpack_from("<I", ident, 12)
    elif ident.startswith(b"OpusHead"):
        (pre_skip,) = struct.unpack_from("<H", ident, 10)
        rate = 48000  # Opus granules always count 48 kHz samples
    elif ident.startswith(b"\x7fFLAC"):
        rate, _ = flac_streaminfo(ident[17:51])
    else:
        (rate,) = struct.unpack_from("<I", ident, 36)
    for tail_size in (SNIFF_BYTES, 4 * SNIFF_BYTES + 27):
        start = max(0, size - tail_size)
        stream.seek(start)
        tail = stream.read(tail_size)
        pos = tail.rfind(b"OggS")
        while pos >= 0:  # each candidate is walked: a tail full of "OggS" runs out of the structure budget
            found = _ogg_page_at(tail, pos, stream)
            if found is not None and found[0][2] == serial and found[0][1] >= 0:
                return (found[0][1] - pre_skip) / rate
            pos = tail.rfind(b"OggS", 0, pos)
        if start == 0:
            break
    return None
