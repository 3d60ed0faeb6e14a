"""HTTP servers that misbehave on purpose, on loopback in a thread: canned answers, stalls, hang-ups.

Each connection is given to a `Behaviour`, a function of the connected socket and an event that is set
when the test is over (a stalling behaviour waits on it rather than sleeping). The socket is closed after.
"""

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

from devtools.servers import LOOPBACK


Behaviour = Callable[[socket.socket, threading.Event], None]
HEAD_LIMIT = 64 * 1024
BODY_LIMIT = 64 * 1024 * 1024


def read_head(connection: socket.socket) -> bytes:
    """Read a request head up to its blank line (at most HEAD_LIMIT bytes); return it and nothing after."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < HEAD_LIMIT:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def read_request(connection: socket.socket) -> bytes:
    """Read a whole request, its body as long as its Content-Length says (at most BODY_LIMIT); return the head."""
    data = read_head(connection)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = min(int(value), BODY_LIMIT)
    received = len(body)
    while received < length:
        chunk = connection.recv(min(1024 * 1024, length - received))
        if not chunk:
            break
        received += len(chunk)
    return head


def answer(raw: bytes) -> Behaviour:
    """Read the request, then send these bytes as the whole answer and close."""

    def behave(connection: socket.socket, done: threading.Event) -> None:
        read_request(connection)
        connection.sendall(raw)

    return behave


def response(
    status: str = "200 OK", body: bytes = b"", content_type: str = "application/json", headers: str = ""
) -> bytes:
    """A well-framed HTTP/1.1 answer carrying the body."""
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{headers}"
    return f"{head}Connection: close\r\n\r\n".encode() + body


def stop_reading(connection: socket.socket, done: threading.Event) -> None:
    """Take the request head, then read nothing more and say nothing until the test is over."""
    read_head(connection)
    done.wait()


def hang_up(connection: socket.socket, done: threading.Event) -> None:
    """Take the request head and close the connection without a word."""
    read_head(connection)


def stall_after(raw: bytes) -> Behaviour:
    """Read the request, send these bytes (the start of an answer), then nothing more until the test is over."""

    def behave(connection: socket.socket, done: threading.Event) -> None:
        read_request(connection)
        connection.sendall(raw)
        done.wait()

    return behave


class flood:  # noqa: N801 -- used like the other behaviours, which are functions
    """Read the request, send the head, then zeros until the client stops taking them or `limit` bytes went.

    `total` counts the bytes of body sent: the client's bound on what it reads shows in it.
    """

    def __init__(self, head: bytes, limit: int) -> None:
        self.head = head
        self.limit = limit
        self.total = 0

    def __call__(self, connection: socket.socket, done: threading.Event) -> None:
        read_request(connection)
        connection.sendall(self.head)
        block = bytes(64 * 1024)
        while self.total < self.limit and not done.is_set():
            connection.sendall(block)
            self.total += len(block)


@contextlib.contextmanager
def canned_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve the behaviour on a free loopback port; yield the server's URL; stop every connection after."""
    done = threading.Event()
    threads: list[threading.Thread] = []

    def serve(connection: socket.socket) -> None:
        # OSError: the client hung up first, which is its right.
        with connection, contextlib.suppress(OSError):
            behaviour(connection, done)

    with socket.create_server((LOOPBACK, 0)) as listener:
        listener.settimeout(0.1)

        def accept() -> None:
            while not done.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                thread = threading.Thread(target=serve, args=(connection,), daemon=True)
                threads.append(thread)
                thread.start()

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            yield f"http://{LOOPBACK}:{listener.getsockname()[1]}"
        finally:
            done.set()
            acceptor.join(timeout=10)
            for thread in threads:
                thread.join(timeout=10)
