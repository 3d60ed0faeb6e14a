#!/usr/bin/env python3
"""The credentials service: ``GET /?species=NAME`` answers the credentials that species presents.

One file, standard library only: the species table, the WSGI application (PEP 3333) that answers from it,
and an HTTP/1.1 server for it. The server is a single-threaded event loop (``selectors``) that reads and
parses requests itself, with size limits and a timeout, and runs each complete request through wsgiref's
handler into a buffer it then sends as the client can take it. A slow or stalled client therefore holds
nothing but its own connection. With ``--workers N`` a supervising parent pre-forks N such loops that share
one listening socket, to use more than one core. Run it with

    python WSGI/credentials.py [--host 127.0.0.1] [--port 8888] [--timeout 30] [--workers 1]

(each flag not given is read from its variable, ``CREDENTIALS_HOST``, ``CREDENTIALS_PORT``,
``CREDENTIALS_TIMEOUT``, ``CREDENTIALS_WORKERS``, else its default), or serve ``credentials:application`` with
any WSGI server (waitress, gunicorn, uWSGI). Importing the module starts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import io
import json
import math
import os
import re
import select
import selectors
import signal
import socket
import stat
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import unquote, unquote_to_bytes, urlsplit
from wsgiref.handlers import SimpleHandler, format_date_time
from wsgiref.headers import Headers


if TYPE_CHECKING:
    from types import FrameType

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


CREDENTIALS = {
    "Cyberman": "John Lumic",
    "Dalek": "Davros",
    "Judoon": "Shadow Proclamation Convention 15 Enforcer",
    "Human": "Leonardo da Vinci",
    "Ood": "Klineman Halpen",
    "Silence": "Tasha Lem",
    "Slitheen": "Coca-Cola salesman",
    "Sontaran": "General Staal",
    "Time Lord": "Rassilon",
    "Weeping Angel": "The Division Representative",
    "Zygon": "Broton",
}
UNKNOWN = "Unknown"
ALLOWED_METHODS = ("GET", "HEAD")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
DEFAULT_TIMEOUT = 30.0  # seconds a connection may sit idle, or take to send one request
LINGER = 2.0  # seconds to drain what a client still sends after its last answer, so it is not reset
SERVER_SOFTWARE = "credentials/1.0"
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 64 * 1024  # request line and headers together
MAX_HEADERS = 100
MAX_BODY = 64 * 1024  # the service reads no body; a small one is skipped to keep the connection in step
RECV_SIZE = 64 * 1024
HIGH_WATER = 256 * 1024  # stop answering pipelined requests while this much output waits for the client
MAX_LENGTH_DIGITS = 18  # a longer Content-Length is refused before int() sees it: it could never fit MAX_BODY
LOG_WRITE = 4096  # most bytes per write of the access log: PIPE_BUF, so workers sharing a pipe never mix lines
LOG_BACKLOG = 1024 * 1024  # access-log bytes waiting for a slow stderr; lines past this are counted and dropped
RAPID_DEATHS = 5  # workers dying unexpectedly within RAPID_WINDOW seconds make the supervisor give up
RAPID_WINDOW = 10.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

MALFORMED_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
REQUEST_LINE = re.compile(rf"({TCHARS}) (\S+) HTTP/(\d)\.(\d)")
HEADER_NAME = re.compile(TCHARS)
HEAD_END = re.compile(rb"\r?\n\r?\n")
DIGITS = re.compile(r"[0-9]+")  # ASCII only, unlike str.isdigit(), which also takes "²" that int() refuses
# Control characters in a logged request line would otherwise reach the operator's terminal (0x9B is a CSI),
# and a raw quote or backslash would make the quoted request line ambiguous: all become \xNN, as in http.server.
LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0), ord('"'), ord("\\"))}
NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')


# The application


def application(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """Answer ``/?species=NAME``: 200 and the credentials of a known species, else 404 and "Unknown"."""
    method = environ["REQUEST_METHOD"]
    if environ.get("PATH_INFO", "") not in ("", "/"):
        return json_response(start_response, method, "404 Not Found", NOT_FOUND_BODY)
    if method not in ALLOWED_METHODS:
        allow = [("Allow", ", ".join(ALLOWED_METHODS))]
        return json_response(start_response, method, "405 Method Not Allowed", METHOD_NOT_ALLOWED_BODY, allow)
    body = CREDENTIALS_BODIES.get(requested_species(environ.get("QUERY_STRING", "")) or "")
    if body is None:
        return json_response(start_response, method, "404 Not Found", UNKNOWN_BODY)
    return json_response(start_response, method, "200 OK", body)


@functools.lru_cache(maxsize=1024)  # a pure function of a string: the common queries are decoded once
def requested_species(query_string: str) -> str | None:
    """The one species the query names; None when it names none, several, or cannot be decoded."""
    try:
        query = query_string.encode("latin-1")  # PEP 3333: environ strings carry the raw bytes as latin-1
    except UnicodeEncodeError:
        return None
    values = [value for name, _, value in (field.partition(b"=") for field in query.split(b"&")) if name == b"species"]
    return decode_query_component(values[0]) if len(values) == 1 else None


def decode_query_component(component: bytes) -> str | None:
    """Decode ``+`` and ``%XX`` escapes as UTF-8; None for a malformed escape or invalid UTF-8."""
    if MALFORMED_ESCAPE.search(component):
        return None
    try:
        return unquote_to_bytes(component.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return None


def json_body(document: dict[str, str]) -> bytes:
    """A JSON document as bytes, with json.dumps' default separators."""
    return json.dumps(document).encode("ascii")


