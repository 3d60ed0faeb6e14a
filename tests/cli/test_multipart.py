"""sonic.multipart: an upload's body as a connection that cannot use sendfile reads it (TLS, a proxy)."""

from pathlib import Path

import pytest

from devtools.wav import noise_wav
from sonic.errors import ClientError
from sonic.multipart import CHUNK_SIZE, FileRun, MultipartUpload


HTTP_CLIENT_BLOCKSIZE = 16 * 1024  # what http.client reads of a readable piece at a time, by default


def read_as_http_client(piece: bytes | FileRun) -> bytes:
    """A piece's bytes as http.client sends them: as they are, or read block by block until b""."""
    if isinstance(piece, bytes):
        return piece
    return b"".join(iter(lambda: piece.read(HTTP_CLIENT_BLOCKSIZE), b""))


def test_a_body_read_piece_by_piece_is_the_multipart_of_the_file(tmp_path: Path) -> None:
    data = noise_wav(seconds=210)  # 3.4 MB: several chunks, the last one short
    song = tmp_path / "noise.wav"
    song.write_bytes(data)
    counts: list[int] = []

    with song.open("rb") as file:
        body = MultipartUpload(file, 'say "hi".wav', len(data), counts.append)
        sent = b"".join(read_as_http_client(piece) for piece in body)

    assert sent == body.head + data + body.tail
    assert len(sent) == len(body)
    assert b'filename="say %22hi%22.wav"' in body.head
    assert counts == [CHUNK_SIZE] * (len(data) // CHUNK_SIZE) + [len(data) % CHUNK_SIZE]


def test_a_file_that_shrinks_while_read_is_a_clear_error(tmp_path: Path) -> None:
    song = tmp_path / "noise.wav"
    song.write_bytes(noise_wav(seconds=100))  # 1.6 MB: two chunks

    with song.open("rb") as file:
        pieces = MultipartUpload(file, "noise.wav", 3 * CHUNK_SIZE, None)
        with pytest.raises(ClientError, match=r"^the file shrank while it was being uploaded$"):
            b"".join(read_as_http_client(piece) for piece in pieces)
