"""Many pipelined requests in one write: every one answered, in order, while the client reads."""

import pytest

from devtools.rawhttp import connect, pipeline, read_response
from devtools.servers import RunningServer


DALEK = b'{"credentials": "Davros"}'
ZYGON = b'{"credentials": "Broton"}'


@pytest.mark.parametrize("count", [3_000, 20_000])
def test_every_pipelined_request_is_answered_in_order(service: RunningServer, count: int) -> None:
    requests = [b"GET /?species=%s HTTP/1.1\r\nHost: x\r\n\r\n" % (b"Dalek", b"Zygon")[n % 2] for n in range(count)]
    assert pipeline(service.port, requests) == [DALEK if n % 2 == 0 else ZYGON for n in range(count)]


def test_pipelined_requests_after_a_refused_one_are_not_answered(service: RunningServer) -> None:
    good = b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(good * 3 + b"BROKEN\r\n\r\n" + good * 3)
        statuses = [read_response(stream).status for _ in range(4)]
        assert stream.read() == b""
    assert statuses == [200, 200, 200, 400]
