"""RIFF WAVE and AIFF/AIFF-C: chunked files, audio when their format chunk is sane and sound data follows.

Players read these files forgivingly, and so does this: what follows the container (stray bytes, an ID3v1
or APEv2 tag appended by a tagger) is ignored, as is a chunk cut off after the sound data (a file cut
short); in a WAV, a missing pad byte after an odd-sized chunk is stepped over (FFmpeg does so, not for
AIFF); and a recorder that never finalised its header (sizes 0 or 0xFFFFFFFF) has sound data running to
the end of the file.
"""

import struct

from audio_library.media.formats.limits import BoundedFile, OutOfBoundsError


UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what a writer that never went back to its header leaves
# AIFF-C compression types whose numSampleFrames counts packets, with the sample frames in each packet.
_FRAMES_PER_PACKET = {b"ima4": 64}
_UNCOMPRESSED_WAV = (1, 3, 6, 7, 0xFFFE)  # PCM, float, A-law, mu-law, extensible: the byte rate is exact
_PCM_COMPRESSIONS = (b"NONE", b"sowt", b"twos", b"raw ", b"in24", b"in32", b"fl32", b"fl64")

_Chunk = tuple[bytes, int, int]


def _readable_id(chunk_id: bytes) -> bool:
    """Chunk IDs are four printable ASCII characters; anything else is not a chunk header."""
    return len(chunk_id) == 4 and all(0x20 <= byte <= 0x7E for byte in chunk_id)


def _walk_chunks(stream: BoundedFile, size: int, big_endian: bool, sound: bytes) -> list[_Chunk]:
    """(chunk id, data offset, data size) of the chunks of the RIFF or FORM container, reading only headers.

    The walk ends at the container's end once the ``sound`` chunk has been seen: what follows a complete
    container is not its business. Before the sound chunk, a chunk running past the end of the file is a lie
    (OutOfBoundsError); after it, such a chunk, or bytes that are not a chunk header, are a file cut short
    or trailing junk, and end the walk. The sound chunk itself may run past the end (a file cut short) or
    have an unknown size; its size is then what the file holds, and it ends the walk.
    """
    unpack = ">I" if big_endian else "<I"
    stream.seek(4)
    (declared,) = struct.unpack(unpack, stream.read(4))
    container_end = size if declared in UNKNOWN_SIZES else min(size, 8 + declared)
    chunks: list[_Chunk] = []
    offset, sound_seen = 12, False
    while offset + 8 <= (container_end if sound_seen else size):
        stream.walk()
        stream.seek(offset)
        header = stream.read(8)
        chunk_id, (chunk_size,) = header[:4], struct.unpack(unpack, header[4:])
        if sound_seen and not _readable_id(chunk_id):
            break  # junk inside the container, after the audio
        if chunk_id == sound:
            sound_seen = True
            unfinalised = declared in UNKNOWN_SIZES or 8 + declared <= offset + 8  # the header was never updated
            if offset + 8 + chunk_size > size or (chunk_size == 0 and unfinalised):
                chunks.append((chunk_id, offset + 8, size - offset - 8))
                break
        elif offset + 8 + chunk_size > size:
            if sound_seen:
                break  # a chunk cut off after the audio: the file was cut short
            raise OutOfBoundsError(f"chunk {chunk_id!r} of {chunk_size} bytes runs past the end of the file")
        chunks.append((chunk_id, offset + 8, chunk_size))
        offset = _next_chunk(stream, offset + 8 + chunk_size, chunk_size, forgiving=not big_endian)
    return chunks


def _next_chunk(stream: BoundedFile, end: int, chunk_size: int, forgiving: bool) -> int:
    """Where the chunk after one ending at ``end`` starts: past its pad byte if it has an odd size, unless
    ``forgiving`` and a writer forgot the pad byte (the header is readable without it, and not with it)."""
    if not chunk_size & 1 or not forgiving or end + 9 > stream.size:
        return end + (chunk_size & 1)
    stream.seek(end)
    ahead = stream.read(5)
    return end if _readable_id(ahead[:4]) and not _readable_id(ahead[1:]) else end + 1


