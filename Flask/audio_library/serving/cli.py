"""Serve the audio library: `python Flask/server.py [--host H] [--port P] [--library DIR] [--max-size N]
[--head-timeout S] [--idle-timeout S] [--connections-per-client N] [--connection-limit N]
[--allowed-host NAME]... [--users FILE [--private] [--password-backoff S]] [--transcodes N] [--debug]`;
`python Flask/server.py add-user NAME --users FILE` adds a user.

Production serving is waitress, with request bodies handed to the application as they arrive (up to
STREAMING_BODIES at once, so slow senders hold at most that many of the THREADS workers; past that a body is
spooled whole first, spilling past 512 KiB to a temporary file, as waitress does): an upload's first bytes
are judged while the rest is still on its way. Its body limit is the application's, and its own error
responses (413, 400) are JSON like every other error. `--debug` runs Flask's development server instead.

Exit statuses: 0 stopped by SIGTERM or Ctrl-C; 2 could not start: bad arguments, an unusable library folder or
users file, or the address is taken. add-user: 0 the user was written, 2 nothing was.
"""

import argparse
import contextlib
import ipaddress
import resource
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

from audio_library import DEFAULT_LIBRARY_DIR, DEFAULT_MAX_UPLOAD_SIZE, create_app
from audio_library.access.auth import USERS_KEY
from audio_library.access.check_queue import BACKOFF_MOST
from audio_library.access.users import UsersError, add_user_command
from audio_library.library.playable_copies import DEFAULT_TRANSCODES
from audio_library.library.storage import LibraryError
from audio_library.serving.access_log import AccessLog, logged
from audio_library.serving.adjustments import DEFAULT_CONNECTIONS_PER_CLIENT, DEFAULT_HEAD_TIMEOUT
from audio_library.serving.connections import create_server
from audio_library.web.current_library import get_library
from host_rules import HostNameError
from settings_env import cannot_listen, environment_defaults, port_number, positive_int, positive_seconds


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
THREADS = 8
STREAMING_BODIES = THREADS // 2
# Waitress's default of 100 open connections lets 100 stalled clients lock everyone else out; with at most
# --connections-per-client (64) from one address, 4000 takes 63 addresses to fill. Each connection costs a
# descriptor, two while its body spills to a temporary file; poll() has no FD_SETSIZE ceiling.
CONNECTION_LIMIT = 4000
DUAL_STACK_HOSTS = frozenset({"::", "[::]"})  # every address, IPv6 and IPv4
MAX_PASSWORD_BACKOFF = 60.0  # seconds: a held answer keeps its connection
IDLE_TIMEOUT = 120.0  # waitress's channel_timeout default
# The variables whose names are not the flag's; the debugger runs code for whoever reaches it, so it is only
# ever asked for on the command line.
ENVIRONMENT_NAMES = {
    "library": ("AUDIO_LIBRARY_DIR",),
    "allowed_host": ("AUDIO_LIBRARY_ALLOWED_HOSTS",),
    "debug": (),
}


