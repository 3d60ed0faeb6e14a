"""The sync server's request reader: whatever `recv` returned, gathered into whole requests, one at a time.

A head is parsed by http11.py once its blank line is in; its body follows by its Content-Length. Everything held
is capped by http11's limits.
"""

import re
from dataclasses import dataclass, field

from SyncAsync.http11 import MAX_HEAD, MAX_REQUEST_LINE, HttpError, Request, parse_head


MAX_BLANK_LINES = 8  # blank lines tolerated before a request line (RFC 9112 section 2.2)
HEAD_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class RequestReader:
    """Gathers a connection's bytes into requests, one at a time; bytes past a request wait for the next."""

    buffer: bytearray = field(default_factory=bytearray)
    pending: Request | None = None  # a parsed head whose body is still arriving
    length: int = 0
    scanned: int = 0  # bytes of the buffer already searched for the head's end, so a drip costs no rescans

    def feed(self, data: bytes) -> None:
        self.buffer += data

    @property
    def started(self) -> bool:
        """Whether part of a request has arrived."""
        return bool(self.buffer.strip(b"\r\n")) or self.pending is not None

    def expects_continue(self) -> bool:
        """Whether the pending request waits for `100 Continue` before it sends its body."""
        return self.pending is not None and self.pending.headers.get("expect", "").lower() == "100-continue"

    def next_request(self) -> Request | None:
        """The next whole request, or None until more bytes arrive; HttpError for one that cannot be served."""
        if self.pending is None:
            self.pending = self._head()
            if self.pending is None:
                return None
        if len(self.buffer) < self.length:
            return None
        request, self.pending = self.pending, None
        request.body = bytes(self.buffer[: self.length])
        del self.buffer[: self.length]
        return request

    def _head(self) -> Request | None:
        if not self.scanned:
            blank = len(self.buffer) - len(self.buffer.lstrip(b"\r\n"))
            if blank > 2 * MAX_BLANK_LINES:
                raise HttpError(400, "too many blank lines before the request")
            del self.buffer[:blank]
        end = HEAD_END.search(self.buffer, max(self.scanned - 3, 0), MAX_HEAD + 4)
        if end is None:
            self.scanned = len(self.buffer)
            line_end = self.buffer.find(b"\n", 0, MAX_REQUEST_LINE + 2)
            if (line_end < 0 and len(self.buffer) > MAX_REQUEST_LINE) or line_end > MAX_REQUEST_LINE + 1:
                raise HttpError(414, "the request line is too long")
            if len(self.buffer) > MAX_HEAD:
                raise HttpError(431, "the request headers are too large")
            return None
        head = bytes(self.buffer[: end.start()])
        del self.buffer[: end.end()]
        self.scanned = 0
        request, self.length = parse_head(head)
        return request