def json_response(
    start_response: StartResponse,
    method: str,
    status: str,
    body: bytes,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """Start a JSON response; its body, unless the request is HEAD."""
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra_headers]
    start_response(status, headers)
    return [] if method == "HEAD" else [body]


# The answers never change: encode them once.
CREDENTIALS_BODIES = {species: json_body({"credentials": name}) for species, name in CREDENTIALS.items()}
UNKNOWN_BODY = json_body({"credentials": UNKNOWN})
NOT_FOUND_BODY = json_body({"error": "Not Found"})
METHOD_NOT_ALLOWED_BODY = json_body({"error": "Method Not Allowed"})


# The server


class HTTPError(Exception):
    """A request the server refuses itself, answering with this status and closing the connection."""

    def __init__(self, status: HTTPStatus) -> None:
        super().__init__(status.phrase)
        self.status = status


class Request(NamedTuple):
    """A parsed request head."""

    line: str
    method: str
    path: str
    query: str
    version: str
    headers: list[tuple[str, str]]
    content_length: int | None
    keep_alive: bool


def parse_head(head: bytes) -> Request:
    """Parse a request line and its headers, without the blank line that ends them."""
    lines = head.decode("latin-1").split("\n")
    line = lines[0].rstrip("\r")
    if len(line) > MAX_REQUEST_LINE:
        raise HTTPError(HTTPStatus.REQUEST_URI_TOO_LONG)
    if len(head) > MAX_HEAD or len(lines) - 1 > MAX_HEADERS:
        raise HTTPError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    match = REQUEST_LINE.fullmatch(line)
    if match is None:
        raise HTTPError(HTTPStatus.BAD_REQUEST)
    method, target, major, minor = match.groups()
    if major != "1":
        raise HTTPError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
    path, query = split_target(target)
    headers, content_length, tokens = parse_fields(lines[1:])
    keep_alive = "close" not in tokens if minor != "0" else "keep-alive" in tokens
    return Request(line, method, path, query, f"HTTP/1.{minor}", headers, content_length, keep_alive)


def split_target(target: str) -> tuple[str, str]:
    """The path and query string of a request target."""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        return path, query
    if target.startswith(("http://", "https://")):  # absolute form, as sent to proxies
        try:
            parts = urlsplit(target)
        except ValueError:  # an authority it cannot split, such as an unclosed IPv6 literal
            raise HTTPError(HTTPStatus.BAD_REQUEST) from None
        return parts.path or "/", parts.query
    raise HTTPError(HTTPStatus.BAD_REQUEST)


def parse_fields(lines: list[str]) -> tuple[list[tuple[str, str]], int | None, set[str]]:
    """Header fields as (lowercase name, value), the body length if any, and the Connection tokens."""
    headers = []
    lengths: set[str] = set()
    tokens: set[str] = set()
    for line in lines:
        name, colon, value = line.rstrip("\r").partition(":")
        if not colon or HEADER_NAME.fullmatch(name) is None:  # also refuses obsolete folded lines
            raise HTTPError(HTTPStatus.BAD_REQUEST)
        name, value = name.lower(), value.strip(" \t")
        headers.append((name, value))
        if name == "content-length":
            lengths.add(value)
        elif name == "connection":
            tokens.update(token.strip().lower() for token in value.split(","))
        elif name == "transfer-encoding":
            raise HTTPError(HTTPStatus.NOT_IMPLEMENTED)  # no chunked bodies: nothing here reads a body
    if not lengths:
        return headers, None, tokens
    length = lengths.pop()
    if lengths or DIGITS.fullmatch(length) is None:
        raise HTTPError(HTTPStatus.BAD_REQUEST)
    if len(length) > MAX_LENGTH_DIGITS or int(length) > MAX_BODY:
        raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    return headers, int(length), tokens


