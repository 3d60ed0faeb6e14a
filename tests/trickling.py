"""Slow clients, for tests and benchmarks: connections that send a request head one byte at a time and never
finish it, from several loopback source addresses, reopened whenever the server closes them; and connections
kept alive, idle, after one request each."""

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from tests.rawhttp import read_response
from tests.servers import LOOPBACK


# A head that never ends: after its first lines, one more byte of an endless header value per step.
HEAD_START = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nX-Trickle: ".encode()
GONE = (errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ECONNREFUSED)


def source_address(number: int) -> str:
    """The loopback address of the `number`th trickling client address (127.0.2.1, 127.0.2.2, ...); Linux
    routes all of 127/8 to loopback, so each is a distinct client to the server."""
    return f"127.0.{2 + number // 250}.{1 + number % 250}"


class Trickler:
    """One connection sending its endless head a byte per step."""

    def __init__(self, port: int, address: str) -> None:
        self.port = port
        self.address = address
        self.sock = self.connect()
        self.sent = 0

    def connect(self) -> socket.socket:
        sock = socket.create_connection((LOOPBACK, self.port), timeout=30, source_address=(self.address, 0))
        sock.setblocking(False)
        return sock

    def closed_by_server(self) -> bool:
        """True once the server has closed this connection or answered it (a 503 is an answer and a close)."""
        try:
            self.sock.recv(4096)  # the end of the connection, or an answer before its end: done either way
        except BlockingIOError:
            return False
        except OSError:
            return True
        return True

    def step(self) -> bool:
        """Send the next byte; reopen first if the server closed the connection. True when it was reopened."""
        reopened = self.closed_by_server()
        if reopened:
            self.sock.close()
            self.sock = self.connect()
            self.sent = 0
        byte = HEAD_START[self.sent : self.sent + 1] or b"a"
        try:
            self.sock.send(byte)
            self.sent += 1
        except BlockingIOError:
            pass
        except OSError as error:
            if error.errno not in GONE:
                raise
        return reopened


class Tricklers:
    """Trickling connections spread evenly over `addresses` source addresses."""

    def __init__(self, port: int, addresses: int) -> None:
        self.port = port
        self.addresses = addresses
        self.clients: list[Trickler] = []
        self.reopened = 0  # how many times the server closed one of them, all steps together

    def open(self, count: int) -> None:
        """Open `count` more connections."""
        for _ in range(count):
            self.clients.append(Trickler(self.port, source_address(len(self.clients) % self.addresses)))

    def step(self) -> int:
        """One more byte on every connection; returns how many had been closed by the server and were reopened."""
        reopened = sum(client.step() for client in self.clients)
        self.reopened += reopened
        return reopened

    def close(self) -> None:
        for client in self.clients:
            client.sock.close()


@contextmanager
def trickling(port: int, count: int, addresses: int) -> Iterator[Tricklers]:
    """`count` trickling connections over `addresses` addresses, each with its first byte sent; closed after."""
    tricklers = Tricklers(port, addresses)
    try:
        tricklers.open(count)
        tricklers.step()
        yield tricklers
    finally:
        tricklers.close()


@contextmanager
def kept_alive(port: int, count: int, addresses: int) -> Iterator[list[socket.socket]]:
    """`count` connections from `addresses` addresses, each having asked for the listing once and read the
    answer, then left open and idle; closed afterwards."""
    request = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    held: list[socket.socket] = []
    try:
        for number in range(count):
            sock = socket.create_connection(
                (LOOPBACK, port), timeout=30, source_address=(source_address(number % addresses), 0)
            )
            held.append(sock)
            sock.sendall(request)
            with sock.makefile("rb") as stream:
                read_response(stream)
        yield held
    finally:
        for sock in held:
            sock.close()


def closed_ones(socks: list[socket.socket]) -> int:
    """How many of these connections the server has closed (without waiting for the others)."""
    closed = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            sock.recv(1)
            closed += 1  # end of file (an idle connection is never sent anything else)
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        finally:
            sock.setblocking(True)
    return closed
