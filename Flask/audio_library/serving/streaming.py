"""Request bodies handed to the application as they arrive: a bounded pipe the connection fills and a worker reads.

Waitress reads a whole body (spooling it) before a worker runs the application. For an upload that means a
300 MB video sent by mistake is received whole before its 415. Here, once a request's head is parsed, its
application runs at once and reads the body from a `BodyPipe`: the event loop appends what waitress's own
receivers decode (Content-Length or chunked framing, the body limit: unchanged), the worker reads it. The pipe
holds at most `PIPE_BYTES` (plus one socket read); while it is full the connection stops reading (back-pressure:
TCP then slows the client), and a read that makes room wakes the event loop.

At most `StreamSlots.limit` bodies stream at once, so slow senders can hold at most that many workers; past it
a body is spooled whole first, as waitress does, and judged at its end.
"""

import threading
from collections import Counter, deque
from collections.abc import Callable

from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge, RequestTimeout


PIPE_BYTES = 4 * 1024 * 1024
# A reader waits at most this long for the next bytes. The connection's own body idle timeout (waitress's
# channel_timeout) fails the pipe sooner; this bounds the wait should the event loop itself stop.
READ_WAIT_LIMIT = 600.0


class StreamSlots:
    """How many bodies may stream at once (each holds a worker while it arrives), shared by one server's
    connections: `limit` in all, and at most half of them for one client.

    The dispatcher gives one client at most half the workers (`dispatch.TurnsDispatcher`); were its streaming
    bodies allowed to take all of that share, a client whose uploads stall would wait behind them for its own
    next request, a listing say. Past its slots a client's body is spooled whole first, as any body is.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.per_client = max(1, limit // 2)
        self.taken = 0
        self.by_client: Counter[str] = Counter()
        self.lock = threading.Lock()

    def take(self, client: str) -> bool:
        """Take a slot for `client` (`clients.client_of` its address) if one is free to it."""
        with self.lock:
            if self.taken >= self.limit or self.by_client[client] >= self.per_client:
                return False
            self.taken += 1
            self.by_client[client] += 1
            return True

    def give_back(self, client: str) -> None:
        """Return a slot `client` took."""
        with self.lock:
            self.taken -= 1
            self.by_client[client] -= 1
            if self.by_client[client] <= 0:
                del self.by_client[client]


class BodyPipe:
    """One request body on its way from the connection (append, end, fail) to the application (read).

    It has the buffer interface waitress's receivers write to (`append`, `__len__`, `close`, `getfile`), so
    they decode the framing as they always do, and the file interface WSGI's `wsgi.input` needs (`read`,
    `readline`).
    """

    def __init__(self, wake: Callable[[], None], capacity: int = PIPE_BYTES) -> None:
        """`wake`: called (from the reading thread) when a read makes room in a pipe that was full."""
        self.wake = wake
        self.capacity = capacity
        self.pieces: deque[bytes] = deque()
        self.buffered = 0
        self.received = 0  # every byte appended, for waitress's Content-Length of a chunked body
        self.ended = False
        self.closed = False
        self.failure: HTTPException | None = None
        self.condition = threading.Condition()

    # The connection's side (the event loop's thread).

    def append(self, data: bytes) -> None:
        """Take the next bytes of the body; dropped once the application has finished with it."""
        with self.condition:
            self.received += len(data)
            if self.closed or not data:
                return
            self.pieces.append(data)
            self.buffered += len(data)
            self.condition.notify()

    def has_room(self) -> bool:
        """Whether the connection may read more of the body now."""
        return self.buffered < self.capacity

    def end(self) -> None:
        """The body arrived whole: a read past it is the end of the stream."""
        with self.condition:
            self.ended = True
            self.condition.notify()

    def fail(self, body_too_large: bool = False, stalled: bool = False) -> None:
        """The body will not arrive whole (the client went, stalled or broke the framing, or the body grew past
        the limit): a read past what has arrived raises what werkzeug raises for such a body (RequestTimeout for
        a client that stalled, which is still there to be answered)."""
        with self.condition:
            if not self.ended and self.failure is None:
                if body_too_large:
                    self.failure = RequestEntityTooLarge()
                elif stalled:
                    self.failure = RequestTimeout()
                else:
                    self.failure = ClientDisconnected()
            self.condition.notify()

    def __len__(self) -> int:
        return self.received

    def close(self) -> None:
        """The request is done: drop what is buffered and whatever still arrives."""
        with self.condition:
            self.closed = True
            self.pieces.clear()
            self.buffered = 0
            self.condition.notify()

    def getfile(self) -> "BodyPipe":
        """waitress's `wsgi.input`: the pipe itself."""
        return self

    # The application's side (a worker thread).

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (all that is left if negative) once some have arrived; b"" at the body's end."""
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(PIPE_BYTES), b""))
        return self._take(size, line=False)

    def readline(self, size: int = -1) -> bytes:
        """Up to and including the next newline, at most `size` bytes if not negative."""
        line = b""
        while (size < 0 or len(line) < size) and not line.endswith(b"\n"):
            piece = self._take(PIPE_BYTES if size < 0 else size - len(line), line=True)
            if not piece:
                break
            line += piece
        return line

    def _take(self, size: int, *, line: bool) -> bytes:
        """Up to `size` bytes of the first piece (up to its first newline if `line`), waiting for one."""
        if size == 0:
            return b""
        with self.condition:
            if not self.condition.wait_for(self._readable, timeout=READ_WAIT_LIMIT):
                raise ClientDisconnected()
            if not self.pieces:
                if self.failure is not None:
                    raise self.failure
                return b""  # ended, or closed under the reader
            was_full = not self.has_room()
            piece = self.pieces.popleft()
            cut = size
            if line and (newline := piece.find(b"\n", 0, size)) >= 0:
                cut = newline + 1
            if len(piece) > cut:
                piece, rest = piece[:cut], piece[cut:]
                self.pieces.appendleft(rest)
            self.buffered -= len(piece)
        if was_full and self.has_room():
            self.wake()
        return piece

    def _readable(self) -> bool:
        return bool(self.pieces) or self.ended or self.closed or self.failure is not None
