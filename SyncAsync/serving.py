"""The sync server's machinery: one selector thread that accepts connections and gathers each request from
whatever `recv` returns, and a bounded pool of worker threads that answer whole requests with blocking calls.

A slow or silent client holds no worker, only a buffer (bounded by the caps in reader.py); a worker
runs the application, sends the response in one `sendall` and hands a keep-alive connection back to the
selector. Every connection has a deadline: its whole request within `timeout` seconds, and as long idle between
requests.
"""

import contextlib
import logging
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from SyncAsync.core.answers import Answer, error_answer
from SyncAsync.http11 import CONTINUE, HttpError, Request, render
from SyncAsync.reader import RequestReader


WORKERS = 64
TIMEOUT = 10.0
MAX_CONNECTIONS = 1000
TICK = 0.25  # seconds between sweeps for connections past their deadline
RECV = 64 * 1024
ACCEPTS_PER_TICK = 128
LINGER = 2.0  # seconds a refused connection is drained, so that a reset does not wipe the answer at the client
log = logging.getLogger("serving")
Application = Callable[[Request], Answer]


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    deadline: float
    reader: RequestReader = field(default_factory=RequestReader)
    continued: bool = False  # `100 Continue` sent for the pending request
    draining: bool = False  # answered with an error and half-closed: what the client still sends is discarded


