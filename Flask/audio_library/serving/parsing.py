"""How a request is read: its head checked, its body spooled where asked, and waitress's own errors as JSON."""

import json
import re
import tempfile
from typing import Any, cast

from waitress.buffers import FileBasedBuffer, OverflowableBuffer
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask
from waitress.utilities import Error

from audio_library.serving.adjustments import ours
from audio_library.serving.streaming import BodyPipe
from audio_library.web.content_policy import OTHER_POLICY
from audio_library.web.errors import DISK_FULL_ERRNOS, DISK_FULL_MESSAGE, too_large_message


MAX_LOGGED_LINE = 1024
# A header line beginning with whitespace continues the one before (obs-fold, RFC 9112 §5.2).
FOLDED_LINE = re.compile(rb"\r\n[ \t]")
# A request line as waitress's own pattern for it accepts (a method token, a target without spaces, an optional
# version), written so that a line that does not match fails in linear time: waitress's pattern, on a long
# absolute-form target that fails to match, backtracks for a time quadratic in its length (4,000 bytes take
# 0.3 s, a 256 KiB head minutes), on the event loop's thread, so one request froze the whole server.
REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^ ]+(?: HTTP/[0-9]\.[0-9])?")


class DiskFullError(Error):
    """The disk filled up while waitress spooled a request body."""

    code = 507
    reason = "Insufficient Storage"


class JSONErrorTask(ErrorTask):
    """Waitress's own error responses (body over the limit, malformed request) as JSON, not text/plain."""

    def execute(self) -> None:
        """Replaces ErrorTask.execute, which writes text/plain: write `{"error": "..."}` and close, as it does."""
        request = cast(HTTPRequestParser, self.request)
        error = request.error
        assert error is not None  # an ErrorTask exists only for a request that failed to parse
        if error.code == 413:
            message = too_large_message(self.channel.server.adj.max_request_body_size - 1)
        elif isinstance(error, DiskFullError):
            message = DISK_FULL_MESSAGE
        else:
            message = f"{error.reason}: {error.body}."
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [
            ("Content-Type", "application/json"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", OTHER_POLICY),
        ]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)
        access_log = ours(self.channel.adj).access_log
        if access_log is not None:
            # A head too large is never parsed: waitress parses a stand-in request line for it instead.
            known = isinstance(request, SpoolingParser) and request.request_line and error.code != 431
            line = cast(SpoolingParser, request).request_line.decode("latin-1") if known else "-"
            access_log.request(self.channel.addr[0], line, error.code, len(body), self.start_time)


def framing_error(header_plus: bytes) -> str | None:  # noqa: PLR0911 - one return per rule reads best
    """Why a request head's framing is ambiguous (RFC 9112 §5.2, §6.1, §6.3), or None when it is not.

    Waitress joins folded lines, lets chunked win over a Content-Length and keeps the connection, and reads
    an HTTP/1.0 request's body by Content-Length whatever Transfer-Encoding says: each a way for two parsers
    of one byte stream to disagree on where a request ends (request smuggling). Each is refused instead.
    """
    if FOLDED_LINE.search(header_plus):
        return "A header line folded onto the next (obs-fold) is not accepted"
    first_line, _, fields = header_plus.partition(b"\r\n")
    lengths: list[bytes] = []
    encodings: list[bytes] = []
    for line in fields.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            lengths.append(value.strip(b" \t"))
        elif name.lower() == b"transfer-encoding":
            encodings.extend(coding.strip(b" \t").lower() for coding in value.split(b","))
    if len(lengths) > 1:
        return "A request must carry at most one Content-Length header"
    if not encodings:
        return None
    if lengths:
        return "A request must not carry both Content-Length and Transfer-Encoding"
    if not first_line.endswith(b" HTTP/1.1"):
        return "Transfer-Encoding is accepted only in HTTP/1.1 requests"
    if encodings != [b"chunked"]:
        return "The only Transfer-Encoding accepted is chunked, once"
    return None


class SpoolBuffer(OverflowableBuffer):
    """waitress's buffer of a request body, spilling to an anonymous file in `folder` once it is too big for
    memory (waitress's own spills to the system's temporary folder, which may be a small RAM-backed tmpfs)."""

    def __init__(self, overflow: int, folder: str | None) -> None:
        super().__init__(overflow)
        self.folder = folder

    def _set_large_buffer(self) -> None:
        """Replaces OverflowableBuffer._set_large_buffer, which moves what is buffered into a TemporaryFile of
        the system's temporary folder: the same, into one of `folder`."""
        previous: Any = self.buf
        spool = tempfile.TemporaryFile("w+b", dir=self.folder)  # noqa: SIM115 - the buffer keeps it, the parser closes it
        try:
            self.buf = cast(Any, FileBasedBuffer(cast(Any, spool), previous))
        except BaseException:  # the disk filled up while what was in memory was copied
            spool.close()
            raise
        if previous is not None:
            previous.close()
        self.overflowed = True


class SpoolingParser(HTTPRequestParser):
    """Waitress's request parser, with the errors below answered rather than raised."""

    request_line = b""  # for the access log, set even when the head is refused
    body_pipe: BodyPipe | None = None  # set when the body goes to the application as it arrives

    def received(self, data: bytes) -> int:
        """Extends HTTPRequestParser.received, where an OSError from the body's spool file escapes and resets
        the connection: a full disk is a 507 answer instead; the partial spool is closed with the request."""
        try:
            return super().received(data)
        except OSError as error:
            if error.errno not in DISK_FULL_ERRNOS:
                raise
            self.error = DiskFullError(error.strerror or "")
            self.completed = True
            return len(data)

    def parse_header(self, header_plus: bytes) -> None:
        """Extends HTTPRequestParser.parse_header: a malformed request line is refused in linear time
        (REQUEST_LINE), before waitress's own pattern spends quadratic time on it; ambiguous framing is a 400
        (waitress accepts it); and a
        Content-Length too long for int() or a target urlsplit cannot split is a 400, not a ValueError that
        closes the connection without an answer. A ParsingError becomes waitress's 400 and closes. The body's
        buffer is then a SpoolBuffer."""
        request_line = header_plus.partition(b"\r\n")[0]
        self.request_line = request_line[:MAX_LOGGED_LINE]
        if not REQUEST_LINE.fullmatch(request_line.rstrip()):
            raise ParsingError("Start line is invalid")
        problem = framing_error(header_plus)
        if problem is not None:
            raise ParsingError(problem)
        try:
            super().parse_header(header_plus)
        except ValueError as error:
            raise ParsingError(f"The request head cannot be parsed ({error})") from error
        if self.body_rcv is not None:  # nothing of the body is buffered yet: it follows the head
            self.body_rcv.buf = SpoolBuffer(self.adj.inbuf_overflow, ours(self.adj).spool_folder)

    def stream_body(self, pipe: BodyPipe) -> None:
        """Send the body, whose head alone has been parsed, through `pipe` instead of spooling it."""
        assert self.body_rcv is not None  # only a request with a body streams it
        assert not self.body_bytes_received  # what was spooled already would be lost
        self.body_rcv.buf.close()
        self.body_rcv.buf = cast(Any, pipe)
        self.body_pipe = pipe

    def body_unread(self) -> bool:
        """Whether the body is streaming and has not arrived whole: answering now leaves some of it unread."""
        return self.body_pipe is not None and not self.body_pipe.ended
