"""A fault inside one connection's handling closes that connection alone, with one line in the log."""

import selectors
import socket
from collections.abc import Iterator

import credentials
import pytest


@pytest.fixture
def server() -> Iterator[credentials.CredentialsServer]:
    served = credentials.CredentialsServer(credentials.listen(("127.0.0.1", 0)), credentials.application, 5)
    yield served
    served.server_close()


def test_an_exception_in_a_connection_closes_it_and_only_it(
    server: credentials.CredentialsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, theirs = socket.socketpair()
    other_ours, other_theirs = socket.socketpair()
    with theirs, other_theirs:
        broken = credentials.HTTPConnection(server, ours, ("127.0.0.1", 1))
        healthy = credentials.HTTPConnection(server, other_ours, ("127.0.0.1", 2))
        server.connections |= {broken, healthy}

        def fail(mask: int) -> None:
            raise RuntimeError("a bug in handling")

        monkeypatch.setattr(broken, "handle_event", fail)
        server.handle_event(broken, selectors.EVENT_READ)
        assert server.connections == {healthy}
        assert theirs.recv(1) == b""  # closed
        assert b"credentials: closing the connection from 127.0.0.1: RuntimeError: a bug in handling\n" in (
            server.log.backlog
        )
        other_theirs.sendall(b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n")
        server.handle_event(healthy, selectors.EVENT_READ)
        assert other_theirs.recv(4096).endswith(b'{"credentials": "Davros"}')


def test_an_application_that_raises_gets_a_500_and_one_log_line(server: credentials.CredentialsServer) -> None:
    def failing(environ: object, start_response: object) -> list[bytes]:
        raise ValueError("the application's own bug")

    server.app = failing
    ours, theirs = socket.socketpair()
    with theirs:
        connection = credentials.HTTPConnection(server, ours, ("127.0.0.1", 1))
        server.connections.add(connection)
        theirs.sendall(b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n")
        server.handle_event(connection, selectors.EVENT_READ)
        answer = theirs.recv(4096)
    assert answer.startswith(b"HTTP/1.1 500 ")
    assert b"Connection: close\r\n" in answer
    assert b"Content-Type: application/json\r\n" in answer
    assert answer.endswith(b"\r\n\r\n" + credentials.json_body({"error": "Internal Server Error"}))
    lines = [line for line in server.log.backlog.splitlines() if line.startswith(b"credentials:")]
    assert lines == [
        b"credentials: application error for 'GET /?species=Dalek HTTP/1.1': ValueError: the application's own bug"
    ]
