"""One access-log line per request on stderr, written by a thread of its own so that a slow reader of stderr
never holds up a worker; lines past a bound are counted and dropped, never queued without end.

A line: `ADDRESS - - [03/Dec/2026:08:40:00 +0000] "GET /api/files HTTP/1.1" 200 2 0.004`, the Common Log
Format and the seconds taken. Control characters, quotes and backslashes in the request line are written as
`\\xNN`, so a hostile target cannot forge lines or drive a terminal; the user and password of an absolute-form
target (`http://user:pw@host/`) are never written, nor any header.
"""

import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO


MAX_WAITING_LINES = 10_000
NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f-\x9f"\\]')
USERINFO = re.compile(r"(?:^|(?<= ))([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@ ]*@")
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def escape(text: str) -> str:
    """Every C0 and C1 control, DEL, quote and backslash as \\xNN."""
    return NEEDS_ESCAPE.sub(lambda match: f"\\x{ord(match[0]):02x}", text)


def without_userinfo(target: str) -> str:
    """The request line or target without the `user:password@` of an absolute-form target."""
    return USERINFO.sub(r"\1", target)


class AccessLog:
    """Access-log lines queued for one writer thread."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.lines: queue.Queue[str] = queue.Queue(MAX_WAITING_LINES)
        self.dropped = 0
        threading.Thread(target=self.write_lines, name="access-log", daemon=True).start()

    def request(self, client: str, line: str, status: int, size: int, started: float) -> None:
        """Queue the line for one answered request; `started` is its time.time() on arrival."""
        when = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(started))
        seconds = max(0.0, time.time() - started)
        text = f'{client} - - [{when}] "{escape(without_userinfo(line))}" {status} {size} {seconds:.3f}\n'
        try:
            self.lines.put_nowait(text)
        except queue.Full:
            self.dropped += 1

    def write_lines(self) -> None:
        """Write queued lines as stderr takes them; a closed stderr ends the logging, not the serving."""
        while True:
            text = self.lines.get()
            if self.dropped:
                text = f"audio-library: {self.dropped} log lines dropped: stderr was not read\n{text}"
                self.dropped = 0
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                return


class LoggedResponse:
    """The application's response body, counted as it is sent; logged when the server closes it."""

    def __init__(self, body: Iterable[bytes], log: Callable[[int], None]) -> None:
        self.body = body
        self.log = log
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        """Close the application's body (PEP 3333), then log the request."""
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.log(self.size)


def logged(app: WSGIApp, log: AccessLog) -> WSGIApp:
    """The WSGI application, with one access-log line per request it answers."""

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.time()
        status = [0]

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[0] = int(status_line.split(" ", 1)[0])
            return start_response(status_line, headers, exc_info)

        line = " ".join(
            (
                environ.get("REQUEST_METHOD", "-"),
                environ.get("REQUEST_URI") or environ.get("PATH_INFO", "-"),
                environ.get("SERVER_PROTOCOL", "-"),
            )
        )
        client = environ.get("REMOTE_ADDR", "-")
        body = app(environ, start)
        return LoggedResponse(body, lambda size: log.request(client, line, status[0], size, started))

    return application
