"""Request-head fuzzing against a live audio library server: byte-level mutations of valid heads and heads
hypothesis builds from parts, thousands of each. Every few hundred inputs the process must be alive, a good
request must get its exact answer, and the server must have logged no fault of its own; no input may ever be
answered with a 500.
"""

import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings

from tests.ledger import Ledger
from tests.rawhttp import answer_to, exchange
from tests.request_heads import mutated_heads, request_heads
from tests.servers import LOOPBACK, RunningServer, audio_server


SCENARIO = "hostile input: audio library request heads"
FUZZ_SEED = 10
MUTATED_HEADS = 15_000
BUILT_HEADS = 2_000
BATCH = 500
GOOD_REQUEST = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ", re.MULTILINE)
# waitress logs an exception in serving, and an access-log line records every status: neither may show a fault.
SERVER_FAULTS = re.compile(rb'Traceback|Exception (when|while) servic|" 5\d\d \d')


def for_the_library(head: bytes) -> bytes:
    """A head aimed at the credentials service, aimed at the library: a Host it answers to, its API's path."""
    return head.replace(b"Host: x\r\n", b"Host: 127.0.0.1\r\n").replace(b"/?species=Dalek", b"/api/files?q=1")


@dataclass
class Fuzzed:
    """A live server under fuzzing, and its stderr."""

    server: RunningServer
    log: BinaryIO
    sent: int = 0

    def check(self) -> None:
        """Alive, the exact answer to a good request, and no fault in the log."""
        assert self.server.process.poll() is None, "the server died"
        answer = exchange(self.server.port, GOOD_REQUEST)
        assert (answer.status, answer.json()) == (200, [])
        self.log.seek(0)
        faults = SERVER_FAULTS.findall(self.log.read())
        assert not faults, f"the server logged faults: {faults[:5]}"

    def send(self, head: bytes) -> None:
        """Send one head and close our side; whatever it answers (often nothing, for an unfinished head) must
        be HTTP answers, none a 5xx (a 507 aside, which needs a full disk)."""
        answer = answer_to(self.server.port, head, tolerate_reset=True)
        self.sent += 1
        if answer:
            statuses = [int(status) for status in STATUS.findall(answer)]
            assert answer.startswith(b"HTTP/1."), answer[:200]
            assert statuses, answer[:200]
            assert all(status < 500 for status in statuses), answer[:300]
        if self.sent % BATCH == 0:
            self.check()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    library = tmp_path_factory.mktemp("fuzzed-audio") / "library"
    # Every input comes from this one address, quickly: the per-address cap must not be what answers.
    with (
        tempfile.TemporaryFile() as log,
        audio_server(library, "--max-connections-per-address", "1000", stderr=log.fileno()) as server,
    ):
        yield Fuzzed(server, log)


@pytest.mark.fuzz
def test_mutated_request_heads_never_harm_the_library(fuzzed: Fuzzed, ledger: Ledger) -> None:
    started = time.monotonic()
    for head in mutated_heads(MUTATED_HEADS, FUZZ_SEED):
        fuzzed.send(for_the_library(head))
    fuzzed.check()
    ledger.record(SCENARIO, requests=MUTATED_HEADS)
    ledger.note("audio library: mutated request heads fuzzed against the live server", MUTATED_HEADS)
    print(f"{MUTATED_HEADS:,} mutated request heads (seed {FUZZ_SEED}) in {time.monotonic() - started:.1f} s")


@pytest.mark.fuzz
@settings(max_examples=BUILT_HEADS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=request_heads())
def test_built_request_heads_never_harm_the_library(head: bytes, fuzzed: Fuzzed, ledger: Ledger) -> None:
    fuzzed.send(for_the_library(head))
    ledger.record(SCENARIO, requests=1)
    ledger.note("audio library: hypothesis-built request heads fuzzed against the live server", 1)
