"""HTTP over plain sockets, for requests no well-behaved client library would send."""

import json
import socket
import threading
from typing import BinaryIO, NamedTuple

from devtools.servers import LOOPBACK


CLIENT_TIMEOUT = 10.0  # seconds a test waits for the server before failing rather than hanging


class Response(NamedTuple):
    """One HTTP response as it came off the wire."""

    status_line: bytes
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes

    def json(self) -> object:
        """The body decoded as JSON."""
        return json.loads(self.body)


def connect(port: int, timeout: float = CLIENT_TIMEOUT) -> socket.socket:
    """A client socket connected to the server on loopback."""
    return socket.create_connection((LOOPBACK, port), timeout=timeout)


def read_response(stream: BinaryIO, head_only: bool = False) -> Response:
    """Read one response from a stream; without the body when it answers a HEAD request."""
    status_line = stream.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection without answering")
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    return Response(status_line.rstrip(b"\r\n"), int(status_line.split()[1]), headers, stream.read(length))


def exchange(port: int, request: bytes, timeout: float = CLIENT_TIMEOUT) -> Response:
    """Send raw bytes on a fresh connection and read the one response."""
    with connect(port, timeout) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        return read_response(stream)


def closed_by_server(sock: socket.socket) -> bool:
    """True when the server has closed the connection (reads end-of-file, or a reset)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def pipeline(port: int, requests: list[bytes]) -> list[bytes]:
    """Send the requests pipelined in one write on one connection, and read the body of each answer."""
    with connect(port, timeout=30) as sock, sock.makefile("rb") as stream:
        # Sent from a thread: the server stops reading while its answers wait, so one thread could not do both.
        sender = threading.Thread(target=sock.sendall, args=(b"".join(requests),), daemon=True)
        sender.start()
        bodies = [read_response(stream).body for _ in requests]
        sender.join(timeout=30)
    return bodies


def answer_to(port: int, data: bytes, tolerate_reset: bool = False) -> bytes:
    """Send raw bytes, close our side, and read everything the server says until it hangs up.

    With tolerate_reset, a reset (the server refused a head before all of it was sent) ends the answer.
    """
    chunks = []
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, BrokenPipeError):
            if not tolerate_reset:
                raise
    return b"".join(chunks)