class SyncServer:
    """Accepts and reads on one thread, answers on a bounded pool of worker threads."""

    def __init__(
        self,
        application: Application,
        host: str,
        port: int,
        *,
        name: str,
        workers: int = WORKERS,
        timeout: float = TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.application = application
        self.name = name  # the X-Served-By value
        self.timeout = timeout
        self.max_connections = max_connections
        self.listener = socket.create_server((host, port), backlog=1024, reuse_port=False)
        self.listener.setblocking(False)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="worker")
        self.selector = selectors.DefaultSelector()
        self.connections: set[Connection] = set()
        self.returned: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self.wake_writer.setblocking(False)
        self.stopping = threading.Event()

    def serve_forever(self) -> None:
        self.selector.register(self.listener, selectors.EVENT_READ, "listener")
        self.selector.register(self.wake_reader, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping.is_set():
                for key, _ in self.selector.select(TICK):
                    if key.data == "listener":
                        self._accept()
                    elif key.data == "wake":
                        self._drain_wakeups()
                    else:
                        self._read(key.data)
                self._take_back()
                self._sweep()
        finally:
            self._close()

    def stop(self) -> None:
        """Ask the loop to stop; safe from a signal handler or another thread."""
        self.stopping.set()
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the pipe is full: the loop is being woken already
            self.wake_writer.send(b"x")

    def _drain_wakeups(self) -> None:
        try:
            while self.wake_reader.recv(4096):
                pass
        except OSError:
            pass

    def _accept(self) -> None:
        for _ in range(ACCEPTS_PER_TICK):
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self.connections) >= self.max_connections:
                self._take_back()  # count the connections the workers have closed since
            if len(self.connections) >= self.max_connections:
                self._refuse(sock)
                continue
            sock.setblocking(False)
            connection = Connection(sock, time.monotonic() + self.timeout)
            self.connections.add(connection)
            self.selector.register(sock, selectors.EVENT_READ, connection)

    def _refuse(self, sock: socket.socket) -> None:
        """Past the connection cap: a short 503 into an empty send buffer, then close."""
        answer = error_answer(503, "too many connections; try again", (("Retry-After", "1"),))
        try:
            sock.setblocking(False)
            sock.send(render(answer, self.name, keep_alive=False))
        except OSError:
            pass
        sock.close()

    def _read(self, connection: Connection) -> None:
        try:
            data = connection.sock.recv(RECV)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(connection)
            return
        if connection.draining:
            return
        connection.reader.feed(data)
        self._dispatch(connection)

    def _dispatch(self, connection: Connection) -> None:
        """Hand a whole request to a worker, or an unservable one's error; else wait for more bytes."""
        try:
            request = connection.reader.next_request()
        except HttpError as error:
            self._detach(connection)
            self.pool.submit(self._answer_error, connection, error)
            return
        except Exception:  # a fault of the parser's: this connection gets a 400, the server goes on
            log.exception("cannot parse a request")
            self._detach(connection)
            self.pool.submit(self._answer_error, connection, HttpError(400))
            return
        if request is None:
            if connection.reader.expects_continue() and not connection.continued:
                connection.continued = True
                self._send_now(connection, CONTINUE)
            return
        connection.continued = False
        self._detach(connection)
        self.pool.submit(self._handle, connection, request)

    def _send_now(self, connection: Connection, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a client gone will be seen at the next read
            connection.sock.send(data)

    def _detach(self, connection: Connection) -> None:
        """Take the connection off the selector while a worker has it."""
        self.selector.unregister(connection.sock)

    def _handle(self, connection: Connection, request: Request) -> None:
        """On a worker: run the handler, send the response, and return a keep-alive connection to the loop."""
        try:
            answer = self.application(request)
        except Exception:  # the application's own guard failed: a 500, and the connection is not lost
            log.exception("%s: the application failed", self.name)
            answer = error_answer(500)
        keep_alive = request.keep_alive and not self.stopping.is_set()
        data = render(answer, self.name, head_only=request.head_only, keep_alive=keep_alive)
        if not self._send(connection, data) or not keep_alive:
            self._finish(connection)
            return
        connection.deadline = time.monotonic() + self.timeout
        self.returned.put(connection)
        self._wake()

    def _answer_error(self, connection: Connection, error: HttpError) -> None:
        """On a worker: answer, half-close, and give the connection back to be drained until the client closes.

        Closed at once, with the client's bytes unread, the connection would be reset, and a reset can discard
        the answer from the client's buffer before it reads it (the lingering close of RFC 9112 section 9.6).
        """
        if not self._send(connection, render(error.answer(), self.name, keep_alive=False)):
            self._finish(connection)
            return
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_WR)
        connection.draining = True
        connection.deadline = time.monotonic() + LINGER
        self.returned.put(connection)
        self._wake()

    def _send(self, connection: Connection, data: bytes) -> bool:
        try:
            connection.sock.settimeout(self.timeout)
            connection.sock.sendall(data)
            connection.sock.setblocking(False)
        except OSError:
            return False
        return True

    def _finish(self, connection: Connection) -> None:
        """Close a connection a worker holds (the loop learns of it through the returned queue)."""
        connection.sock.close()
        self.returned.put(connection)
        self._wake()

    def _take_back(self) -> None:
        """Connections the workers are done with: closed ones forgotten, open ones read again."""
        while True:
            try:
                connection = self.returned.get_nowait()
            except queue.Empty:
                return
            if connection.sock.fileno() < 0:
                self.connections.discard(connection)
                continue
            self.selector.register(connection.sock, selectors.EVENT_READ, connection)
            if not connection.draining:
                self._dispatch(connection)  # a pipelined request may be waiting in the buffer

    def _sweep(self) -> None:
        """Close connections past their deadline; one that started a request is told 408 first."""
        now = time.monotonic()
        for connection in [c for c in self.connections if c.deadline <= now]:
            try:
                key = self.selector.get_key(connection.sock)
            except (KeyError, ValueError):
                continue  # a worker has it
            if key.data is not connection:
                continue
            if connection.reader.started and not connection.draining:
                self._detach(connection)
                self.pool.submit(self._answer_error, connection, HttpError(408, "the request took too long"))
            else:
                self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        self.selector.unregister(connection.sock)
        connection.sock.close()
        self.connections.discard(connection)

    def _close(self) -> None:
        """Stop: close the listener and idle connections, let the requests in hand finish, then the rest."""
        self.listener.close()
        for key in list(self.selector.get_map().values()):
            if isinstance(key.data, Connection):
                self._drop(key.data)
        self.pool.shutdown(wait=True, cancel_futures=False)
        while not self.returned.empty():  # given back by the last workers: closed, not served again
            self.returned.get_nowait().sock.close()
        for connection in list(self.connections):
            connection.sock.close()
        self.selector.close()
        self.wake_reader.close()
        self.wake_writer.close()
