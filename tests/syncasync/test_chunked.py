"""The sync server's chunked request bodies (RFC 9112 section 7.1), over live sockets: decoded however they are
framed and split, capped like a Content-Length body, and the connection kept alive after them."""

import itertools
import json
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.rawhttp import connect, read_response
from devtools.servers import RunningServer
from devtools.syncasync_server import error_of, syncasync_server
from SyncAsync.core.answers import MAX_BODY


HELLO = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
ECHO_HEAD = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
MIB_STRING = b'"' + b"a" * (MAX_BODY - 2) + b'"'  # a JSON body of exactly 1 MiB


@pytest.fixture(scope="module")
def sync() -> Iterator[RunningServer]:
    with syncasync_server("sync", "http://127.0.0.1:9", "--timeout", "5") as running:
        yield running


def chunked(body: bytes, size: int) -> bytes:
    """The body in chunks of `size` bytes, then the last chunk."""
    pieces = [body[at : at + size] for at in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_a_chunked_body_is_echoed_and_the_connection_serves_the_next_request(sync: RunningServer) -> None:
    with connect(sync.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            ECHO_HEAD + b"3;name=value\r\n[42\r\n2 ; x\r\n,7\r\n1\r\n]\r\n0\r\nX-Checksum: none\r\n\r\n" + HELLO
        )
        answer = read_response(stream)
        assert (answer.status, answer.body) == (200, b"[42,7]")
        assert answer.headers["connection"] == "keep-alive"
        assert read_response(stream).body == b"Hello, World!"


def test_a_chunked_body_to_a_route_without_one_is_read_and_dropped(sync: RunningServer) -> None:
    with connect(sync.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            b"GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHELLO\r\n0\r\n\r\n" + HELLO
        )
        assert read_response(stream).body == b"Hello, World!"
        assert read_response(stream).body == b"Hello, World!"  # the chunks were not taken for a request


def test_a_chunked_body_of_1_mib_is_echoed(sync: RunningServer) -> None:
    with connect(sync.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(ECHO_HEAD + chunked(MIB_STRING, 65536))
        answer = read_response(stream)
        assert answer.status == 200
        assert answer.body == MIB_STRING


@pytest.mark.parametrize(
    "chunks",
    [
        chunked(MIB_STRING + b" ", 65536),  # one byte over, in the last chunk
        b"100001\r\n",  # a chunk declared over the cap, refused before its data
        b"0" * 1000 + b"100001\r\n",  # the same behind zeros
        b"1\r\na\r\n" * 60_000,  # more framing than any sender needs: 5 bytes per byte of data
    ],
    ids=["one byte over", "declared over", "zeros first", "framing"],
)
def test_a_chunked_body_past_the_cap_is_413_and_a_close(chunks: bytes, sync: RunningServer) -> None:
    with connect(sync.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(ECHO_HEAD + chunks)
        answer = read_response(stream)
        assert answer.status == 413
        assert answer.headers["x-served-by"] == "sync-server"
        assert answer.headers["connection"] == "close"
        assert error_of(answer)


@st.composite
def framed_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A JSON string, and an /echo of it in chunks of drawn sizes, extensions and trailers, then a /hello."""
    value = draw(st.text(max_size=1500))
    body = json.dumps(value).encode()
    sizes = draw(st.lists(st.integers(min_value=1, max_value=300), max_size=12))
    extension = draw(st.sampled_from([b"", b";a", b";a=b", b' ;name="quoted value"', b"\t;x;y=1"]))
    zeros = b"0" * draw(st.integers(min_value=0, max_value=3))
    size_format = draw(st.sampled_from([b"%x", b"%X"]))
    trailer = draw(st.sampled_from([b"", b"X-Trailer: 1\r\n", b"A: b\r\nC:\r\n"]))
    pieces, at = [], 0
    for size in [*sizes, len(body)]:  # the sizes drawn, then the rest of the body in one chunk
        if at < len(body):
            pieces.append(body[at : at + size])
            at += size
    framed = b"".join(zeros + size_format % len(piece) + extension + b"\r\n" + piece + b"\r\n" for piece in pieces)
    return value, ECHO_HEAD + framed + zeros + b"0" + extension + b"\r\n" + trailer + b"\r\n" + HELLO


@settings(max_examples=40, deadline=None)
@given(case=framed_requests(), cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_any_chunk_framing_and_any_split_decode_to_the_same_body(
    case: tuple[str, bytes], cuts: list[int], sync: RunningServer
) -> None:
    value, wire = case
    edges = sorted({0, *(cut % len(wire) for cut in cuts), len(wire)})
    with connect(sync.port) as sock, sock.makefile("rb") as stream:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for start, end in itertools.pairwise(edges):
            sock.sendall(wire[start:end])
            time.sleep(0.002)  # pacing the sender, so that the server's recv sees the parts
        answer = read_response(stream)
        assert answer.status == 200, answer.body
        assert json.loads(answer.body) == value
        assert read_response(stream).body == b"Hello, World!"