def error_response(status: HTTPStatus) -> tuple[bytes, int]:
    """A complete response, closing the connection, for a request the server refuses; and its body size."""
    body = json_body({"error": status.phrase})
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\n"
        f"Date: {http_date(int(time.time()))}\r\n"
        f"Server: {SERVER_SOFTWARE}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body, len(body)


@functools.lru_cache(maxsize=1)
def http_date(second: int) -> str:
    """The Date header value for a second; formatted once per second, not per request."""
    return format_date_time(second)


@functools.lru_cache(maxsize=1)
def log_date(second: int) -> str:
    """A second in the Common Log Format."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))


class BufferedHandler(SimpleHandler):
    """wsgiref's handler for one request, collecting the whole response in memory.

    The connection sends the bytes when the client can take them, so no client can block the event loop.
    """

    http_version = "1.1"
    server_software = SERVER_SOFTWARE
    os_environ: dict[str, str] = {}  # noqa: RUF012 -- wsgiref's hook; a request carries no process environment
    # wsgiref's page for an application that fails before it has answered: JSON, like every other answer
    error_body = json_body({"error": HTTPStatus.INTERNAL_SERVER_ERROR.phrase})
    error_headers = [  # noqa: RUF012 -- wsgiref's hook, copied before use
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(error_body))),
    ]
    # wsgiref's per-request state, which its type stubs leave out
    headers: Headers | None
    status: str | None
    bytes_sent: int
    stdin: io.BytesIO
    stderr: Any
    base_env: dict[str, Any]
    wsgi_environ: ClassVar[dict[str, Any]] = {
        "wsgi.version": SimpleHandler.wsgi_version,
        "wsgi.run_once": False,
        "wsgi.url_scheme": "http",
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.file_wrapper": SimpleHandler.wsgi_file_wrapper,
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
    }

    def __init__(self, environ: dict[str, Any], body: bytes, keep_alive: bool) -> None:
        self.output = io.BytesIO()
        super().__init__(io.BytesIO(body), self.output, sys.stderr, environ, multithread=False, multiprocess=False)
        self.keep_alive = keep_alive
        self.head_only = environ["REQUEST_METHOD"] == "HEAD"
        self.outcome = ("500", 0)
        self.error = ""  # what went wrong in the application, for one line of the log

    def log_exception(self, exc_info: Any) -> None:
        """Remember the application's exception; the server logs one line, never a blocking traceback."""
        self.error = describe(exc_info[1])

    def set_content_length(self) -> None:
        """Keep the connection only if wsgiref can find the length: no length, no end but the close."""
        super().set_content_length()
        assert self.headers is not None
        if "Content-Length" not in self.headers:
            self.keep_alive = False

    def setup_environ(self) -> None:
        """wsgiref's environ, from a template of the ``wsgi.*`` keys rather than key by key."""
        self.environ = {**self.wsgi_environ, **self.base_env, "wsgi.input": self.stdin, "wsgi.errors": self.stderr}

    def send_headers(self) -> None:
        """wsgiref's cleanup_headers, send_preamble and send_headers in one write, adding Date and Connection.

        The same bytes in the same order as wsgiref's three steps (status, Server, the application's headers,
        Date, Connection), at a fraction of the cost: its Headers object looks a name up by a scan each time.
        """
        assert self.headers is not None
        names = {name.lower() for name, _ in self.headers.items()}
        if "content-length" not in names:
            self.set_content_length()
        self.headers_sent = True
        server = "" if "server" in names else f"Server: {self.server_software}\r\n"
        fields = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        date = "" if "date" in names else f"Date: {http_date(int(time.time()))}\r\n"
        connection = "keep-alive" if self.keep_alive else "close"
        head = f"HTTP/{self.http_version} {self.status}\r\n{server}{fields}{date}Connection: {connection}\r\n\r\n"
        self._write(head.encode("iso-8859-1"))

    def write(self, data: bytes) -> None:
        """Write headers and body; for a HEAD request, the headers only, whatever the application returns."""
        super().write(b"" if self.head_only else data)

    def _write(self, data: bytes) -> None:
        """Into memory, which takes every byte at once: none of wsgiref's checks for a short write."""
        self.output.write(data)

    def _flush(self) -> None:
        """Nothing to flush in memory."""

    def handle_error(self) -> None:
        """Close the connection after an application error: the response may be cut short."""
        self.keep_alive = False
        super().handle_error()

    def close(self) -> None:
        """Remember the status and body size for the access log; wsgiref's close() forgets them."""
        self.outcome = ((self.status or "500").split(" ", 1)[0], self.bytes_sent)
        super().close()


