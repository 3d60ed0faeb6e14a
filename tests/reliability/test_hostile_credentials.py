"""Hostile input against the real credentials service: oversized, malformed and binary requests.

Every request gets one deliberate answer — never a 500, a reset or silence — and the service keeps
answering everyone else. Hypothesis then throws arbitrary bytes, and queries whose right answer it knows,
at the live server.
"""

import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import pytest
from credentials import CREDENTIALS_BODIES, json_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.rawhttp import answer_to, connect, exchange, read_response
from devtools.servers import RunningServer, children, credentials_server
from tests.reliability.ledger import Ledger
from tests.reliability.strategies import Query, queries
from tests.request_heads import WELL_FORMED, mutated_heads, request_heads


SCENARIO = "hostile input: credentials"
UNKNOWN = json_body({"credentials": "Unknown"})
DALEK = json_body({"credentials": "Davros"})
EXAMPLES = 300


@pytest.fixture(scope="module")
def service() -> Iterator[RunningServer]:
    with credentials_server("--timeout", "5") as running:
        yield running


def get(target: bytes, headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"


HOSTILE = [
    ("request line of 100 KB", get(b"/?species=" + b"A" * 100_000), 414, None),
    ("headers of 200 KB", get(b"/?species=Dalek", b"X-Big: " + b"b" * 200_000 + b"\r\n"), 431, None),
    ("1000 headers", get(b"/?species=Dalek", b"".join(b"X-%d: 1\r\n" % n for n in range(1000))), 431, None),
    ("TLS client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\xaa" * 40 + b"\r\n\r\n", 400, None),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, None),
    ("binary garbage", bytes(range(256)) + b"\r\n\r\n", 400, None),
    ("NUL in the request line", b"GET /?species=Dalek\x00 HTTP/1.1\r\n\r\n", 404, UNKNOWN),
    ("escaped NUL", get(b"/?species=Dal%00ek"), 404, UNKNOWN),
    ("NUL in the path", b"GET /\x00 HTTP/1.1\r\n\r\n", 404, json_body({"error": "Not Found"})),
    ("malformed escape %zz", get(b"/?species=%zz"), 404, UNKNOWN),
    ("invalid UTF-8 %FF%FE", get(b"/?species=%FF%FE"), 404, UNKNOWN),
    ("truncated escape", get(b"/?species=Dalek%"), 404, UNKNOWN),
    ("latin-1 escape", get(b"/?species=Dal%e9k"), 404, UNKNOWN),
    ("repeated species", get(b"/?species=Dalek&species=Dalek"), 404, UNKNOWN),
    ("unescaped space", b"GET /?species=Time Lord HTTP/1.1\r\n\r\n", 400, None),
    ("header without a colon", get(b"/?species=Dalek", b"Broken header\r\n"), 400, None),
    ("space in a header name", get(b"/?species=Dalek", b"Bad Name: x\r\n"), 400, None),
    ("folded header", get(b"/?species=Dalek", b"X-A: 1\r\n folded\r\n"), 400, None),
    ("NUL in a header name", get(b"/?species=Dalek", b"X\x00: 1\r\n"), 400, None),
    ("negative Content-Length", get(b"/?species=Dalek", b"Content-Length: -5\r\n"), 400, None),
    ("two Content-Lengths", get(b"/?species=Dalek", b"Content-Length: 1\r\nContent-Length: 2\r\n"), 400, None),
    ("huge Content-Length", get(b"/?species=Dalek", b"Content-Length: 99999999999\r\n"), 413, None),
    ("superscript Content-Length", get(b"/?species=Dalek", b"Content-Length: \xb2\r\n"), 400, None),
    (
        "Content-Length past int's digit limit",
        get(b"/?species=Dalek", b"Content-Length: " + b"9" * 5000 + b"\r\n"),
        413,
        None,
    ),
    ("Content-Length with a sign", get(b"/?species=Dalek", b"Content-Length: +5\r\n"), 400, None),
    ("Content-Length with an underscore", get(b"/?species=Dalek", b"Content-Length: 1_0\r\n"), 400, None),
    ("unclosed IPv6 literal", get(b"http://[::1/?species=Dalek"), 400, None),
    ("IPv6 literal with stray bracket", get(b"http://::1]/?species=Dalek"), 400, None),
    ("IPv6 literal target", get(b"http://[::1]:8888/?species=Dalek"), 200, DALEK),
    ("chunked body", get(b"/?species=Dalek", b"Transfer-Encoding: chunked\r\n"), 501, None),
    ("bare LF line ends", b"GET /?species=Dalek HTTP/1.1\nHost: x\n\n", 200, DALEK),
    ("blank lines first", b"\r\n\r\n\r\n" + get(b"/?species=Dalek"), 200, DALEK),
    ("absolute target", get(b"http://evil.example/?species=Dalek"), 200, DALEK),
    ("asterisk target", get(b"*"), 400, None),
    ("HTTP/0.9", b"GET /?species=Dalek\r\n\r\n", 400, None),
    ("HTTP/3.0", b"GET /?species=Dalek HTTP/3.0\r\n\r\n", 505, None),
]


