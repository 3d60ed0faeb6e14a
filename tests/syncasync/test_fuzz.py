"""Fuzzing both servers' HTTP parsing over live sockets, as the credentials service is fuzzed: mutated and built
request heads and arbitrary bytes. Every answer is one deliberate HTTP answer with the server's header, never a
500; the server stays up, answers a well-formed request exactly, and logs no fault of its own."""

import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.rawhttp import answer_to
from devtools.servers import RunningServer
from devtools.syncasync_server import KINDS, served_by, syncasync_server
from tests.request_heads import mutated_heads, request_heads


FUZZ_SEED = 20
MUTATED_HEADS = {"sync": 10_000, "async": 1000}
BUILT_HEADS = 500
ARBITRARY = 200
BATCH = 250
HELLO = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
ANSWERED = {200, 400, 404, 405, 408, 413, 414, 415, 417, 431, 501, 505}
FAULTS = re.compile(rb"Traceback|failed|error handling")


@dataclass
class Fuzzed:
    """A live server under fuzzing."""

    kind: str
    server: RunningServer
    log: BinaryIO
    sent: int = 0

    def check(self) -> None:
        """Alive, exact for /hello, and nothing in its log that says it hurt itself."""
        assert self.server.process.poll() is None, "the server died"
        answer = answer_to(self.server.port, HELLO)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\nHello, World!")
        self.log.seek(0)
        faults = FAULTS.findall(self.log.read())
        assert not faults, f"the server logged its own faults: {faults[:5]}"

    def send(self, data: bytes) -> None:
        """Send bytes; the answer, if any, is a deliberate one carrying X-Served-By."""
        answer = answer_to(self.server.port, data, tolerate_reset=True)
        self.sent += 1
        if self.sent % BATCH == 0:
            self.check()
        if not answer:
            return  # the bytes were not a whole request: the server waited for more, then saw the close
        assert answer.startswith(b"HTTP/1.1 " if self.kind == "sync" else b"HTTP/"), answer[
            :100
        ]  # aiohttp: the request's version
        assert int(answer[9:12]) in ANSWERED, answer[:200]
        assert f"\r\n{served_by(self.kind)}".encode() in answer.replace(b"X-Served-By: ", b"", 1), answer[:300]


@pytest.fixture(scope="module", params=KINDS)
def fuzzed(request: pytest.FixtureRequest) -> Iterator[Fuzzed]:
    kind: str = request.param
    with tempfile.TemporaryFile() as log, syncasync_server(kind, "http://127.0.0.1:9", stderr=log.fileno()) as server:
        yield Fuzzed(kind, server, log)


@pytest.mark.fuzz
def test_mutated_request_heads_never_harm_the_server(fuzzed: Fuzzed) -> None:
    for head in mutated_heads(MUTATED_HEADS[fuzzed.kind], FUZZ_SEED):
        fuzzed.send(head)
    fuzzed.check()


@pytest.mark.fuzz
@settings(max_examples=BUILT_HEADS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=request_heads())
def test_built_request_heads_never_harm_the_server(head: bytes, fuzzed: Fuzzed) -> None:
    fuzzed.send(head)


@pytest.mark.fuzz
@settings(max_examples=ARBITRARY, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400), path=st.sampled_from([b"/hello", b"/echo", b"/weather", b"/io_task?seconds=0"]))
def test_arbitrary_bytes_after_a_request_line_never_harm_the_server(data: bytes, path: bytes, fuzzed: Fuzzed) -> None:
    fuzzed.send(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + data + b"\r\n\r\n")