class HTTPConnection:
    """One client's connection: reads its requests, answers them in order, then keeps it open or closes it."""

    def __init__(self, server: CredentialsServer, sock: socket.socket, client_address: tuple[str, int]) -> None:
        self.server = server
        self.sock = sock
        self.client_address = client_address
        self.received = bytearray()
        self.pending = bytearray()  # answers not yet sent
        self.head: Request | None = None  # a parsed head whose body is still arriving
        self.closing = False  # answer nothing more; close once the pending answers are sent
        self.peer_closed = False
        self.lingering = False
        self.deadline = time.monotonic() + server.timeout
        self.events = selectors.EVENT_READ
        server.selector.register(sock, self.events, self)

    def handle_event(self, mask: int) -> None:
        """Read what the client sent, answer what is complete, send what the client can take."""
        if mask & selectors.EVENT_READ:
            try:
                data = self.sock.recv(RECV_SIZE)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            if not data:
                self.peer_closed = True
            elif self.lingering:
                return
            self.received += data
        self.advance()

    def advance(self) -> None:
        """Answer complete requests, send what can be sent, then wait for the event that matters next.

        Requests already received are answered as long as the client takes the answers: a send that leaves
        less than HIGH_WATER waiting lets the next ones be answered at once, not after more input arrives.
        """
        more = True
        while more:
            more = not self.closing and self.answer_requests()
            if self.peer_closed:
                self.closing = True
            if self.pending:
                try:
                    sent = self.sock.send(self.pending)
                except BlockingIOError:
                    sent = 0
                except OSError:
                    self.close()
                    return
                if not sent:
                    break
                del self.pending[:sent]
                self.deadline = time.monotonic() + self.server.timeout
                more = more and len(self.pending) < HIGH_WATER
        if self.pending:
            self.watch(selectors.EVENT_WRITE)
        elif not self.closing:
            self.watch(selectors.EVENT_READ)
        elif self.peer_closed or self.lingering:
            self.close()
        else:
            self.linger()

    def answer_requests(self) -> bool:
        """Answer each complete request received, in order, until HIGH_WATER of output waits.

        True when it stopped at HIGH_WATER with requests perhaps still to answer.
        """
        while self.received:
            if len(self.pending) >= HIGH_WATER:
                return True
            try:
                request, body = self.next_request()
            except HTTPError as error:
                self.refuse(error.status)
                return False
            except Exception as error:  # a parser bug must cost this request, not the process
                self.server.log.say(f"cannot parse a request from {self.client_address[0]}: {describe(error)}")
                self.refuse(HTTPStatus.BAD_REQUEST)
                return False
            if request is None:
                return False
            self.pending += self.respond(request, body)
            self.deadline = time.monotonic() + self.server.timeout
            if not request.keep_alive:
                self.closing = True
                return False
        return False

    def refuse(self, status: HTTPStatus) -> None:
        """Answer a request the server refuses, and answer nothing more on this connection."""
        # A refused head is still at the start of what was received: its first line is the one to log.
        first_line = bytes(self.received[:200].split(b"\n", 1)[0]).decode("latin-1").rstrip("\r")
        response, size = error_response(status)
        self.pending += response
        self.server.log_request(self.client_address[0], first_line, str(status.value), size)
        self.received.clear()
        self.head = None
        self.closing = True

    def next_request(self) -> tuple[Request | None, bytes]:
        """The next complete request and its body, or None until one has arrived."""
        if self.head is None:
            if self.received.startswith((b"\r", b"\n")):  # blank lines before a request line are to be ignored
                del self.received[: len(self.received) - len(self.received.lstrip(b"\r\n"))]
            end = HEAD_END.search(self.received)
            if end is None:
                line_end = self.received.find(b"\n")
                if (line_end if line_end >= 0 else len(self.received)) > MAX_REQUEST_LINE + 1:
                    raise HTTPError(HTTPStatus.REQUEST_URI_TOO_LONG)
                if len(self.received) > MAX_HEAD:
                    raise HTTPError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return None, b""
            self.head = parse_head(bytes(self.received[: end.start()]))
            del self.received[: end.end()]
        length = self.head.content_length or 0
        if len(self.received) < length:
            return None, b""
        request, body = self.head, bytes(self.received[:length])
        del self.received[:length]
        self.head = None
        return request, body

    def respond(self, request: Request, body: bytes) -> bytes:
        """Run the application for one request through wsgiref's handler; the bytes of its answer."""
        try:
            handler = BufferedHandler(self.environ(request), body, request.keep_alive)
            handler.run(self.server.app)
            if handler.error:
                self.server.log.say(f"application error for {escape_log(request.line)!r}: {handler.error}")
        except Exception as error:  # wsgiref re-raises only when even its error page failed
            self.server.log.say(f"cannot answer {escape_log(request.line)!r}: {describe(error)}")
            handler = BufferedHandler({"REQUEST_METHOD": request.method}, b"", False)
            response, size = error_response(HTTPStatus.INTERNAL_SERVER_ERROR)
            handler.keep_alive = False
            handler.outcome = ("500", size)
            handler.output = io.BytesIO(response)
        if not handler.keep_alive:
            self.closing = True
        self.server.log_request(self.client_address[0], request.line, *handler.outcome)
        return handler.output.getvalue()

    def environ(self, request: Request) -> dict[str, Any]:
        """The CGI part of the WSGI environ for a request; wsgiref's handler adds the ``wsgi.*`` keys."""
        environ = self.server.base_environ.copy()
        environ["REQUEST_METHOD"] = request.method
        environ["PATH_INFO"] = unquote(request.path, "latin-1")
        environ["QUERY_STRING"] = request.query
        environ["SERVER_PROTOCOL"] = request.version
        environ["REMOTE_ADDR"] = self.client_address[0]
        if request.content_length is not None:
            environ["CONTENT_LENGTH"] = str(request.content_length)
        for name, value in request.headers:
            if "_" in name or name == "content-length":  # as in wsgiref: "_" could pose as "-" in a trusted name
                continue
            key = name.upper().replace("-", "_")
            key = key if key == "CONTENT_TYPE" else f"HTTP_{key}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def watch(self, events: int) -> None:
        """Wait for these selector events on the socket."""
        if events != self.events:
            self.events = events
            self.server.selector.modify(self.sock, events, self)

    def linger(self) -> None:
        """Stop sending, then read and drop what the client still sends, so it reads our last answer unreset."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.lingering = True
        self.deadline = time.monotonic() + min(LINGER, self.server.timeout)
        self.watch(selectors.EVENT_READ)

    def close(self) -> None:
        """Close the socket and forget the connection; once, however often it is called."""
        if self.sock.fileno() < 0:
            return
        self.server.forget(self)
        self.sock.close()


def listen(address: tuple[str, int]) -> socket.socket:
    """A non-blocking TCP socket listening on the address."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.create_server(address, family=family, backlog=socket.SOMAXCONN)
    sock.setblocking(False)
    return sock


