"""The server's wsgiref handler with applications other than the credentials one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import credentials


if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


def environ() -> dict[str, object]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8888",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }


def streaming(environ: WSGIEnvironment, start_response: StartResponse) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"one, "
    yield b"two"


def ignoring_head(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def failing(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    raise RuntimeError("the application broke")


def test_a_response_with_a_length_keeps_the_connection() -> None:
    handler = credentials.BufferedHandler(environ(), b"", keep_alive=True)
    handler.run(credentials.application)
    head, _, body = handler.output.getvalue().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"\r\nConnection: keep-alive" in head
    assert b"\r\nDate: " in head
    assert body == b'{"credentials": "Unknown"}'
    assert handler.keep_alive
    assert handler.outcome == ("404", len(body))


def test_a_response_without_a_length_closes_the_connection() -> None:
    handler = credentials.BufferedHandler(environ(), b"", keep_alive=True)
    handler.run(streaming)
    head, _, body = handler.output.getvalue().partition(b"\r\n\r\n")
    assert b"\r\nConnection: close" in head
    assert b"Content-Length" not in head
    assert body == b"one, two"
    assert not handler.keep_alive


def test_an_application_error_is_a_500_that_closes_the_connection() -> None:
    handler = credentials.BufferedHandler(environ(), b"", keep_alive=True)
    handler.stderr = open("/dev/null", "w")  # noqa: SIM115 -- wsgiref logs the traceback here
    try:
        handler.run(failing)
    finally:
        handler.stderr.close()
    head = handler.output.getvalue().partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 500 ")
    assert b"\r\nConnection: close" in head
    assert not handler.keep_alive
    assert handler.outcome[0] == "500"


def test_head_gets_no_body_even_when_the_application_sends_one() -> None:
    handler = credentials.BufferedHandler({**environ(), "REQUEST_METHOD": "HEAD"}, b"", keep_alive=True)
    handler.run(ignoring_head)
    head, _, body = handler.output.getvalue().partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 5" in head
    assert body == b""
    assert handler.keep_alive
