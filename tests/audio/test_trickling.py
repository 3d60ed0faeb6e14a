"""Trickling clients against the real server: a request head must arrive whole within a deadline counted from
its first byte, one client address may hold only so many connections, and at the connection limit the
connection that has waited longest for its head makes room, so others are answered at once."""

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library_folders import on_disk
from tests.multipart import PART_TAIL, part_head, upload_head
from tests.polling import DEADLINE, wait_until
from tests.rawhttp import Response, closed_by_server, read_response
from tests.servers import LOOPBACK, RunningServer, audio_server, run_audio_server_to_exit
from tests.trickling import Trickler, closed_ones, kept_alive, trickling
from tests.wav import noise_wav


HEAD_TIMEOUT = 1.0
STEP = 0.2  # seconds between a trickler's bytes: far below any idle timeout
OTHER_CLIENT = "127.0.0.3"  # another client address on loopback


def listing_request(port: int) -> bytes:
    return f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n\r\n".encode()


def ask(port: int, request: bytes, source: str = LOOPBACK) -> Response:
    """One request on a fresh connection from the given loopback address, and its answer."""
    with (
        socket.create_connection((LOOPBACK, port), timeout=DEADLINE, source_address=(source, 0)) as sock,
        sock.makefile("rb") as stream,
    ):
        sock.sendall(request)
        return read_response(stream)


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The production server with a one-second head deadline."""
    with audio_server(library_dir, "--head-timeout", str(HEAD_TIMEOUT)) as running:
        yield running


@pytest.mark.parametrize("flag", ["--head-timeout", "AUDIO_LIBRARY_HEAD_TIMEOUT"])
def test_a_head_trickled_past_the_deadline_is_cut_off(library_dir: Path, flag: str) -> None:
    args, env = ([flag, str(HEAD_TIMEOUT)], {}) if flag.startswith("--") else ([], {flag: str(HEAD_TIMEOUT)})
    with audio_server(library_dir, *args, env=env) as running:
        trickler = Trickler(running.port, LOOPBACK)
        started, sent = time.monotonic(), 0
        while time.monotonic() - started < DEADLINE and not trickler.step():  # True once closed and reopened
            sent += 1
            time.sleep(STEP)  # the pace of the trickle, not a wait for the server
        lasted = time.monotonic() - started
        trickler.sock.close()
        assert sent > HEAD_TIMEOUT / STEP  # it kept sending all along: never idle
        assert HEAD_TIMEOUT <= lasted < DEADLINE  # so the deadline counts from its first byte
        assert ask(running.port, listing_request(running.port)).json() == []


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(server: RunningServer) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock:
        started = time.monotonic()
        assert closed_by_server(sock)
        assert time.monotonic() - started >= HEAD_TIMEOUT


def test_a_slow_head_within_the_deadline_and_a_slow_body_are_served(server: RunningServer, library_dir: Path) -> None:
    request = listing_request(server.port)
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        for piece in (request[:10], request[10:20], request[20:]):
            sock.sendall(piece)
            time.sleep(HEAD_TIMEOUT / 5)
        assert read_response(stream).json() == []
    # The body is not the head: it may take longer than the head deadline (waitress's idle timeout bounds it).
    song = noise_wav(11)
    body = part_head("slow.wav") + song + PART_TAIL
    pieces = [body[start : start + len(body) // 8 + 1] for start in range(0, len(body), len(body) // 8 + 1)]
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(upload_head(server.port, len(body)))
        for piece in pieces:
            time.sleep(3 * HEAD_TIMEOUT / len(pieces))
            sock.sendall(piece)
        assert read_response(stream).status == 201
    assert on_disk(library_dir) == ["slow.wav"]


def test_a_kept_alive_connection_may_idle_past_the_head_deadline(server: RunningServer) -> None:
    request = listing_request(server.port)
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        assert read_response(stream).json() == []
        time.sleep(2.5 * HEAD_TIMEOUT)  # idle between requests: waitress's idle timeout, not the head deadline
        sock.sendall(request)
        assert read_response(stream).json() == []


def test_a_pipelined_head_waits_while_a_large_answer_is_still_being_read(
    server: RunningServer, library_dir: Path
) -> None:
    # A download far larger than the socket buffers, and the start of a next request in the same write: the
    # next head cannot be read until the download is sent, so its deadline must not cut the download short.
    song = noise_wav(12, seconds=600)  # 9.6 MB: more than the kernel buffers between us hold
    library_dir.mkdir(exist_ok=True)
    (library_dir / "big.wav").write_bytes(song)
    download = f"GET /files/big.wav HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    with socket.socket() as sock, sock.makefile("rb") as stream:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the answer stays queued
        sock.settimeout(DEADLINE)
        sock.connect((LOOPBACK, server.port))
        sock.sendall(download + listing_request(server.port)[:20])
        time.sleep(3 * HEAD_TIMEOUT)  # a slow reader: the answer waits in the server past the head deadline
        response = read_response(stream)
    assert (response.status, len(response.body)) == (200, len(song))


@pytest.mark.parametrize("flag", ["--max-connections-per-address", "AUDIO_LIBRARY_MAX_CONNECTIONS_PER_ADDRESS"])
def test_one_address_may_hold_only_so_many_connections(library_dir: Path, flag: str) -> None:
    args, env = ([flag, "4"], {}) if flag.startswith("--") else ([], {flag: "4"})
    with audio_server(library_dir, *args, env=env) as running:
        held = [socket.create_connection((LOOPBACK, running.port), timeout=DEADLINE) for _ in range(4)]
        try:
            with (
                socket.create_connection((LOOPBACK, running.port), timeout=DEADLINE) as sock,
                sock.makefile("rb") as stream,
            ):
                refused = read_response(stream)
                assert stream.read() == b""  # and closed
            assert refused.status == 503
            assert refused.headers["content-type"] == "application/json"
            assert refused.json() == {"error": "Too many connections from 127.0.0.1: at most 4 at once."}
            assert ask(running.port, listing_request(running.port), OTHER_CLIENT).json() == []  # others: at once
            held.pop().close()
            wait_until(
                lambda: ask(running.port, listing_request(running.port)).status == 200,
                "a connection from the address is served again once it holds fewer",
            )
        finally:
            for sock in held:
                sock.close()


def test_a_thousand_tricklers_do_not_lock_others_out(library_dir: Path) -> None:
    # 1,000 connections, the server's whole connection limit, from 25 addresses (40 each, under the cap).
    with audio_server(library_dir) as running, trickling(running.port, 1000, addresses=25) as tricklers:
        for _ in range(3):
            tricklers.step()
        answer = ask(running.port, listing_request(running.port))
        assert (answer.status, answer.json()) == (200, [])
        wait_until(lambda: tricklers.step() > 0, "the server closes tricklers to make room")
        assert running.process.poll() is None


def test_a_thousand_idle_kept_alive_connections_do_not_lock_others_out(library_dir: Path) -> None:
    # waitress keeps an idle kept-alive connection for 120 s: 1,000 of them filled its connection limit.
    with audio_server(library_dir) as running, kept_alive(running.port, 1000, addresses=25) as idle:
        answer = ask(running.port, listing_request(running.port))
        assert (answer.status, answer.json()) == (200, [])
        assert closed_ones(idle) > 0  # the room was made by closing idle ones
        assert running.process.poll() is None


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--head-timeout", "0", "--head-timeout must be a positive number of seconds"),
        ("--max-connections-per-address", "0", "--max-connections-per-address must be from 1 to 1000"),
    ],
)
def test_a_bad_limit_is_refused_at_start_up(flag: str, value: str, message: str) -> None:
    finished = run_audio_server_to_exit(flag, value)
    assert finished.returncode == 2
    assert message in finished.stderr


@pytest.mark.parametrize(
    "variable", ["AUDIO_LIBRARY_HEAD_TIMEOUT", "AUDIO_LIBRARY_MAX_CONNECTIONS_PER_ADDRESS", "AUDIO_LIBRARY_PORT"]
)
def test_a_bad_number_in_the_environment_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "soon")  # the server process inherits it
    finished = run_audio_server_to_exit()
    assert finished.returncode == 2
    assert "invalid" in finished.stderr
    assert "Traceback" not in finished.stderr
