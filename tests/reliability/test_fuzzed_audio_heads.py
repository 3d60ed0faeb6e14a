"""Fuzzing the audio library's request heads on a live server: byte-mutated and hypothesis-built heads.

Every head that waitress's parser (ours, run here in-process on the same bytes) finds complete must get an
answer, and no answer may be a 5xx; a head still waiting for more bytes may end in silence when the client
closes. Every BATCH inputs the process must be alive and answer a good request exactly.
"""

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from audio_library.serving.adjustments import ServingAdjustments
from audio_library.serving.parsing import SpoolingParser
from hypothesis import HealthCheck, given, settings

from devtools.rawhttp import connect, exchange
from devtools.servers import RunningServer, audio_server
from tests.reliability.ledger import Ledger
from tests.request_heads import mutated_heads, request_heads


SCENARIO = "hostile input: audio library heads"
MUTATED_HEADS = 5000
BUILT_HEADS = 1000
BATCH = 250
FUZZ_SEED = 20261203
GOOD = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
# Limits as the server sets them, so the in-process parser agrees with it on what is complete.
ADJUSTMENTS = ServingAdjustments(max_request_body_size=1024**3 + 1)


def answer_expected(head: bytes) -> bool:
    """Whether the server has the whole of the first request (or an error in it), so it owes an answer."""
    parser = SpoolingParser(ADJUSTMENTS)
    parser.received(head)
    return parser.completed and not parser.empty


def first_status(sock: socket.socket) -> int | None:
    """The status of the first answer, or None when the server closed without one."""
    received = b""
    while b"\r\n" not in received:
        try:
            data = sock.recv(4096)
        except ConnectionResetError:
            return None
        if not data:
            return None
        received += data
    line = received.split(b"\r\n", 1)[0]
    assert line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), line[:100]
    return int(line[9:12])


@dataclass
class Fuzzed:
    """A live audio server under fuzzing."""

    server: RunningServer
    sent: int = 0

    def check(self) -> None:
        """Alive, and the right answer to a good request."""
        assert self.server.process.poll() is None, "the server died"
        response = exchange(self.server.port, GOOD)
        assert (response.status, response.json()) == (200, [])

    def send(self, head: bytes) -> None:
        """Send one head and say we are done; never a 5xx, never silence where an answer is owed."""
        with connect(self.server.port) as sock:
            try:
                sock.sendall(head)
                sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed while we sent: the status read below tells whether an answer came first
            status = first_status(sock)
        self.sent += 1
        if status is None:
            assert not answer_expected(head), f"silence where an answer is owed: {head[:200]!r}"
        else:
            assert status < 500, f"{status} for {head[:200]!r}"
        if self.sent % BATCH == 0:
            self.check()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    with audio_server(tmp_path_factory.mktemp("fuzzed") / "library") as server:
        yield Fuzzed(server)


@pytest.mark.fuzz
def test_mutated_request_heads_never_harm_the_audio_server(fuzzed: Fuzzed, ledger: Ledger) -> None:
    started = time.monotonic()
    for head in mutated_heads(MUTATED_HEADS, FUZZ_SEED):
        fuzzed.send(head)
    fuzzed.check()
    ledger.record(SCENARIO, requests=MUTATED_HEADS)
    ledger.note("audio library: mutated request heads fuzzed against the live server", MUTATED_HEADS)
    print(f"{MUTATED_HEADS:,} mutated request heads (seed {FUZZ_SEED}) in {time.monotonic() - started:.1f} s")


@pytest.mark.fuzz
@settings(max_examples=BUILT_HEADS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=request_heads())
def test_built_request_heads_never_harm_the_audio_server(head: bytes, fuzzed: Fuzzed, ledger: Ledger) -> None:
    fuzzed.send(head)
    ledger.record(SCENARIO, requests=1)
    ledger.note("audio library: hypothesis-built request heads fuzzed against the live server", 1)


@pytest.mark.fuzz
def test_the_audio_server_is_whole_after_fuzzing(fuzzed: Fuzzed) -> None:
    fuzzed.check()
