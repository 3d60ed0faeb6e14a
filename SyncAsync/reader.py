"""The sync server's request reader: whatever `recv` returned, gathered into whole requests, one at a time.

A head is parsed by http11.py once its blank line is in; its body follows by its Content-Length or in the chunked
transfer coding (RFC 9112 section 7.1), decoded as its bytes arrive, however they are split. Everything held is
capped: the head by http11's limits, a body at MAX_BODY however it is framed, a chunk-size line, the chunk framing
and the trailer section by their own.
"""

import re
from dataclasses import dataclass, field
from enum import Enum, auto

from SyncAsync.core.answers import MAX_BODY
from SyncAsync.http11 import MAX_HEAD, MAX_REQUEST_LINE, HttpError, Request, parse_fields, parse_head


MAX_BLANK_LINES = 8  # blank lines tolerated before a request line (RFC 9112 section 2.2)
MAX_CHUNK_LINE = 1024  # a chunk size with its extensions
MAX_FRAMING = 256 * 1024  # chunk-size lines, line ends and trailers of one body: 1 MiB in chunks of 32 bytes
MAX_TRAILERS = 8 * 1024  # the trailer section after the last chunk, read and discarded
MAX_SIZE_DIGITS = 8  # hex digits of a chunk size, zeros first aside: past them it is over MAX_BODY anyway
HEAD_END = re.compile(rb"\r?\n\r?\n")
HEX = re.compile(rb"[0-9A-Fa-f]+")
EXTENSIONS = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")  # what follows the size's `;`: no control characters


class Part(Enum):
    """Where a chunked body's decoding stands."""

    SIZE = auto()  # a chunk-size line
    DATA = auto()  # a chunk's data
    DATA_END = auto()  # the CRLF after a chunk's data
    TRAILERS = auto()  # trailer lines, up to a blank one


@dataclass
class ChunkedBody:
    """A chunked body decoded from the front of a connection's buffer, as far as the bytes in it go."""

    body: bytearray = field(default_factory=bytearray)
    part: Part = Part.SIZE
    remaining: int = 0  # bytes of the current chunk's data still to come
    framing: int = 0  # bytes of chunk-size lines, line ends and trailers taken so far
    trailers: int = 0  # bytes of the trailer section so far

    def decode(self, buffer: bytearray) -> bool:
        """Take what it can from the buffer; True once the body and its trailers are in (the bytes after them
        stay in the buffer, the next request's), HttpError for a body that cannot be served."""
        while True:
            if self.part is Part.DATA:
                taken = min(self.remaining, len(buffer))
                self.body += buffer[:taken]
                del buffer[:taken]
                self.remaining -= taken
                if self.remaining:
                    return False
                self.part = Part.DATA_END
            elif self.part is Part.DATA_END:
                if buffer[:2] != b"\r\n"[: len(buffer)]:  # as far as it has arrived
                    raise HttpError(400, "a chunk's data does not end with CRLF")
                if len(buffer) < 2:
                    return False
                self._take(buffer, 2)
                self.part = Part.SIZE
            else:
                limit = MAX_CHUNK_LINE if self.part is Part.SIZE else MAX_TRAILERS - self.trailers
                line = self._line(buffer, limit)
                if line is None:
                    return False
                if self.part is Part.SIZE:
                    self._start_chunk(line)
                elif line:
                    parse_fields([line])  # a trailer field: checked like a header field, then dropped
                else:
                    return True

    def _line(self, buffer: bytearray, limit: int) -> bytes | None:
        """The next CRLF-ended line, taken from the buffer without its CRLF; None until it is all in."""
        end = buffer.find(b"\n", 0, limit + 2)
        if end < 0:
            if len(buffer) > limit + 1:
                if self.part is Part.SIZE:
                    raise HttpError(400, f"a chunk-size line is longer than {MAX_CHUNK_LINE} bytes")
                raise HttpError(431, f"the trailers are larger than {MAX_TRAILERS} bytes")
            return None
        if end == 0 or buffer[end - 1] != ord("\r"):
            raise HttpError(400, "a line of the chunked body does not end with CRLF")
        line = bytes(buffer[: end - 1])
        if self.part is Part.TRAILERS:
            self.trailers += end + 1
        self._take(buffer, end + 1)
        return line

    def _start_chunk(self, line: bytes) -> None:
        size_text, semicolon, extensions = line.partition(b";")
        if semicolon:
            size_text = size_text.rstrip(b" \t")  # RFC 9112's BWS before the `;`
        if not HEX.fullmatch(size_text) or not EXTENSIONS.fullmatch(extensions):
            raise HttpError(400, "a chunk-size line is not a hexadecimal size")
        digits = size_text.lstrip(b"0") or b"0"
        if len(digits) > MAX_SIZE_DIGITS or len(self.body) + int(digits, 16) > MAX_BODY:
            raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
        self.remaining = int(digits, 16)
        self.part = Part.DATA if self.remaining else Part.TRAILERS

    def _take(self, buffer: bytearray, count: int) -> None:
        """Drop framing bytes from the buffer, counting them against MAX_FRAMING."""
        del buffer[:count]
        self.framing += count
        if self.framing > MAX_FRAMING:
            raise HttpError(413, f"the body's chunk framing is larger than {MAX_FRAMING} bytes")


@dataclass
class RequestReader:
    """Gathers a connection's bytes into requests, one at a time; bytes past a request wait for the next."""

    buffer: bytearray = field(default_factory=bytearray)
    pending: Request | None = None  # a parsed head whose body is still arriving
    length: int = 0
    chunked: ChunkedBody | None = None  # the pending request's body, when it is chunked
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
        if self.chunked is not None:
            if not self.chunked.decode(self.buffer):
                return None
            body = bytes(self.chunked.body)
            self.chunked = None
        elif len(self.buffer) < self.length:
            return None
        else:
            body = bytes(self.buffer[: self.length])
            del self.buffer[: self.length]
        request, self.pending = self.pending, None
        request.body = body
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
        request, length = parse_head(head)
        self.length = length or 0
        self.chunked = ChunkedBody() if length is None else None
        return request
