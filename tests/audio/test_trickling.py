"""Trickling clients against the live server: a request head has a deadline counted from its first byte, and
one client address may hold only so many connections; everyone else is answered at once."""

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.rawhttp import closed_by_server, connect, exchange, read_response
from devtools.servers import AUDIO_SERVER, LOOPBACK, REPO, RunningServer, audio_server
from devtools.wav import noise_wav
from tests.polling import wait_until


HEAD_TIMEOUT = 1.0
PER_CLIENT = 8
DEADLINE = 15.0
LISTING = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The production server with a 1 s head deadline and 8 connections per address."""
    flags = ("--head-timeout", str(HEAD_TIMEOUT), "--connections-per-client", str(PER_CLIENT))
    with audio_server(library_dir, *flags) as running:
        yield running


def connect_from(address: str, port: int) -> socket.socket:
    """A connection to the server from another loopback address (Linux routes all of 127/8 to lo)."""
    return socket.create_connection((LOOPBACK, port), timeout=DEADLINE, source_address=(address, 0))


def trickle_until_closed(sock: socket.socket, head: bytes, every: float) -> None:
    """Send the head one byte every `every` seconds until the server closes."""
    sock.settimeout(every)
    for byte in head:
        try:
            sock.sendall(bytes([byte]))
            if closed_by_server(sock):
                return
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return
    raise AssertionError("the whole head was sent and the connection is still open")


def test_a_trickled_head_is_cut_off_at_its_deadline_while_others_are_answered(server: RunningServer) -> None:
    with connect(server.port) as trickler:
        # Timed from before the first byte, which starts the server's clock: the listing below may take a while.
        started = time.monotonic()
        trickler.sendall(b"G")
        assert exchange(server.port, LISTING).status == 200  # answered while the trickler holds its connection
        head = b"ET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
        trickle_until_closed(trickler, head, every=0.2)
        seconds = time.monotonic() - started
    # Each byte moved well within any idle timeout; the head as a whole did not arrive in time.
    assert HEAD_TIMEOUT <= seconds < HEAD_TIMEOUT + 3


def test_a_head_sent_in_pieces_within_the_deadline_is_answered(server: RunningServer) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        for piece in (LISTING[:10], LISTING[10:30], LISTING[30:]):
            sock.sendall(piece)
            time.sleep(HEAD_TIMEOUT / 5)  # the client's pace, not a wait for the server
        response = read_response(stream)
    assert (response.status, response.json()) == (200, [])


def test_the_deadline_runs_per_request_on_a_kept_alive_connection(server: RunningServer) -> None:
    request = LISTING.replace(b"Connection: close\r\n", b"")
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        for _ in range(3):  # idle between requests is not head time
            sock.sendall(request)
            assert read_response(stream).status == 200
            time.sleep(HEAD_TIMEOUT * 0.6)
        sock.sendall(request)
        assert read_response(stream).status == 200


def test_connections_past_the_cap_per_address_are_refused_and_others_served(server: RunningServer) -> None:
    held = [connect(server.port) for _ in range(PER_CLIENT)]
    try:
        for sock in held:
            sock.sendall(b"GET /api/files HTTP/1.1\r\n")  # a head begun, so each is really open at the server
        with connect(server.port) as extra, extra.makefile("rb") as stream:
            response = read_response(stream)
            assert response.status == 429
            assert response.json() == {"error": f"Too many connections from your address (the limit is {PER_CLIENT})."}
            assert closed_by_server(extra)
        with connect_from("127.0.0.2", server.port) as other, other.makefile("rb") as stream:
            other.sendall(LISTING)
            assert read_response(stream).status == 200
    finally:
        for sock in held:
            sock.close()
    # The server notices the closes on its next pass.
    wait_until(lambda: exchange(server.port, LISTING).status == 200, "the address is served once its connections close")


def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(server: RunningServer) -> None:
    started = time.monotonic()  # before the connection exists: the server's clock starts when it accepts it
    with connect(server.port, timeout=DEADLINE) as sock:
        assert closed_by_server(sock)  # waitress alone would keep it for its 120 s idle timeout
        assert time.monotonic() - started >= HEAD_TIMEOUT


LIMIT = 200  # a small connection limit, so that these tests fill it quickly


def fill(port: int, count: int, request: bytes, answered: bool) -> list[socket.socket]:
    """`count` connections from 10 addresses (under the per-address cap), each sending `request` (and reading
    its answer when `answered`), then left open."""
    held: list[socket.socket] = []
    for number in range(count):
        sock = connect_from(f"127.0.3.{1 + number % 10}", port)
        held.append(sock)
        sock.sendall(request)
        if answered:
            with sock.makefile("rb") as stream:
                read_response(stream)
    return held


def closed_already(sock: socket.socket) -> bool:
    """Whether the server has closed this connection, without waiting (nothing else is sent on it)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


@pytest.mark.parametrize("kind", ["idle kept-alive", "trickling"])
def test_at_the_connection_limit_an_idle_or_trickling_connection_makes_room(library_dir: Path, kind: str) -> None:
    # waitress stops accepting at its limit: these held it full for 120 s (idle) or the head deadline (60 s
    # here), and every newcomer waited in the backlog.
    flags = ("--connection-limit", str(LIMIT), "--head-timeout", "60")
    with audio_server(library_dir, *flags) as running:
        request = LISTING.replace(b"Connection: close\r\n", b"") if kind == "idle kept-alive" else LISTING[:20]
        held = fill(running.port, LIMIT, request, answered=kind == "idle kept-alive")
        try:
            with connect_from("127.0.0.2", running.port) as newcomer, newcomer.makefile("rb") as stream:
                newcomer.sendall(LISTING)
                assert read_response(stream).status == 200
            assert sum(closed_already(sock) for sock in held) > 0  # room was made by closing some of them
            assert running.process.poll() is None
        finally:
            for sock in held:
                sock.close()


def test_a_pipelined_head_never_cuts_a_large_answer_short(server: RunningServer, library_dir: Path) -> None:
    # A download larger than the kernel buffers between us, and the start of a next request in the same
    # write: that head cannot be read until the download is sent, so its deadline must not close the
    # connection under the answer while a slow reader takes it.
    song = noise_wav(12, seconds=600)  # 9.6 MB
    (library_dir / "big.wav").write_bytes(song)
    download = f"GET /files/big.wav HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    with socket.socket() as sock, sock.makefile("rb") as stream:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer stays queued
        sock.settimeout(DEADLINE)
        sock.connect((LOOPBACK, server.port))
        sock.sendall(download + LISTING[:20])
        time.sleep(3 * HEAD_TIMEOUT)  # a slow reader: the answer waits in the server past the head deadline
        response = read_response(stream)
    assert (response.status, len(response.body)) == (200, len(song))


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--head-timeout", "0", "argument --head-timeout: '0' is not a positive number of seconds"),
        ("--connections-per-client", "0", "argument --connections-per-client: '0' is not a positive whole number"),
    ],
)
def test_limits_that_are_not_positive_are_refused(library_dir: Path, flag: str, value: str, words: str) -> None:
    finished = subprocess.run(
        [sys.executable, AUDIO_SERVER, "--library", str(library_dir), flag, value],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2
    assert words in finished.stderr
