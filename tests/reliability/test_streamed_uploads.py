"""Fuzzing the streamed upload path against a live server: any file, framing, slicing and client behaviour.

Each example uploads one fixture (audio or not), padded past the first MiB judged early, with Content-Length or
chunked framing, in random slices; the client either reads while it sends, sends everything first, or gives up
half-way. Whatever happens: an answer is a 2xx, 400, 413 or 415, never a 5xx; a refused or abandoned upload
leaves nothing in the library, not even a temporary file; the server answers the next request.
"""

import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.corpus import AUDIO, NON_AUDIO
from devtools.multipart import PART_TAIL, part_head, upload_head
from devtools.rawhttp import read_response
from devtools.servers import LOOPBACK, RunningServer, audio_server
from tests.library_folders import fixture_bytes, leftovers, on_disk
from tests.polling import wait_until


pytestmark = pytest.mark.fuzz

EXAMPLES = 40
TIMEOUT = 30.0
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("streamed") / "library"


@pytest.fixture(scope="module")
def server(library: Path) -> Iterator[RunningServer]:
    with audio_server(library, "--max-size", str(8 * MiB)) as running:
        yield running


def slices(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """The data in slices of the given sizes, round and round."""
    start = 0
    for number in range(len(data)):
        if start >= len(data):
            return
        size = sizes[number % len(sizes)]
        yield data[start : start + size]
        start += size


def framed(body: bytes, chunked: bool, sizes: list[int]) -> Iterator[bytes]:
    if not chunked:
        yield from slices(body, sizes)
        return
    for piece in slices(body, sizes):
        yield b"%x\r\n%b\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def send(sock: socket.socket, pieces: Iterator[bytes], behaviour: str, give_up_after: int) -> bool:
    """Send the pieces as the behaviour says; whether the whole body went out."""
    sent = 0
    for piece in pieces:
        if behaviour == "reads while sending" and select.select([sock], [], [], 0)[0]:
            return False
        if behaviour == "gives up" and sent >= give_up_after:
            return False
        try:
            sock.sendall(piece)
        except (ConnectionResetError, BrokenPipeError):
            return False
        sent += len(piece)
    return True


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(sorted([*AUDIO, *NON_AUDIO])),
    padding=st.integers(min_value=0, max_value=2 * MiB),
    chunked=st.booleans(),
    sizes=st.lists(st.integers(min_value=1, max_value=512 * 1024), min_size=1, max_size=4),
    behaviour=st.sampled_from(["reads while sending", "sends all, then reads", "gives up"]),
    give_up_after=st.integers(min_value=0, max_value=3 * MiB),
)
def test_any_streamed_upload_is_answered_or_dropped_cleanly(
    server: RunningServer,
    library: Path,
    *,
    name: str,
    padding: int,
    chunked: bool,
    sizes: list[int],
    behaviour: str,
    give_up_after: int,
) -> None:
    content = fixture_bytes(name) + bytes(padding)
    body = part_head(name) + content + PART_TAIL
    head = upload_head(server.port, len(body))
    if chunked:
        head = head.replace(f"Content-Length: {len(body)}".encode(), b"Transfer-Encoding: chunked")
    with socket.create_connection((LOOPBACK, server.port), timeout=TIMEOUT) as sock, sock.makefile("rb") as stream:
        sock.sendall(head)
        whole = send(sock, framed(body, chunked, sizes), behaviour, give_up_after)
        if whole or behaviour != "gives up":
            response = read_response(stream)
            assert response.status in (200, 201, 400, 413, 415), response.body
            if response.status == 415:
                assert response.headers["content-type"] == "application/json"
    with requests.get(f"{server.url}/api/files", timeout=TIMEOUT) as listed:
        assert listed.status_code == 200
        entries = listed.json()
    for entry in entries:  # what was stored, if anything: audio, byte for byte as sent; then gone for the next
        assert (library / entry["name"]).read_bytes() == content
        with requests.delete(f"{server.url}/api/files/{entry['name']}", timeout=TIMEOUT) as deleted:
            assert deleted.status_code == 204
    # A client that gave up may have closed before the server began its part: the file may come and go after.
    wait_until(lambda: on_disk(library) == [] and leftovers(library) == [], "nothing, not even a temporary file")