def _wav_seconds(stream: BoundedFile, size: int) -> float | None:
    """How long a RIFF WAVE file with a valid fmt and a non-empty data chunk plays; None if it is not one.

    That is the data present over the byte rate, or for a compressed format (ADPCM, GSM) the sample count of
    its fact chunk, since writers' byte rates for those are often approximate.
    """
    stream.seek(0)
    if (riff := stream.read(12))[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        return None
    fmt: tuple[int, int, int, int, int] | None = None
    samples = None
    for chunk_id, offset, chunk_size in _walk_chunks(stream, size, big_endian=False, sound=b"data"):
        if chunk_id == b"fmt " and chunk_size >= 14:  # 14 bytes: the old WAVEFORMAT, with no bits per sample
            stream.seek(offset)
            format_tag, channels, rate, byte_rate, block_align = struct.unpack("<HHIIH", stream.read(14))
            fmt = (format_tag, channels, rate, byte_rate, block_align)
            if not (channels and rate and byte_rate and block_align):
                return None
        elif chunk_id == b"fact" and chunk_size >= 4:
            stream.seek(offset)
            samples = int.from_bytes(stream.read(4), "little")
        elif chunk_id == b"data":
            present = min(chunk_size, size - offset)
            if fmt is None or present <= 0:
                return None
            format_tag, _, rate, byte_rate, _ = fmt
            if samples and format_tag not in _UNCOMPRESSED_WAV:
                return samples / rate
            return present / byte_rate
    return None


def check_wav(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the file is RIFF WAVE with a valid fmt chunk and a non-empty data chunk."""
    return "audio/wav" if _wav_seconds(stream, size) is not None else None


def wav_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the data present and the byte rate (or the fact chunk)."""
    return _wav_seconds(stream, size)


def _extended_float(raw: bytes) -> float:
    """The 80-bit IEEE 754 extended number AIFF uses for its sample rate."""
    exponent, mantissa = struct.unpack(">HQ", raw)
    if exponent & 0x7FFF == 0 or mantissa == 0:
        return 0.0
    return float(mantissa * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63))


def _aiff_layout(stream: BoundedFile, size: int) -> tuple[int, float] | None:
    """(sample frames, sample rate) of an AIFF/AIFF-C file with a sound data chunk and sample frames.

    AIFF-C `ima4` counts packets of 64 frames. For uncompressed sound, a header claiming more frames than
    the SSND chunk holds (a pipe's writer guesses) gives the frames present.
    """
    stream.seek(0)
    if (form := stream.read(12))[:4] != b"FORM" or form[8:12] not in (b"AIFF", b"AIFC"):
        return None
    chunks = {
        chunk_id: (offset, chunk_size)
        for chunk_id, offset, chunk_size in _walk_chunks(stream, size, big_endian=True, sound=b"SSND")
    }
    if b"COMM" not in chunks or b"SSND" not in chunks or chunks[b"COMM"][1] < 18:
        return None
    stream.seek(chunks[b"COMM"][0])
    comm = stream.read(min(chunks[b"COMM"][1], 22))
    channels, frames, bits, rate = struct.unpack(">HIH10s", comm[:18])
    compression = comm[18:22] if form[8:12] == b"AIFC" and len(comm) == 22 else b"NONE"
    sample_rate = _extended_float(rate)
    if not (channels and frames and sample_rate > 0):
        return None
    if compression in _PCM_COMPRESSIONS and 0 < bits <= 64:
        frames = min(frames, (chunks[b"SSND"][1] - 8) // (channels * ((bits + 7) // 8)))
    return (frames * _FRAMES_PER_PACKET.get(compression, 1), sample_rate) if frames > 0 else None


def check_aiff(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the file is AIFF or AIFF-C with sound data and sample frames."""
    return "audio/aiff" if _aiff_layout(stream, size) else None


def aiff_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the sample frames and the sample rate."""
    layout = _aiff_layout(stream, size)
    return None if layout is None else layout[0] / layout[1]


def id3_chunk(stream: BoundedFile, size: int) -> int | None:
    """Offset of the ID3v2 tag a WAV ("id3 " chunk) or AIFF ("ID3 " chunk) file carries, or None."""
    stream.seek(0)
    form = stream.read(12)
    if form[:4] == b"RIFF" and form[8:12] == b"WAVE":
        big_endian, sound = False, b"data"
    elif form[:4] == b"FORM" and form[8:12] in (b"AIFF", b"AIFC"):
        big_endian, sound = True, b"SSND"
    else:
        return None
    for chunk_id, offset, _ in _walk_chunks(stream, size, big_endian, sound):
        if chunk_id in (b"id3 ", b"ID3 "):
            return offset
    return None
