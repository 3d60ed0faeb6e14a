"""HTTP/1.1 for the sync server, on bytes only: a request head parsed, with caps on the request line and the
headers, how its body is framed (a Content-Length, capped, or the chunked coding), and the one write that carries
each response. reader.py gathers the bytes `recv` returns into requests."""

import re
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from SyncAsync.core.answers import MAX_BODY, SERVED_BY, Answer, error_answer, reason


MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 64 * 1024  # the request line and all header lines
MAX_HEADERS = 100
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
TARGET = re.compile(rb"[\x21-\x7e]+")
VERSION = re.compile(rb"HTTP/(\d)\.(\d)")
DIGITS = re.compile(rb"[0-9]+")
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class HttpError(Exception):
    """A request that cannot be served: answered with this status, then the connection is closed."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or reason(status))
        self.status = status
        self.message = message or reason(status)

    def answer(self) -> Answer:
        return error_answer(self.status, self.message)


@dataclass
class Request:
    """One parsed request; header names lowercase."""

    method: str
    target: str
    path: str
    query: str
    version: str
    headers: dict[str, str]
    body: bytes = b""
    keep_alive: bool = True

    @property
    def head_only(self) -> bool:
        return self.method == "HEAD"


def parse_head(head: bytes) -> tuple[Request, int | None]:
    """The request a head describes, and the length of its body: None for a chunked one."""
    line, *fields = head.replace(b"\r\n", b"\n").split(b"\n")
    if len(line) > MAX_REQUEST_LINE:
        raise HttpError(414, "the request line is too long")
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HttpError(400, "the request line is not METHOD TARGET VERSION")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        raise HttpError(400, "the method is not a token")
    matched = VERSION.fullmatch(version)
    if matched is None:
        raise HttpError(400, "the HTTP version cannot be read")
    if matched[1] != b"1":
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are served")
    if not TARGET.fullmatch(target):
        raise HttpError(400, "the request target has a byte it may not have")
    headers = parse_fields(fields)
    path, query = split_target(target.decode("ascii"), method)
    request = Request(method.decode("ascii"), target.decode("ascii"), path, query, version.decode("ascii"), headers)
    request.keep_alive = keeps_alive(request)
    if request.version == "HTTP/1.1" and "host" not in headers:
        raise HttpError(400, "an HTTP/1.1 request needs a Host header")
    return request, body_length(headers, request.version)


def parse_fields(lines: list[bytes]) -> dict[str, str]:
    if len(lines) > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header fields")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise HttpError(400, "a header line is not NAME: VALUE")
        value = value.strip(b" \t")
        if not FIELD_VALUE.fullmatch(value):
            raise HttpError(400, "a header value has a control character")
        key = name.decode("ascii").lower()
        text = value.decode("latin-1")
        if key in headers:
            if key in ("content-length", "host"):
                raise HttpError(400, f"more than one {key} header")
            text = f"{headers[key]}, {text}"
        headers[key] = text
    return headers


def split_target(target: str, method: bytes) -> tuple[str, str]:
    """The decoded path and the raw query of an origin-form or absolute-form target."""
    if target == "*":
        if method != b"OPTIONS":
            raise HttpError(400, "only OPTIONS takes the target *")
        return "*", ""
    if not target.startswith("/"):
        try:
            parts = urlsplit(target)
        except ValueError:
            raise HttpError(400, "the request target cannot be read") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise HttpError(400, "the request target is neither a path nor an http URL")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path, _, query = target.partition("?")
    return unquote(path, errors="replace"), query


def keeps_alive(request: Request) -> bool:
    tokens = {token.strip().lower() for token in request.headers.get("connection", "").split(",")}
    if request.version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def body_length(headers: dict[str, str], version: str) -> int | None:
    """The Content-Length of a body (0 without one), or None for a chunked body: RFC 9112 section 6.3, refusing
    what a front end could read another way (both headers, chunked not last, Transfer-Encoding in HTTP/1.0)."""
    if "transfer-encoding" in headers:
        if "content-length" in headers:
            raise HttpError(400, "a request has both Transfer-Encoding and Content-Length")
        if version == "HTTP/1.0":
            raise HttpError(400, "Transfer-Encoding is not HTTP/1.0")
        codings = [coding.strip(" \t").lower() for coding in headers["transfer-encoding"].split(",")]
        codings = [coding for coding in codings if coding]
        if not codings or codings[-1] != "chunked" or codings.count("chunked") > 1:
            raise HttpError(400, "the body's length cannot be known: chunked must be the last coding, once")
        if len(codings) > 1:
            raise HttpError(501, "only the chunked transfer coding is served")
        return None
    text = headers.get("content-length", "0").encode("latin-1")
    if not DIGITS.fullmatch(text):
        raise HttpError(400, "the Content-Length is not a number")
    digits = text.lstrip(b"0") or b"0"  # zeros first may be many: int() refuses over 4300 digits
    if len(digits) > len(str(MAX_BODY)) or int(digits) > MAX_BODY:
        raise HttpError(413, f"the body is larger than {MAX_BODY} bytes")
    return int(digits)


def render(answer: Answer, served_by: str, *, head_only: bool = False, keep_alive: bool = True) -> bytes:
    """The whole response in one piece of bytes, to go out in one sendall."""
    lines = [
        f"HTTP/1.1 {answer.status} {reason(answer.status)}",
        f"Date: {formatdate(usegmt=True)}",
        f"Content-Type: {answer.content_type}",
        f"Content-Length: {len(answer.body)}",
        f"{SERVED_BY}: {served_by}",
        *(f"{name}: {value}" for name, value in answer.headers),
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + answer.body


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