class CredentialsServer:
    """Drives every client connection of a listening socket (see ``listen``) from one selector loop.

    Given a ``parent`` process id it is a worker: it also stops, within a tick, once that process is gone,
    so a worker never outlives its supervisor.
    """

    def __init__(
        self,
        listener: socket.socket,
        app: WSGIApplication,
        timeout: float = DEFAULT_TIMEOUT,
        parent: int | None = None,
    ) -> None:
        self.app = app
        self.timeout = timeout
        self.parent = parent
        self.socket = listener
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.socket, selectors.EVENT_READ, None)
        self.accepting = True
        self.connections: set[HTTPConnection] = set()
        self.base_environ = {
            "SERVER_NAME": self.server_address[0],
            "SERVER_PORT": str(self.server_address[1]),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SCRIPT_NAME": "",
        }
        self.log = AccessLog(sys.stderr)
        self.log_watched: int | None = None  # stderr's descriptor while the loop waits for it to take more

    def serve_forever(self) -> None:
        """Answer clients until interrupted (main() turns SIGTERM into KeyboardInterrupt) or orphaned."""
        tick = min(1.0, self.timeout / 4)
        next_sweep = time.monotonic() + tick
        while self.parent is None or os.getppid() == self.parent:
            for key, mask in self.selector.select(tick):
                if key.data is None:
                    self.accept()
                elif key.data is not self.log:
                    self.handle_event(key.data, mask)
            self.log.flush()
            self.watch_log()
            now = time.monotonic()
            if now >= next_sweep:
                for connection in [c for c in self.connections if c.deadline <= now]:
                    self.close_quietly(connection)
                if not self.accepting:
                    self.selector.register(self.socket, selectors.EVENT_READ, None)
                    self.accepting = True
                next_sweep = now + tick

    def watch_log(self) -> None:
        """Wake when stderr can take more of a waiting log, rather than a tick later, so a backlog drains fast."""
        fd = self.log.fd if self.log.backlog else None
        if fd == self.log_watched:
            return
        try:
            if self.log_watched is not None:
                self.selector.unregister(self.log_watched)
            self.log_watched = None
            if fd is not None:
                self.selector.register(fd, selectors.EVENT_WRITE, self.log)
                self.log_watched = fd
        except (OSError, KeyError, ValueError):  # a regular file cannot be watched, but it never makes us wait
            pass

    def handle_event(self, connection: HTTPConnection, mask: int) -> None:
        """Let a connection handle its event; whatever goes wrong in it closes that connection alone."""
        try:
            connection.handle_event(mask)
        except Exception as error:
            self.log.say(f"closing the connection from {connection.client_address[0]}: {describe(error)}")
            self.close_quietly(connection)

    def close_quietly(self, connection: HTTPConnection) -> None:
        """Close a connection whatever state it is in; it is forgotten even if closing fails."""
        self.connections.discard(connection)
        with contextlib.suppress(Exception):  # first, while its descriptor still names it
            self.selector.unregister(connection.sock)
        with contextlib.suppress(Exception):
            connection.sock.close()

    def accept(self) -> None:
        """Accept every waiting client; as a worker, one."""
        while True:
            try:
                sock, client_address = self.socket.accept()
            except BlockingIOError:
                return
            except OSError as error:
                # Out of file descriptors, say. Rather than spin on a listening socket that stays readable,
                # stop watching it until the next sweep; meanwhile new clients wait in the backlog.
                self.log.say(f"cannot accept a connection: {error.strerror or error}")
                self.selector.unregister(self.socket)
                self.accepting = False
                return
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections.add(HTTPConnection(self, sock, client_address))
            except OSError as error:  # a client already gone (reset before its setup), say: lose only it
                self.log.say(f"cannot set up a connection from {client_address[0]}: {error.strerror or error}")
                sock.close()
            if self.parent is not None:
                return  # a worker takes one client per wake-up and leaves the next to the others woken with it

    def forget(self, connection: HTTPConnection) -> None:
        """Stop watching a connection that is closing."""
        self.connections.discard(connection)
        self.selector.unregister(connection.sock)

    def log_request(self, client: str, line: str, status: str, size: int) -> None:
        """Queue one access-log line, in the Common Log Format, for stderr."""
        self.log.write(f'{client} - - [{log_date(int(time.time()))}] "{escape_log(line)}" {status} {size}\n')

    def server_close(self) -> None:
        """Close every connection and the listening socket, and write what stderr takes of the log."""
        for connection in list(self.connections):
            connection.close()
        self.selector.close()
        self.socket.close()
        self.log.flush()


