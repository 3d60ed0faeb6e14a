"""Serve the audio library: `python Flask/server.py [--host H] [--port P] [--library DIR] [--max-size N]
[--allowed-host NAME]... [--users FILE [--private]] [--debug]`; `python Flask/server.py add-user NAME --users FILE`
adds a user.

Production serving is waitress: it reads each request body in full (spilling past 512 KiB to a temporary
file) before a worker thread runs the application, so a slow or stalled client never holds a worker and the
application never sees half a body. Its body limit is the application's, and its own error responses (413,
400) are JSON like every other error. `--debug` runs Flask's development server instead.

Exit statuses: 0 stopped by SIGTERM or Ctrl-C; 2 could not start: bad arguments, an unusable library folder or
users file, or the address is taken. add-user: 0 the user was written, 2 nothing was.
"""

import argparse
import contextlib
import ipaddress
import json
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import cast

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import create_server
from waitress.task import ErrorTask
from waitress.utilities import Error


sys.path.insert(0, str(Path(__file__).resolve().parent))

from audio_library import DEFAULT_LIBRARY_DIR, DEFAULT_MAX_UPLOAD_SIZE, create_app
from audio_library.auth import USERS_KEY
from audio_library.errors import DISK_FULL_ERRNOS, DISK_FULL_MESSAGE, too_large_message
from audio_library.extension import get_library
from audio_library.hosts import HostNameError, split_names
from audio_library.storage import LibraryError
from audio_library.users import UsersError, add_user_command


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
THREADS = 8
# Waitress's default of 100 open connections lets 100 stalled clients lock everyone else out. Each connection
# costs a descriptor, two while its body spills to a temporary file; poll() has no FD_SETSIZE ceiling.
CONNECTION_LIMIT = 1000
DESCRIPTORS_WANTED = 2 * CONNECTION_LIMIT + 256
# How long a client answered before its body was read may go on sending it, dropped, before it is cut off.
LINGER_SECONDS = 5.0


class JSONErrorTask(ErrorTask):
    """Waitress's own error responses (body over the limit, malformed request) as JSON, not text/plain."""

    def execute(self) -> None:
        """Write the error as `{"error": "..."}` and close the connection, as waitress does."""
        error = cast(HTTPRequestParser, self.request).error
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
        ]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class DiskFullError(Error):
    """The disk filled up while waitress spooled a request body."""

    code = 507
    reason = "Insufficient Storage"


class SpoolingParser(HTTPRequestParser):
    """Waitress's request parser, but a full disk while spooling the body is an error response (507), not
    an exception that resets the connection; the partial spool is closed with the request."""

    def received(self, data: bytes) -> int:
        """Parse more of the request, as waitress does."""
        try:
            return super().received(data)
        except OSError as error:
            if error.errno not in DISK_FULL_ERRNOS:
                raise
            self.error = DiskFullError(error.strerror or "")
            self.completed = True
            return len(data)

    def parse_header(self, header_plus: bytes) -> None:
        """Parse the head, as waitress does; but a Content-Length too long for int() or a target urlsplit
        cannot split is a 400, not a ValueError that closes the connection without an answer."""
        try:
            super().parse_header(header_plus)
        except ValueError as error:
            raise ParsingError(f"The request head cannot be parsed ({error})") from error


class LingeringChannel(HTTPChannel):
    """A waitress connection that, closing after answering a request it stopped reading (too large, a full
    disk, malformed), drains what the client still sends before it closes: a lingering close.

    Closing a socket with unread bytes in it makes the kernel answer with a reset, and a client still sending
    its body (curl, requests, a browser) then reports "connection reset" instead of the answer it was sent.
    As nginx and Apache do, the connection is instead shut for writing, so the client sees the whole answer
    and its end, and read and dropped until the client closes or LINGER_SECONDS pass. The event loop does
    the reading, one non-blocking read at a time; nothing read is parsed, spooled or kept.
    """

    answered_before_reading_all = False
    linger_deadline: float | None = None

    def service(self) -> None:
        """Run the next request, noting first whether its parse failed and left the rest of it unread."""
        if self.requests[0].error is not None:
            self.answered_before_reading_all = True
        super().service()

    def handle_close(self) -> None:
        """Close, or, when closing after such an answer is sent, shut for writing and start draining."""
        if (
            self.answered_before_reading_all
            and self.will_close
            and not self.total_outbufs_len
            and self.linger_deadline is None
            and self.socket is not None
        ):
            self.start_lingering(self.socket)
        else:
            super().handle_close()

    def start_lingering(self, sock: socket.socket) -> None:
        """Send end-of-file after the answer and keep reading until the client closes or time is up."""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the client is already gone: nothing to drain
            super().handle_close()
            return
        if self.request is not None:  # a next request begun from the dropped body: never to be served
            self.request.close()
            self.request = None
        self.will_close = False
        self.linger_deadline = time.monotonic() + LINGER_SECONDS

    def readable(self) -> bool:
        """While lingering, always: to drain."""
        return self.linger_deadline is not None or super().readable()

    def writable(self) -> bool:
        """While lingering, only once the time is up (a socket shut for writing polls writable at once)."""
        if self.linger_deadline is not None:
            return self.will_close or time.monotonic() >= self.linger_deadline
        return bool(super().writable())

    def handle_read(self) -> None:
        """While lingering, read and drop; `recv` closes the connection at the client's end-of-file."""
        if self.linger_deadline is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)
        except OSError:
            self.handle_close()

    def handle_write(self) -> None:
        """While lingering, called only when the time is up: close."""
        if self.linger_deadline is not None:
            self.handle_close()
        else:
            super().handle_write()


