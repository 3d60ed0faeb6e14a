"""Requests whose framing two parsers could read differently (RFC 9112 §5.2, §6.1, §6.3) get a JSON 400 and
the connection is closed, so nothing after them on the connection is ever read as a request."""

from collections.abc import Iterator

import pytest

from devtools.rawhttp import closed_by_server, connect, exchange, read_response
from devtools.servers import RunningServer, audio_server


SMUGGLED = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CHUNKED_BODY = b"0\r\n\r\n"
CASES = {
    "content-length-and-chunked": (
        b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
        "A request must not carry both Content-Length and Transfer-Encoding",
    ),
    "chunked-and-content-length": (
        b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
        "A request must not carry both Content-Length and Transfer-Encoding",
    ),
    "two-different-content-lengths": (
        b"Content-Length: 5\r\nContent-Length: 6\r\n",
        "A request must carry at most one Content-Length header",
    ),
    "two-equal-content-lengths": (
        b"Content-Length: 5\r\nContent-Length: 5\r\n",
        "A request must carry at most one Content-Length header",
    ),
    "gzip": (b"Transfer-Encoding: gzip\r\n", "The only Transfer-Encoding accepted is chunked, once"),
    "chunked-then-gzip": (
        b"Transfer-Encoding: chunked, gzip\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "chunked-twice": (
        b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
        "The only Transfer-Encoding accepted is chunked, once",
    ),
    "identity": (b"Transfer-Encoding: identity\r\n", "The only Transfer-Encoding accepted is chunked, once"),
    "obs-fold": (
        b"Transfer-Encoding:\r\n chunked\r\n",
        "A header line folded onto the next (obs-fold) is not accepted",
    ),
    "obs-fold-tab": (b"X-Note: a\r\n\tb\r\n", "A header line folded onto the next (obs-fold) is not accepted"),
    "mixed-case-names": (
        b"content-LENGTH: 5\r\nTRANSFER-encoding: chunked\r\n",
        "A request must not carry both Content-Length and Transfer-Encoding",
    ),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One production server for the module: each case runs on a fresh connection."""
    with audio_server(tmp_path_factory.mktemp("framing") / "library") as running:
        yield running


@pytest.mark.parametrize(("fields", "message"), CASES.values(), ids=CASES.keys())
def test_ambiguous_framing_is_a_400_and_a_close(server: RunningServer, fields: bytes, message: str) -> None:
    head = b"POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n"
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + CHUNKED_BODY + SMUGGLED)
        response = read_response(stream)
        assert response.status == 400
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": f"Bad Request: {message}."}
        assert response.headers["connection"] == "close"
        assert stream.read() == b""  # the smuggled request behind it is never answered
    assert exchange(server.port, SMUGGLED).status == 200


def test_transfer_encoding_in_http_1_0_is_a_400(server: RunningServer) -> None:
    head = b"POST /api/files HTTP/1.0\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + CHUNKED_BODY + SMUGGLED)
        response = read_response(stream)
        assert (response.status, response.json()) == (
            400,
            {"error": "Bad Request: Transfer-Encoding is accepted only in HTTP/1.1 requests."},
        )
        assert closed_by_server(sock)


def test_a_plain_chunked_request_is_still_accepted(server: RunningServer) -> None:
    head = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    response = exchange(server.port, head + CHUNKED_BODY)
    assert (response.status, response.json()) == (200, [])


@pytest.mark.parametrize(
    "field",
    [b"Content-Length : 5", b"Transfer-Encoding : chunked", b"Content-Length:\x0b5", b"Transfer-Encoding: \x0bchunked"],
    ids=["space-before-colon-length", "space-before-colon-encoding", "vertical-tab-length", "vertical-tab-encoding"],
)
def test_a_framing_header_a_lenient_parser_would_read_is_a_400_and_a_close(server: RunningServer, field: bytes) -> None:
    head = b"POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n" + field + b"\r\n\r\n"
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(head + CHUNKED_BODY + SMUGGLED)
        response = read_response(stream)
        assert response.status == 400
        assert str(response.json()["error"]).startswith("Bad Request: ")  # type: ignore[index]
        assert stream.read() == b""