def escape_log(text: str) -> str:
    """Text for a log line: every C0 and C1 control, DEL, quote and backslash as \\xNN."""
    return text.translate(LOG_ESCAPES) if NEEDS_ESCAPE.search(text) else text


def describe(error: BaseException) -> str:
    """An exception in a few words, for one log line."""
    return escape_log(f"{type(error).__name__}: {error}"[:300])


class AccessLog:
    """Log lines for stderr, written only as fast as stderr takes them, so it never blocks the event loop.

    Up to LOG_BACKLOG bytes wait for a slow reader; past that, lines are counted and dropped, and one line says
    how many once the log flows again. A closed stderr (EPIPE, say) ends the logging, not the serving.
    """

    def __init__(self, stream: io.TextIOBase | Any) -> None:
        self.encoding: str = getattr(stream, "encoding", None) or "utf-8"
        self.backlog = bytearray()
        self.dropped = 0
        self.poll = select.poll()
        try:
            stream.flush()
            self.fd: int | None = stream.fileno()
            mode = os.fstat(self.fd).st_mode
        except (AttributeError, OSError, ValueError):  # no stderr at all
            self.fd = None
            return
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            # A write of at most PIPE_BUF to a non-blocking pipe is all or nothing. A terminal or a file stays
            # blocking (its other users would see EAGAIN), but is written only when poll() says it is ready.
            os.set_blocking(self.fd, False)
        self.poll.register(self.fd, select.POLLOUT)

    def write(self, line: str) -> None:
        """Queue one line, or count it as dropped if the backlog is full."""
        if self.fd is None:
            return
        data = line.encode(self.encoding, "backslashreplace")
        if self.dropped or len(self.backlog) + len(data) > LOG_BACKLOG:
            self.dropped += 1
        else:
            self.backlog += data

    def say(self, message: str) -> None:
        """Queue one line about the server itself."""
        self.write(f"credentials: {message}\n")

    def flush(self) -> None:
        """Write what stderr takes now, whole lines where they fit in LOG_WRITE bytes; never wait."""
        while self.fd is not None and self.backlog:
            if not self.poll.poll(0):
                return
            end = self.backlog.rfind(b"\n", 0, LOG_WRITE) + 1 or LOG_WRITE
            try:
                written = os.write(self.fd, self.backlog[:end])
            except BlockingIOError:
                return
            except OSError:  # the reader has gone: stop logging, and keep serving
                self.fd = None
                self.backlog.clear()
                return
            del self.backlog[:written]
            if not self.backlog and self.dropped:
                self.backlog += f"credentials: {self.dropped} log lines dropped: stderr was not read\n".encode()
                self.dropped = 0