def stop_serving(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server as Ctrl-C does, so it exits 0 after releasing its lock file."""
    raise KeyboardInterrupt


def raise_descriptor_limit(wanted: int) -> None:
    """Raise the soft limit on open files towards `wanted`, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def connection_limit(text: str) -> int:
    """An argparse type: at least 8 open connections."""
    limit = positive_int(text)
    if limit < 8:
        raise argparse.ArgumentTypeError(f"{text!r} is below the least connection limit, 8")
    return limit


def password_backoff(text: str) -> float:
    """An argparse type: 0 to MAX_PASSWORD_BACKOFF seconds."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_PASSWORD_BACKOFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 to {MAX_PASSWORD_BACKOFF:g} seconds")
    return seconds


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Flags, else the AUDIO_LIBRARY_* environment variables (settings_env), else the defaults."""
    parser = argparse.ArgumentParser(description="Serve the audio library over HTTP.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=port_number, default=DEFAULT_PORT, help="TCP port (8888)")
    parser.add_argument(
        "--library",
        default=DEFAULT_LIBRARY_DIR,
        help="the folder the audio files live in (created if missing)",
    )
    parser.add_argument(
        "--max-size",
        type=positive_int,
        default=DEFAULT_MAX_UPLOAD_SIZE,
        help="largest upload request body in bytes (1 GiB)",
    )
    parser.add_argument(
        "--head-timeout",
        type=positive_seconds,
        default=DEFAULT_HEAD_TIMEOUT,
        help="seconds a request head may take to arrive, from its first byte (10)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=positive_seconds,
        default=IDLE_TIMEOUT,
        help="seconds a connection may send nothing, between requests or within a body, before it is closed (120)",
    )
    parser.add_argument(
        "--connections-per-client",
        type=positive_int,
        default=DEFAULT_CONNECTIONS_PER_CLIENT,
        help="open connections one client address may hold; more are answered 429 (64)",
    )
    parser.add_argument(
        "--connection-limit",
        type=connection_limit,
        default=CONNECTION_LIMIT,
        metavar="N",
        help=f"open connections in all; at the limit an idle or trickling one makes room ({CONNECTION_LIMIT})",
    )
    parser.add_argument(
        "--transcodes",
        type=positive_int,
        default=DEFAULT_TRANSCODES,
        metavar="N",
        help=f"playable copies FFmpeg may make at once; more are answered 503 ({DEFAULT_TRANSCODES})",
    )
    parser.add_argument("--debug", action="store_true", help="run Flask's development server with the debugger")
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a DNS name to answer to besides localhost and this machine's name; repeatable (the variable:"
        " comma-separated)",
    )
    parser.add_argument(
        "--users",
        metavar="FILE",
        help="the users who may upload and delete, one name:hash a line; "
        "`server.py add-user NAME --users FILE` adds one",
    )
    parser.add_argument("--private", action="store_true", help="reads need a user's credentials too")
    parser.add_argument(
        "--password-backoff",
        type=password_backoff,
        default=BACKOFF_MOST,
        metavar="S",
        help=f"the longest the answer to a wrong password is held back, growing with the failures of its address"
        f" and user name; 0: never ({BACKOFF_MOST:g})",
    )
    environment_defaults(parser, "AUDIO_LIBRARY", names=ENVIRONMENT_NAMES)
    return parser.parse_args(argv)


def app_config(arguments: argparse.Namespace) -> dict[str, object]:
    """The application's configuration from the flags, the environment and the defaults."""
    return {
        "LIBRARY_DIR": Path(arguments.library),
        "MAX_CONTENT_LENGTH": arguments.max_size,
        "ALLOWED_HOSTS": arguments.allowed_host,
        "TRANSCODES": arguments.transcodes,
        "PASSWORD_BACKOFF": arguments.password_backoff,
        "USERS_FILE": arguments.users,
        "PRIVATE": arguments.private,
    }


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_on(host: str, port: int) -> dict[str, object]:
    """waitress's settings for where to listen: `host` and `port`; for `::` (every address), one socket
    listening on IPv6 and IPv4 alike, since waitress's own listens on IPv6 only (its IPv4 peers are seen as
    `::ffff:a.b.c.d`, counted as the IPv4 address they are: `clients.client_of`)."""
    if host not in DUAL_STACK_HOSTS:
        return {"host": host, "port": port}
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
    except OSError:
        sock.close()
        raise
    return {"sockets": [sock]}


def url_host(host: str) -> str:
    """The host part of a URL that reaches a server listening on `host`: loopback for every address (`::`,
    `0.0.0.0`), an IPv6 address in brackets, anything else as it is."""
    if host in DUAL_STACK_HOSTS:
        return "[::1]"
    if host == "0.0.0.0":
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


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
        print(f"Serving {library} (debug) on http://{arguments.host}:{arguments.port}/ (Ctrl-C to stop)", flush=True)
        app.run(host=arguments.host, port=arguments.port, debug=True, use_reloader=False)
        return 0
    raise_descriptor_limit(2 * arguments.connection_limit + 256)
    access_log = AccessLog()
    try:
        server = create_server(
            logged(app, access_log),
            **listening_on(arguments.host, arguments.port),
            head_timeout=arguments.head_timeout,
            connections_per_client=arguments.connections_per_client,
            # Bodies spooled on the library's disk, not in a /tmp that may be a small RAM-backed tmpfs. They are
            # anonymous files, never visible in the folder.
            spool_folder=str(app.config["LIBRARY_DIR"]),
            access_log=access_log,
            streaming_bodies=STREAMING_BODIES,
            threads=THREADS,
            # waitress refuses bodies of max_request_body_size bytes or more: one past the application's limit.
            max_request_body_size=arguments.max_size + 1,
            ident="audio-library",
            # Read big bodies in 256 KiB gulps rather than 8 KiB: fewer wake-ups of the event loop per upload.
            recv_bytes=256 * 1024,
            connection_limit=arguments.connection_limit,
            channel_timeout=arguments.idle_timeout,
            asyncore_use_poll=True,
        )
    except OSError as error:
        problem = cannot_listen(arguments.host, arguments.port, error, "AUDIO_LIBRARY_PORT", "run")
        print(f"server.py: {problem}", file=sys.stderr)
        return 2
    url = f"http://{url_host(arguments.host)}:{server.effective_port}/"
    print(f"Serving {library} on {url} (Ctrl-C to stop)", flush=True)
    signal.signal(signal.SIGTERM, stop_serving)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    get_library(app).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
