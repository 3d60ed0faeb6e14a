"""The credentials service over real sockets: a server subprocess on a free loopback port."""

import http.client
import json
import socket
import subprocess
from urllib.parse import quote

import credentials
import pytest

from devtools.rawhttp import closed_by_server, connect, exchange, read_response
from devtools.servers import LOOPBACK, RunningServer


UNKNOWN = b'{"credentials": "Unknown"}'


def get(server: RunningServer, target: str, method: str = "GET") -> http.client.HTTPResponse:
    """One request on a fresh connection, through the standard library's client."""
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=10)
    connection.request(method, target)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_curl_prints_exactly_the_documented_bytes(service: RunningServer) -> None:
    result = subprocess.run(
        ["curl", "-sS", f"{service.url}/?species=Time%20Lord"], capture_output=True, check=True, timeout=10
    )
    assert result.stdout == b'{"credentials": "Rassilon"}'


def test_curl_sees_the_status_and_type(service: RunningServer) -> None:
    result = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{content_type}", f"{service.url}/?species=Nobody"],
        capture_output=True,
        check=True,
        timeout=10,
    )
    assert result.stdout == b"404 application/json"


@pytest.mark.parametrize(("species", "expected"), sorted(credentials.CREDENTIALS.items()))
def test_every_species_over_http(service: RunningServer, species: str, expected: str) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(f"GET /?species={quote(species)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        response = read_response(stream)
    assert response.status == 200
    assert response.body == json.dumps({"credentials": expected}).encode()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.body))
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize("target", ["/?species=Weeping%20Angel", "/?species=Weeping+Angel"])
def test_percent_20_and_plus_are_spaces(service: RunningServer, target: str) -> None:
    response = exchange(service.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert response.body == b'{"credentials": "The Division Representative"}'


@pytest.mark.parametrize(
    "target",
    [
        b"/",
        b"/?species=",
        b"/?species=Dalek&species=Dalek",
        b"/?species=%FF%FE",
        b"/?species=%zz",
        b"/?species=Dal%00ek",
        b"/?species=Dal\x00ek",  # a raw NUL byte on the wire
        b"/?species=Dal\xffek",  # a raw byte that is not UTF-8
        b"/?species=dalek",
    ],
)
def test_undecidable_species_is_unknown(service: RunningServer, target: bytes) -> None:
    response = exchange(service.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 404
    assert response.body == UNKNOWN
    assert response.headers["content-type"] == "application/json"


def test_head_is_get_without_a_body(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            b"HEAD /?species=Sontaran HTTP/1.1\r\nHost: x\r\n\r\nGET /?species=Sontaran HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        head = read_response(stream, head_only=True)
        got = read_response(stream)  # answered right after the head: no body bytes came in between
    assert head.status == got.status == 200
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.body))
    assert got.body == b'{"credentials": "General Staal"}'


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405_with_allow(service: RunningServer, method: str) -> None:
    response = get(service, "/?species=Dalek", method)
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"


@pytest.mark.parametrize("target", ["/x", "/credentials?species=Dalek", "//", "/%00"])
def test_other_paths_get_a_json_404(service: RunningServer, target: str) -> None:
    response = exchange(service.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert response.status == 404
    assert response.json() == {"error": "Not Found"}


@pytest.mark.parametrize(
    "request_line",
    [
        b"GET /",  # HTTP/0.9 gets no HTTP/0.9 page
        b"GARBAGE",
        b"GET / HTTP/1.1 extra",
        b"GET  / HTTP/1.1",
        b"GET / FTP/1.0",
        b"GET ?species=Dalek HTTP/1.1",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS client hello
    ],
)
def test_malformed_request_line_gets_a_real_400(service: RunningServer, request_line: bytes) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(request_line + b"\r\n\r\n")
        response = read_response(stream)
        assert response.status_line == b"HTTP/1.1 400 Bad Request"
        assert response.json() == {"error": "Bad Request"}
        assert response.headers["connection"] == "close"
        assert closed_by_server(sock)


def test_malformed_header_gets_400(service: RunningServer) -> None:
    response = exchange(service.port, b"GET / HTTP/1.1\r\nHost x\r\n\r\n")
    assert response.status_line == b"HTTP/1.1 400 Bad Request"


def test_unsupported_http_version_gets_505(service: RunningServer) -> None:
    assert exchange(service.port, b"GET / HTTP/2.0\r\n\r\n").status == 505


def test_oversized_request_line_gets_414(service: RunningServer) -> None:
    target = b"/?species=" + b"x" * (credentials.MAX_REQUEST_LINE + 1)
    response = exchange(service.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status_line == b"HTTP/1.1 414 Request-URI Too Long"


def test_endless_request_line_gets_414_without_waiting_for_its_end(service: RunningServer) -> None:
    response = exchange(service.port, b"GET /?species=" + b"x" * (2 * credentials.MAX_REQUEST_LINE))
    assert response.status == 414


def test_oversized_headers_get_431(service: RunningServer) -> None:
    header = b"X-Padding: " + b"p" * 1000 + b"\r\n"
    response = exchange(service.port, b"GET / HTTP/1.1\r\n" + header * 70 + b"\r\n")
    assert response.status_line == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_too_many_headers_get_431(service: RunningServer) -> None:
    response = exchange(service.port, b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n")
    assert response.status == 431


def test_a_request_body_is_skipped_and_the_next_request_answered(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /?species=Human HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert read_response(stream).status == 405
        assert read_response(stream).body == b'{"credentials": "Leonardo da Vinci"}'


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n", 501),
        (b"Content-Length: 5\r\nContent-Length: 6\r\n", 400),
        (b"Content-Length: -1\r\n", 400),
        (b"Content-Length: 999999999\r\n", 413),
    ],
)
def test_bodies_the_server_cannot_frame_are_refused(service: RunningServer, headers: bytes, status: int) -> None:
    assert exchange(service.port, b"POST / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n").status == status


def test_http11_keeps_the_connection_alive(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        for species, expected in [("Dalek", b"Davros"), ("Zygon", b"Broton"), ("Nobody", b"Unknown")]:
            sock.sendall(f"GET /?species={species} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            response = read_response(stream)
            assert response.body == b'{"credentials": "' + expected + b'"}'
            assert response.headers["connection"] == "keep-alive"


def test_pipelined_requests_are_answered_in_order(service: RunningServer) -> None:
    species = sorted(credentials.CREDENTIALS)
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"".join(f"GET /?species={quote(s)} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for s in species))
        bodies = [read_response(stream).body for _ in species]
    assert bodies == [json.dumps({"credentials": credentials.CREDENTIALS[s]}).encode() for s in species]


def test_http11_connection_close_is_honoured(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"GET /?species=Ood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_response(stream).headers["connection"] == "close"
        assert closed_by_server(sock)


def test_http10_closes_by_default(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"GET /?species=Ood HTTP/1.0\r\n\r\n")
        response = read_response(stream)
        assert response.body == b'{"credentials": "Klineman Halpen"}'
        assert response.headers["connection"] == "close"
        assert closed_by_server(sock)


def test_http10_keeps_alive_when_asked(service: RunningServer) -> None:
    with connect(service.port) as sock, sock.makefile("rb") as stream:
        for _ in range(2):
            sock.sendall(b"GET /?species=Ood HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            assert read_response(stream).headers["connection"] == "keep-alive"


def test_200_stalled_clients_do_not_delay_another(service: RunningServer) -> None:
    stalled = [connect(service.port) for _ in range(200)]
    try:
        for sock in stalled:
            sock.sendall(b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n")  # the headers never end
        # The client timeout (10 s) is far below the server's 30 s: a blocked server fails this request.
        assert exchange(service.port, b"GET /?species=Zygon HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        with stalled[0].makefile("rb") as stream:  # and the stalled ones are still served once they finish
            stalled[0].sendall(b"\r\n")
            assert read_response(stream).body == b'{"credentials": "Davros"}'
    finally:
        for sock in stalled:
            sock.close()


def test_a_client_that_never_reads_does_not_delay_another(service: RunningServer) -> None:
    with socket.socket() as hog:
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small buffers fill sooner
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        hog.connect((LOOPBACK, service.port))
        hog.setblocking(False)
        request = b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n" * 1000
        for _ in range(2000):  # pipeline until the server stops reading, bounded
            try:
                hog.send(request)
            except BlockingIOError:
                break
        else:
            pytest.fail("the server kept reading from a client that never reads its answers")
        assert exchange(service.port, b"GET /?species=Zygon HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


def test_idle_connection_is_closed_after_the_timeout(impatient_service: RunningServer) -> None:
    with connect(impatient_service.port) as sock:
        assert closed_by_server(sock)


def test_unfinished_request_is_closed_after_the_timeout(impatient_service: RunningServer) -> None:
    with connect(impatient_service.port) as sock:
        sock.sendall(b"GET /?species=Dalek HTTP/1.1\r\n")
        assert closed_by_server(sock)


def test_keep_alive_connection_is_closed_after_the_timeout(impatient_service: RunningServer) -> None:
    with connect(impatient_service.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(stream).status == 200
        assert closed_by_server(sock)
