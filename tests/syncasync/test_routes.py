"""Every route on both servers, over real sockets: the answers, the error format and the X-Served-By header."""

import json

import pytest

from devtools.rawhttp import connect, read_response
from devtools.servers import RunningServer
from devtools.syncasync_server import error_of, get, request, served_by


MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}


def test_hello_is_plain_text(server: RunningServer, kind: str) -> None:
    response = get(server.port, "/hello")
    assert (response.status, response.body) == (200, b"Hello, World!")
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["x-served-by"] == served_by(kind)


def test_head_answers_the_headers_without_the_body(server: RunningServer, kind: str) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        head = read_response(stream, head_only=True)
        after = read_response(stream)  # the HEAD answer had no body: the next answer starts right after it
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "13")
    assert head.headers["x-served-by"] == served_by(kind)
    assert after.body == b"Hello, World!"


def test_keep_alive_serves_many_requests_on_one_connection(server: RunningServer) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        for _ in range(20):
            sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(stream).body == b"Hello, World!"


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/nowhere", 404),
        ("GET", "/hello/", 404),
        ("POST", "/hello", 405),
        ("DELETE", "/weather", 405),
        ("GET", "/echo", 405),
        ("PUT", "/cpu_task", 405),
    ],
)
def test_common_errors_are_json_with_the_header(
    method: str, target: str, status: int, server: RunningServer, kind: str
) -> None:
    response = request(server.port, method, target)
    assert response.status == status
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-served-by"] == served_by(kind)
    assert error_of(response)


def test_expect_100_continue_is_answered_before_the_body(server: RunningServer, kind: str) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        sock.sendall(b"Content-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(b"[42]")
        response = read_response(stream)
        assert response.body == b"[42]"
        assert response.headers["x-served-by"] == served_by(kind)


def test_405_names_the_allowed_methods(server: RunningServer) -> None:
    assert set(request(server.port, "POST", "/hello").headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert request(server.port, "GET", "/echo").headers["allow"] == "POST"


def test_error_task_is_a_json_500_and_the_server_goes_on(server: RunningServer, kind: str) -> None:
    response = get(server.port, "/error_task")
    assert (response.status, response.json()) == (500, {"error": "Internal Server Error"})
    assert response.headers["x-served-by"] == served_by(kind)
    assert get(server.port, "/hello").status == 200


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, "x", None, True]}, [], "text", 12345678901234567890, {"nested": {"deeper": {"é": "ü"}}}],
)
def test_echo_answers_json_with_the_same_json(value: object, server: RunningServer) -> None:
    response = request(server.port, "POST", "/echo", json.dumps(value).encode(), JSON)
    assert (response.status, response.json()) == (200, value)


def test_echo_answers_a_urlencoded_form_as_an_object(server: RunningServer) -> None:
    body = b"name=Romana&regenerations=3&companion=K9&companion=Adric&empty="
    response = request(server.port, "POST", "/echo", body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json() == {"name": "Romana", "regenerations": "3", "companion": ["K9", "Adric"], "empty": ""}


def multipart(*parts: str) -> tuple[bytes, dict[str, str]]:
    boundary = "tardis-boundary"
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return body.encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_echo_answers_a_multipart_form_as_an_object(server: RunningServer) -> None:
    body, headers = multipart(
        'Content-Disposition: form-data; name="name"\r\n\r\nLeela',
        'Content-Disposition: form-data; name="weapon"\r\n\r\nJanis thorn',
    )
    response = request(server.port, "POST", "/echo", body, headers)
    assert (response.status, response.json()) == (200, {"name": "Leela", "weapon": "Janis thorn"})


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"plain words", {"Content-Type": "text/plain"}, 415),
        (b"\x00\x01", {}, 415),
        (b"<a/>", {"Content-Type": "application/xml"}, 415),
        (*multipart('Content-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nfile body'), 415),
        (b'{"unfinished": ', JSON, 400),
        (b"[" * 5000 + b"]" * 5000, JSON, 400),
        (b"name=%FF", {"Content-Type": "application/x-www-form-urlencoded"}, 400),
        (b"--x\r\nbroken", {"Content-Type": "multipart/form-data"}, 400),
    ],
    ids=["text", "no type", "xml", "a file", "bad json", "too deep", "bad utf-8 form", "no boundary"],
)
def test_echo_refuses_what_it_cannot_echo(
    body: bytes, headers: dict[str, str], status: int, server: RunningServer, kind: str
) -> None:
    response = request(server.port, "POST", "/echo", body, headers)
    assert response.status == status
    assert error_of(response)
    assert response.headers["x-served-by"] == served_by(kind)


def test_a_body_of_one_mib_is_echoed_and_one_byte_more_is_413(server: RunningServer, kind: str) -> None:
    fits = b'"' + b"a" * (MIB - 2) + b'"'
    assert request(server.port, "POST", "/echo", fits, JSON).body == fits
    response = request(server.port, "POST", "/echo", fits + b" ", JSON)
    assert response.status == 413
    assert response.headers["x-served-by"] == served_by(kind)
    assert error_of(response)


def test_io_task_waits_the_time_asked_up_to_its_cap(server: RunningServer) -> None:
    assert get(server.port, "/io_task?seconds=0.05").json() == {"slept": 0.05}
    for refused in ("seconds=10.5", "seconds=-1", "seconds=nan", "seconds=soon", "seconds=1&seconds=2"):
        assert get(server.port, f"/io_task?{refused}").status == 400, refused


def test_cpu_task_computes_and_caps_its_size(server: RunningServer) -> None:
    assert get(server.port, "/cpu_task?n=4").json() == {"n": 4, "sum_of_squares": 0 + 1 + 4 + 9}
    assert get(server.port, "/cpu_task?n=10000001").status == 400


@pytest.mark.parametrize("target", ["/hello", "/nowhere", "/echo"])
def test_a_declared_body_over_1_mib_is_413_on_any_route(target: str, server: RunningServer, kind: str) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as stream:
        sock.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {MIB + 1}\r\n\r\n".encode())
        response = read_response(stream)  # before a byte of the body is sent
    assert response.status == 413
    assert response.headers["x-served-by"] == served_by(kind)
    assert error_of(response)
