"""The async server never blocks its loop: CPU work goes to the process pool, waits are awaited, and even the
requests aiohttp cannot parse get the JSON error and the header."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.rawhttp import exchange
from devtools.servers import RunningServer
from devtools.syncasync_server import error_of, get, syncasync_server


LONG_CPU = "/cpu_task?n=10000000"


@pytest.fixture(scope="module")
def async_server() -> Iterator[RunningServer]:
    with syncasync_server("async", "http://127.0.0.1:9", "--cpu-workers", "1") as running:
        yield running


def test_hello_is_answered_while_cpu_work_runs(async_server: RunningServer) -> None:
    finished = threading.Event()

    def crunch() -> None:
        assert get(async_server.port, LONG_CPU).status == 200
        finished.set()

    cruncher = threading.Thread(target=crunch)
    cruncher.start()
    try:
        answered = 0
        while not finished.is_set() and answered < 5:
            assert get(async_server.port, "/hello").status == 200
            answered += 1
        assert answered == 5, "the loop answered nothing while the CPU work ran"
    finally:
        cruncher.join(timeout=60)


def test_waits_overlap(async_server: RunningServer) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(20) as clients:
        statuses = list(clients.map(lambda _: get(async_server.port, "/io_task?seconds=1").status, range(20)))
    assert statuses == [200] * 20
    assert time.monotonic() - started < 10  # one after another they would take 20 s


def test_a_full_cpu_pool_answers_503(async_server: RunningServer) -> None:
    with ThreadPoolExecutor(8) as clients:
        answers = list(
            clients.map(lambda _: get(async_server.port, "/cpu_task?n=3000000"), range(8))
        )  # 4 fit with 1 worker
    refused = [answer for answer in answers if answer.status == 503]
    assert refused, [answer.status for answer in answers]
    assert all(answer.headers["retry-after"] == "1" and error_of(answer) for answer in refused)
    assert {answer.status for answer in answers} == {200, 503}


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /hello HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20_000 + b"\r\n\r\n",
        b"\x16\x03\x01\r\n\r\n",
    ],
    ids=["no method", "long header", "TLS"],
)
def test_what_aiohttp_cannot_parse_gets_the_json_error_and_the_header(
    request_bytes: bytes, async_server: RunningServer
) -> None:
    response = exchange(async_server.port, request_bytes)
    assert response.status == 400
    assert response.headers["x-served-by"] == "async-server"
    assert error_of(response) == "Bad Request"  # not aiohttp's text, which quotes the request back
    assert get(async_server.port, "/hello").status == 200


@pytest.mark.parametrize("target", ["/hello", "/echo", "/no-such-path"])
def test_an_unknown_expectation_is_a_json_417_with_the_header(target: str, async_server: RunningServer) -> None:
    response = exchange(async_server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nExpect: a-pony\r\n\r\n".encode())
    assert response.status == 417
    assert response.headers["x-served-by"] == "async-server"
    assert error_of(response) == "Expectation Failed"