@pytest.mark.parametrize(("request_bytes", "status", "body"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_each_hostile_request_gets_one_deliberate_answer(
    request_bytes: bytes, status: int, body: bytes | None, service: RunningServer, ledger: Ledger
) -> None:
    response = exchange(service.port, request_bytes)
    ledger.record(SCENARIO, requests=1, errors=int(response.status == 500))
    assert response.status_line.startswith(b"HTTP/1.1 ")
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    if body is not None:
        assert response.body == body
    assert exchange(service.port, get(b"/?species=Dalek")).body == DALEK  # and the service answers the next one
    ledger.record(SCENARIO, requests=1)


def test_garbage_after_a_good_request_is_refused_on_the_same_connection(service: RunningServer, ledger: Ledger) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(get(b"/?species=Dalek") + b"\x00\x01\x02 garbage\r\n\r\n")
        first, second = read_response(stream), read_response(stream)
        assert stream.read() == b""  # and then it hangs up
    ledger.record(SCENARIO, requests=2, errors=int(500 in (first.status, second.status)))
    assert (first.status, first.body) == (200, DALEK)
    assert second.status == 400


@settings(max_examples=EXAMPLES, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_get_a_500(data: bytes, service: RunningServer, ledger: Ledger) -> None:
    answer = answer_to(service.port, data + b"\r\n\r\n")
    ledger.record(SCENARIO, requests=1, errors=int(answer.startswith(b"HTTP/1.1 500")))
    ledger.note("credentials: arbitrary byte strings sent to the live server", 1)
    if not data.lstrip(b"\r\n"):
        assert answer == b""  # blank lines only: nothing was asked
        return
    assert answer.startswith(b"HTTP/1.1 ")
    status = int(answer[9:12])
    assert status in {200, 400, 404, 405, 413, 414, 431, 501, 505}


@settings(max_examples=EXAMPLES, deadline=None)
@given(query=queries(raw=False))
def test_a_query_on_the_wire_gets_exactly_its_species(query: Query, service: RunningServer, ledger: Ledger) -> None:
    answer = answer_to(service.port, b"GET /?" + query.raw + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    ledger.record(SCENARIO, requests=1, errors=int(answer.startswith(b"HTTP/1.1 500")))
    ledger.note("credentials: constructed queries sent to the live server", 1)
    body = answer.partition(b"\r\n\r\n")[2]
    if query.species is None:
        assert (answer[:12], body) == (b"HTTP/1.1 404", UNKNOWN)
    else:
        assert (answer[:12], body) == (b"HTTP/1.1 200", CREDENTIALS_BODIES[query.species])


# Fuzzing: tens of thousands of request heads against a live single process, then against two workers.

FUZZ_SEED = 9
MUTATED_HEADS = 30_000  # per server: byte-level mutations of valid heads
BUILT_HEADS = 2_000  # per server: heads hypothesis builds from parts
BATCH = 500
SERVER_FAULTS = re.compile(rb"credentials: (cannot parse|cannot answer|closing the connection|application error)")
EXACT_ANSWER = re.compile(
    rb"HTTP/1\.1 200 OK\r\nServer: credentials/1\.0\r\nContent-Type: application/json\r\nContent-Length: 25\r\n"
    rb"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\nConnection: close\r\n\r\n" + re.escape(DALEK)
)
ANSWERED_STATUSES = {200, 400, 404, 405, 413, 414, 431, 501, 505}


@dataclass
class Fuzzed:
    """A live server under fuzzing, with what must not change while it is fuzzed."""

    server: RunningServer
    workers: set[int]
    log: BinaryIO
    sent: int = 0

    def check(self) -> None:
        """Alive, the same workers, the exact bytes for a well-formed request, and no fault in the log."""
        assert self.server.process.poll() is None, "the server died"
        assert children(self.server.process.pid) == self.workers, "a worker died"
        assert EXACT_ANSWER.fullmatch(answer_to(self.server.port, WELL_FORMED))
        self.log.seek(0)
        faults = SERVER_FAULTS.findall(self.log.read())
        assert not faults, f"the server logged its own faults: {faults[:5]}"

    def send(self, head: bytes) -> None:
        """Send one head; its answer, if any, is one deliberate answer, never a 500."""
        answer = answer_to(self.server.port, head, tolerate_reset=True)
        self.sent += 1
        if answer:
            assert answer.startswith(b"HTTP/1.1 "), answer[:100]
            assert int(answer[9:12]) in ANSWERED_STATUSES, answer[:100]
            assert b"HTTP/1.1 500" not in answer


@pytest.fixture(scope="module", params=[(), ("--workers", "2")], ids=["one process", "two workers"])
def fuzzed(request: pytest.FixtureRequest) -> Iterator[Fuzzed]:
    flags: tuple[str, ...] = request.param
    with tempfile.TemporaryFile() as log, credentials_server("--timeout", "5", *flags, stderr=log.fileno()) as server:
        workers = children(server.process.pid)
        assert len(workers) == (2 if flags else 0)
        yield Fuzzed(server, workers, log)


@pytest.mark.fuzz
def test_mutated_request_heads_never_harm_the_service(fuzzed: Fuzzed, ledger: Ledger) -> None:
    started = time.monotonic()
    for number, head in enumerate(mutated_heads(MUTATED_HEADS, FUZZ_SEED), start=1):
        fuzzed.send(head)
        if number % BATCH == 0:
            fuzzed.check()
    fuzzed.check()
    seconds = time.monotonic() - started
    ledger.record(SCENARIO, requests=MUTATED_HEADS)
    ledger.note("credentials: mutated request heads fuzzed against the live server", MUTATED_HEADS)
    print(f"{MUTATED_HEADS:,} mutated request heads (seed {FUZZ_SEED}) in {seconds:.1f} s")


@pytest.mark.fuzz
@settings(max_examples=BUILT_HEADS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(head=request_heads())
def test_built_request_heads_never_harm_the_service(head: bytes, fuzzed: Fuzzed, ledger: Ledger) -> None:
    fuzzed.send(head)
    ledger.record(SCENARIO, requests=1)
    ledger.note("credentials: hypothesis-built request heads fuzzed against the live server", 1)
    if fuzzed.sent % BATCH == 0:
        fuzzed.check()
