"""Answers the server sends before it has read the request's body reach a client that is still sending it.

Waitress refuses a body over the limit as soon as it knows (from Content-Length, or once a chunked body
passes the limit) and closes the connection. A client that sends its whole body before reading, as most
do, must then read that answer, not a "connection reset" from a socket closed with its body unread.
"""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.multipart import part_head, upload_head
from devtools.rawhttp import read_response
from devtools.servers import LOOPBACK, RunningServer, audio_server
from tests.library_folders import on_disk


LIMIT = 100_000
TOO_LARGE = {"error": "The upload is too large: the limit is 97.7 KiB (100000 bytes) per request."}
CHUNK = bytes(64 * 1024)
BODY_CHUNKS = 320  # 20 MiB: two hundred times the limit, far more than the socket buffers between client and server
DEADLINE = 30.0


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The production server with a 100000-byte limit on request bodies."""
    with audio_server(library_dir, "--max-size", str(LIMIT)) as running:
        yield running


def chunked_head(port: int) -> bytes:
    """The request line and headers of a multipart upload sent chunked, with no Content-Length."""
    return upload_head(port, 0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_sending_a_body_far_over_the_limit_reads_the_whole_413(
    server: RunningServer, library_dir: Path, framing: str
) -> None:
    body_length = len(part_head("huge.wav")) + BODY_CHUNKS * len(CHUNK)
    if framing == "content-length":
        head, frame = upload_head(server.port, body_length), CHUNK
    else:
        head, frame = chunked_head(server.port), b"%x\r\n%b\r\n" % (len(CHUNK), CHUNK)
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(head)
        for _ in range(BODY_CHUNKS):  # all of it, then read: what requests and most clients do
            sock.sendall(frame)
        response = read_response(stream)
        assert response.status == 413  # from waitress (Content-Length) or the application (chunked, streamed)
        assert response.headers["content-type"] == "application/json"
        assert response.json() == TOO_LARGE
        assert stream.read() == b""  # then the server's end of the connection, not a reset
    assert on_disk(library_dir) == []


def test_the_server_answers_again_after_an_early_413(server: RunningServer) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(upload_head(server.port, 10 * LIMIT) + bytes(10 * LIMIT))
        assert read_response(stream).json() == TOO_LARGE
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        request = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n\r\n".encode()
        for _ in range(3):  # a keep-alive connection still carries request after request
            sock.sendall(request)
            response = read_response(stream)
            assert (response.status, response.json()) == (200, [])


def cut_off_while_sending(sock: socket.socket) -> bool:
    """Send zeros until the server refuses them (a reset or a broken pipe) or DEADLINE passes."""
    started = time.monotonic()
    try:
        while time.monotonic() - started < DEADLINE:
            sock.sendall(CHUNK)
    except (ConnectionResetError, BrokenPipeError):
        return True
    return False


def test_a_client_that_never_stops_sending_is_cut_off(server: RunningServer) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock:
        sock.sendall(upload_head(server.port, 10**12))
        assert cut_off_while_sending(sock)  # the server drains for a while, not forever
