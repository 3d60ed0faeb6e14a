"""RIFF WAVE and AIFF/AIFF-C: chunked files, audio when their format chunk is sane and sound data follows."""

import struct

from audio_library.media.formats.limits import MAX_CHUNKS, BoundedFile, OutOfBoundsError


def _walk_chunks(
    stream: BoundedFile, size: int, start: int, big_endian: bool, sound: bytes
) -> list[tuple[bytes, int, int]]:
    """(chunk id, data offset, data size) of the chunks from ``start``, reading only their headers.

    A chunk running past the end of the file is a lie (OutOfBoundsError), except the ``sound`` data chunk,
    whose size streaming writers leave unknown (0xFFFFFFFF): it ends the walk.
    """
    chunks: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= size and len(chunks) < MAX_CHUNKS:
        stream.walk()
        stream.seek(offset)
        header = stream.read(8)
        chunk_id, chunk_size = header[:4], struct.unpack(">I" if big_endian else "<I", header[4:])[0]
        chunks.append((chunk_id, offset + 8, chunk_size))
        if offset + 8 + chunk_size > size:
            if chunk_id != sound:
                raise OutOfBoundsError(f"chunk {chunk_id!r} of {chunk_size} bytes runs past the end of the file")
            break
        offset += 8 + chunk_size + (chunk_size & 1)
    return chunks


def _wav_layout(stream: BoundedFile, size: int) -> tuple[int, int] | None:
    """(byte rate, audio bytes present) of a RIFF WAVE file with a valid fmt and a non-empty data chunk."""
    stream.seek(0)
    if (riff := stream.read(12))[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        return None
    byte_rate = None
    for chunk_id, offset, chunk_size in _walk_chunks(stream, size, 12, big_endian=False, sound=b"data"):
        if chunk_id == b"fmt " and chunk_size >= 16:
            stream.seek(offset)
            _, channels, rate, byte_rate, block_align, _ = struct.unpack("<HHIIHH", stream.read(16))
            if not (channels and rate and byte_rate and block_align):
                return None
        elif chunk_id == b"data":
            # The declared size may overstate what is there (streaming writers put 0xFFFFFFFF).
            present = min(chunk_size, size - offset)
            return (byte_rate, present) if byte_rate and present > 0 else None
    return None


def check_wav(stream: BoundedFile, size: int, head: bytes) -> str | None:
    """Whether the file is RIFF WAVE with a valid fmt chunk and a non-empty data chunk."""
    return "audio/wav" if _wav_layout(stream, size) else None


def wav_duration(stream: BoundedFile, size: int) -> float | None:
    """Seconds from the data present and the byte rate."""
    layout = _wav_layout(stream, size)
    return None if layout is None else layout[1] / layout[0]


def _extended_float(raw: bytes) -> float:
    """The 80-bit IEEE 754 extended number AIFF uses for its sample rate."""
    exponent, mantissa = struct.unpack(">HQ", raw)
    if exponent & 0x7FFF == 0 or mantissa == 0:
        return 0.0
    return float(mantissa * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63))


def _aiff_layout(stream: BoundedFile, size: int) -> tuple[int, float] | None:
    """(sample frames, sample rate) of an AIFF/AIFF-C file with a sound data chunk and sample frames."""
    stream.seek(0)
    if (form := stream.read(12))[:4] != b"FORM" or form[8:12] not in (b"AIFF", b"AIFC"):
        return None
    chunks = {
        chunk_id: (offset, chunk_size)
        for chunk_id, offset, chunk_size in _walk_chunks(stream, size, 12, big_endian=True, sound=b"SSND")
    }
    if b"COMM" not in chunks or b"SSND" not in chunks or chunks[b"COMM"][1] < 18:
        return None
    stream.seek(chunks[b"COMM"][0])
    comm = stream.read(18)
    channels, frames, _, rate = struct.unpack(">HIH10s", comm)
    sample_rate = _extended_float(rate)
    return (frames, sample_rate) if channels and frames and sample_rate > 0 else None


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
    for chunk_id, offset, _ in _walk_chunks(stream, size, 12, big_endian, sound):
        if chunk_id in (b"id3 ", b"ID3 "):
            return offset
    return None