class JSONErrorChannel(LingeringChannel):
    """A waitress connection whose protocol errors, a full disk included, are answered by JSONErrorTask."""

    parser_class = SpoolingParser
    error_task_class = JSONErrorTask


def stop_serving(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server as Ctrl-C does, so it exits 0 after releasing its lock file."""
    raise KeyboardInterrupt


def raise_descriptor_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards `wanted`, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Flags, with defaults from the AUDIO_LIBRARY_* environment variables."""
    env = os.environ
    parser = argparse.ArgumentParser(description="Serve the audio library over HTTP.")
    parser.add_argument("--host", default=env.get("AUDIO_LIBRARY_HOST", DEFAULT_HOST), help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=int(env.get("AUDIO_LIBRARY_PORT", DEFAULT_PORT)), help="TCP port (8888)"
    )
    parser.add_argument(
        "--library",
        default=env.get("AUDIO_LIBRARY_DIR", DEFAULT_LIBRARY_DIR),
        help="the folder the audio files live in (created if missing)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=int(env.get("AUDIO_LIBRARY_MAX_SIZE", DEFAULT_MAX_UPLOAD_SIZE)),
        help="largest upload request body in bytes (1 GiB)",
    )
    parser.add_argument("--debug", action="store_true", help="run Flask's development server with the debugger")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=split_names(env.get("AUDIO_LIBRARY_ALLOWED_HOSTS")),
        metavar="NAME",
        help="a DNS name to answer to besides localhost and this machine's name; repeatable (and"
        " $AUDIO_LIBRARY_ALLOWED_HOSTS, comma-separated)",
    )
    parser.add_argument(
        "--users",
        metavar="FILE",
        help="the users who may upload and delete, one name:hash a line (default: $AUDIO_LIBRARY_USERS); "
        "`server.py add-user NAME --users FILE` adds one",
    )
    parser.add_argument(
        "--private", action="store_true", help="reads need a user's credentials too (or AUDIO_LIBRARY_PRIVATE=1)"
    )
    arguments = parser.parse_args(argv)
    if arguments.max_size <= 0:
        parser.error("--max-size must be a positive number of bytes")
    return arguments


def app_config(arguments: argparse.Namespace) -> dict[str, object]:
    """The application's configuration from the flags; those not given keep create_app's defaults."""
    config: dict[str, object] = {
        "LIBRARY_DIR": Path(arguments.library),
        "MAX_CONTENT_LENGTH": arguments.max_size,
        "ALLOWED_HOSTS": arguments.allowed_host,
    }
    if arguments.users is not None:
        config["USERS_FILE"] = arguments.users
    if arguments.private:
        config["PRIVATE"] = True
    return config


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Check the library folder, then serve until interrupted; or run the add-user command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["add-user"]:
        return add_user_command(argv[1:], sys.stdin, sys.stderr)
    arguments = parse_arguments(argv)
    library = Path(arguments.library)
    try:
        app = create_app(app_config(arguments))
    except (LibraryError, UsersError, HostNameError) as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 2
    if USERS_KEY not in app.extensions and not is_loopback(arguments.host):
        print(
            f"server.py: warning: listening on {arguments.host} with no users: anyone who can reach it may upload"
            " and delete (see --users).",
            file=sys.stderr,
            flush=True,
        )
    if arguments.debug:
        print(f"Serving {library} (debug) on http://{arguments.host}:{arguments.port}/", flush=True)
        app.run(host=arguments.host, port=arguments.port, debug=True, use_reloader=False)
        return 0
    raise_descriptor_limit(DESCRIPTORS_WANTED)
    # Waitress spools request bodies with `tempfile`: keep them on the library's disk, not in a /tmp that may
    # be a small RAM-backed tmpfs. They are anonymous files, never visible in the folder.
    tempfile.tempdir = str(app.config["LIBRARY_DIR"])
    try:
        server = create_server(
            app,
            host=arguments.host,
            port=arguments.port,
            threads=THREADS,
            # waitress refuses bodies of max_request_body_size bytes or more: one past the application's limit.
            max_request_body_size=arguments.max_size + 1,
            ident="audio-library",
            # Read big bodies in 256 KiB gulps rather than 8 KiB: fewer wake-ups of the event loop per upload.
            recv_bytes=256 * 1024,
            connection_limit=CONNECTION_LIMIT,
            asyncore_use_poll=True,
        )
    except OSError as error:
        print(f"server.py: cannot listen on {arguments.host}:{arguments.port}: {error.strerror}", file=sys.stderr)
        return 2
    server.channel_class = JSONErrorChannel  # type: ignore[union-attr]
    print(f"Serving {library} on http://{arguments.host}:{server.effective_port}/", flush=True)  # type: ignore[union-attr]
    signal.signal(signal.SIGTERM, stop_serving)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    get_library(app).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
