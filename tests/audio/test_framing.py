"""Requests whose body length is ambiguous (RFC 9112 §5.2, §6) get a JSON 400 and the connection is closed.

A front-end proxy and this server could read such a request's length differently, and whatever one takes
for the next request the other takes for a body: request smuggling. Every member of the class is refused
the same way: a clear 400, then the end of the connection, so nothing after it is ever taken as a request.
"""

import socket
from collections.abc import Iterator

import pytest

from tests.library_folders import listed_names
from tests.polling import DEADLINE
from tests.rawhttp import read_response
from tests.servers import LOOPBACK, RunningServer, audio_server


SMUGGLED = (
    b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"  # what a confused parser would answer as a second request
)
CHUNKED_BODY = b"0\r\n\r\n" + SMUGGLED

AMBIGUOUS = {
    "content-length-and-transfer-encoding": (
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(CHUNKED_BODY),
        "The request has both Content-Length and Transfer-Encoding",
    ),
    "transfer-encoding-then-content-length": (
        b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(CHUNKED_BODY),
        "The request has both Content-Length and Transfer-Encoding",
    ),
    "two-differing-content-lengths": (
        b"Content-Length: 5\r\nContent-Length: %d\r\n" % len(CHUNKED_BODY),
        "The request has more than one Content-Length",
    ),
    "two-equal-content-lengths": (
        b"Content-Length: %d\r\nContent-Length: %d\r\n" % (len(CHUNKED_BODY), len(CHUNKED_BODY)),
        "The request has more than one Content-Length",
    ),
    "content-length-list": (b"Content-Length: 5, 5\r\n", "Content-Length is invalid"),
    "signed-content-length": (b"Content-Length: +5\r\n", "Content-Length is invalid"),
    "transfer-encoding-gzip": (b"Transfer-Encoding: gzip\r\n", "The only Transfer-Encoding accepted is chunked, once"),
    "chunked-twice-in-one-header": (
        b"Transfer-Encoding: chunked, chunked\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "chunked-twice-in-two-headers": (
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "chunked-not-last": (
        b"Transfer-Encoding: chunked, gzip\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "gzip-then-chunked": (
        b"Transfer-Encoding: gzip, chunked\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "obs-fold": (
        b"X-Note: one\r\n  two\r\nContent-Length: 0\r\n",
        "A header folded onto a second line (obs-fold) is not accepted",
    ),
    "folded-transfer-encoding": (
        b"Transfer-Encoding:\r\n chunked\r\n",
        "A header folded onto a second line (obs-fold) is not accepted",
    ),
    "two-hosts": (b"Host: other\r\nContent-Length: 0\r\n", "The request has more than one Host"),
    "space-before-colon": (b"Transfer-Encoding : chunked\r\n", "Invalid header"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One production server for the module: every request here leaves the library as it was."""
    with audio_server(tmp_path_factory.mktemp("framing") / "library") as running:
        yield running


def refused_and_closed(port: int, head: bytes, body: bytes) -> dict[str, object]:
    """Send the request; check the answer is a JSON 400 followed by the end of the connection; its body."""
    with socket.create_connection((LOOPBACK, port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + body)
        response = read_response(stream)
        assert response.status == 400, response
        assert response.headers["content-type"] == "application/json"
        assert response.headers["connection"] == "close"
        assert stream.read() == b""  # closed: the smuggled request is never answered
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(("fields", "message"), AMBIGUOUS.values(), ids=AMBIGUOUS.keys())
def test_an_ambiguous_length_is_a_400_and_a_close(server: RunningServer, fields: bytes, message: str) -> None:
    head = b"POST /api/files HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n" % (LOOPBACK.encode(), server.port, fields)
    answer = refused_and_closed(server.port, head, CHUNKED_BODY)
    assert answer == {"error": f"Bad Request: {message}."}
    assert listed_names(server.url) == []


def test_transfer_encoding_in_http_1_0_is_a_400_and_a_close(server: RunningServer) -> None:
    head = b"POST /api/files HTTP/1.0\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n" % LOOPBACK.encode()
    answer = refused_and_closed(server.port, head, CHUNKED_BODY)
    assert answer == {"error": "Bad Request: Transfer-Encoding is accepted in HTTP/1.1 requests only."}


@pytest.mark.parametrize("fields", [b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding:  Chunked \r\n"])
def test_chunked_alone_is_still_accepted(server: RunningServer, fields: bytes) -> None:
    head = b"GET /api/files HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (LOOPBACK.encode(), fields)
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + b"0\r\n\r\n" + SMUGGLED)
        assert read_response(stream).json() == []
        assert read_response(stream).json() == []  # a well-framed second request on the same connection