# The workers


class Supervisor:
    """Pre-forks worker processes that each run a CredentialsServer on one shared listening socket.

    The listening socket is made once, before any fork, and every worker accepts from it: one port,
    one "address in use" check, and a worker that dies loses no queued clients, since the others keep
    accepting from the same queue. (SO_REUSEPORT would give each worker its own queue, which the kernel fills
    by hash whether or not that worker is alive, and would let a second server bind the same port unnoticed.)
    Every worker is woken for each new client, so each accepts one per wake-up: accepting all that wait, the
    first awake took all 50 of wrk's connections in one run out of two; taking turns, two workers' CPU times
    came within 15% of each other in every run measured.
    The supervisor forwards SIGTERM and SIGINT to the workers, replaces a worker that dies unexpectedly,
    and gives up after RAPID_DEATHS deaths within RAPID_WINDOW seconds.
    """

    def __init__(self, listener: socket.socket, app: WSGIApplication, timeout: float, workers: int) -> None:
        self.listener, self.app, self.timeout = listener, app, timeout
        self.size = workers
        self.workers: set[int] = set()
        self.stopping = False
        self.deaths: deque[float] = deque(maxlen=RAPID_DEATHS)

    def run(self) -> int:
        """Run the workers until a stop signal (exit status 0) or until they keep dying (1)."""
        previous = {signum: signal.signal(signum, self.forward) for signum in STOP_SIGNALS}
        try:
            while len(self.workers) < self.size:
                self.spawn()
            while self.workers:
                pid, _ = os.wait()
                self.workers.discard(pid)
                if self.stopping:
                    continue
                self.deaths.append(time.monotonic())
                if len(self.deaths) == RAPID_DEATHS and self.deaths[-1] - self.deaths[0] <= RAPID_WINDOW:
                    say(f"{RAPID_DEATHS} workers died within {RAPID_WINDOW:g} s; giving up")
                    self.forward(signal.SIGTERM, None)
                    while self.workers:
                        self.workers.discard(os.wait()[0])
                    return 1
                self.spawn()
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self.listener.close()

    def spawn(self) -> None:
        """Fork one worker; stop signals wait until the supervisor knows its process id."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self.work()
            self.workers.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def work(self) -> None:
        """The worker process: serve until a stop signal or the supervisor's death, then exit."""
        status = 1
        try:
            for signum in STOP_SIGNALS:
                signal.signal(signum, stop_worker)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            server = CredentialsServer(self.listener, self.app, self.timeout, os.getppid())
            try:
                with contextlib.suppress(KeyboardInterrupt):
                    server.serve_forever()
            finally:
                server.server_close()
            status = 0
        except BaseException:  # whatever it was, say so, and leave only by os._exit
            with contextlib.suppress(BaseException):
                sys.excepthook(*sys.exc_info())
        finally:
            os._exit(status)  # never return into the supervisor's code, nor run its cleanup

    def forward(self, signum: int, frame: FrameType | None) -> None:
        """Stop: pass a stop signal on to every worker, and replace none that exits from now on."""
        self.stopping = True
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)


def stop_worker(signum: int, frame: FrameType | None) -> None:
    """A worker's first stop signal: raise KeyboardInterrupt; ignore the rest (Ctrl-C reaches it twice)."""
    for each in STOP_SIGNALS:
        signal.signal(each, signal.SIG_IGN)
    raise KeyboardInterrupt


# The command line


def port_number(text: str) -> int:
    """A TCP port number; ValueError for anything else."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


def positive_seconds(text: str) -> float:
    """A positive, finite number of seconds; ValueError for anything else."""
    seconds = float(text)
    if not 0 < seconds < math.inf:
        raise ValueError(text)
    return seconds


def worker_count(text: str) -> int:
    """A number of worker processes, at least 1; "auto" for one per CPU; ValueError for anything else."""
    if text == "auto":
        return os.cpu_count() or 1
    count = int(text)
    if count < 1:
        raise ValueError(text)
    return count


# Each flag's default, used when neither the flag nor its variable is given. The variable is CREDENTIALS_<FLAG>,
# the convention of every product here (settings_env.py, which this file cannot import: it is one file that
# needs only the standard library).
DEFAULTS = {"host": DEFAULT_HOST, "port": str(DEFAULT_PORT), "timeout": f"{DEFAULT_TIMEOUT:g}", "workers": "1"}
# What each checked flag must be, in words for the person who typed it.
ARGUMENT_RULES: dict[str, tuple[Callable[[str], Any], str]] = {
    "port": (port_number, "a TCP port number from 0 to 65535"),
    "timeout": (positive_seconds, "a positive number of seconds"),
    "workers": (worker_count, 'a whole number of processes, at least 1, or "auto"'),
}


def checked_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None, environ: dict[str, str] | None = None
) -> argparse.Namespace:
    """Parse the command line, each flag not given taken from its variable, else its default; a bad value is one
    line saying what the flag or the variable must be (a variable's even when its flag is given, as elsewhere)."""
    environ = dict(os.environ) if environ is None else environ
    args = parser.parse_args(argv)

    def checked(name: str, text: str, source: str) -> Any:
        convert, words = ARGUMENT_RULES.get(name, (str, ""))
        try:
            return convert(text)
        except ValueError:
            parser.error(f"{source} must be {words}; {text!r} is invalid")

    for name, default in DEFAULTS.items():
        variable = f"CREDENTIALS_{name.upper()}"
        value = checked(name, environ[variable], variable) if environ.get(variable) else checked(name, default, "")
        if getattr(args, name) is not None:
            value = checked(name, getattr(args, name), f"--{name}")
        setattr(args, name, value)
    return args


def say(message: str) -> None:
    """One line about the service on stderr, unless stderr is gone or full."""
    with contextlib.suppress(OSError, ValueError):
        print(f"credentials: {message}", file=sys.stderr, flush=True)


def interrupt(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt, so both take the same clean way out."""
    raise KeyboardInterrupt


def command_line() -> argparse.ArgumentParser:
    """The flags; their defaults are filled in by checked_arguments."""
    parser = argparse.ArgumentParser(
        description="Serve the credentials service: GET /?species=NAME.",
        epilog=(
            "Exit status: 0 after Ctrl-C or SIGTERM, 1 if it cannot listen or its workers keep dying, "
            "2 for bad arguments."
        ),
    )
    parser.add_argument("--host", help=f"address to listen on (default {DEFAULT_HOST}) [env: CREDENTIALS_HOST]")
    parser.add_argument("--port", help=f"TCP port to listen on (default {DEFAULT_PORT}) [env: CREDENTIALS_PORT]")
    parser.add_argument(
        "--timeout",
        help=(
            "seconds a connection may stay idle, take to send a request or leave an answer unread "
            f"(default {DEFAULT_TIMEOUT:g}) [env: CREDENTIALS_TIMEOUT]"
        ),
    )
    parser.add_argument(
        "--workers",
        help='processes answering on the one listening socket, or "auto" for one per CPU (default 1) '
        "[env: CREDENTIALS_WORKERS]",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Serve the credentials service until Ctrl-C or SIGTERM; exit status 0, or 1 if it cannot listen."""
    parser = command_line()
    args = checked_arguments(parser, argv)
    if args.workers > 1 and not hasattr(os, "fork"):
        parser.error("--workers above 1 needs os.fork, which this platform lacks")
    # Before listening: a client may send SIGTERM as soon as the port accepts. The supervisor, once it
    # runs, forwards stop signals to its workers instead.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        listener = listen((args.host, args.port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            say(
                f"port {args.port} on {args.host} is in use, perhaps by another server: choose another with --port N,"
                " CREDENTIALS_PORT=N or `make run-credentials PORT=N`"
            )
        else:
            say(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}")
        return 1
    host, port = listener.getsockname()[:2]
    workers = f" with {args.workers} workers" if args.workers > 1 else ""
    with contextlib.suppress(OSError):
        print(f"Serving credentials on http://{host}:{port}/{workers} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        if args.workers > 1:
            status = Supervisor(listener, application, args.timeout, args.workers).run()
        else:
            status = serve(listener, application, args.timeout)
    except KeyboardInterrupt:  # stopped before the loop or the workers had started
        listener.close()
        status = 0
    if status == 0:
        say("shut down")
    return status


def serve(listener: socket.socket, app: WSGIApplication, timeout: float) -> int:
    """Serve in this process alone until Ctrl-C or SIGTERM (main() makes it a KeyboardInterrupt); exit status 0."""
    server = CredentialsServer(listener, app, timeout)
    try:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C, or SIGTERM: the way out
            server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
