"""Serve the audio library: `python Flask/server.py [--host H] [--port P] [--library DIR] [--max-size N]
[--head-timeout S] [--idle-timeout S] [--connections-per-client N] [--connection-limit N]
[--allowed-host NAME]... [--users FILE [--private]] [--debug]`;
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
import os
import resource
import signal
import sys
from pathlib import Path
from types import FrameType

from audio_library import DEFAULT_LIBRARY_DIR, DEFAULT_MAX_UPLOAD_SIZE, create_app
from audio_library.access.auth import USERS_KEY
from audio_library.access.hosts import HostNameError, split_names
from audio_library.access.users import UsersError, add_user_command
from audio_library.library.storage import LibraryError
from audio_library.serving.access_log import AccessLog, logged
from audio_library.serving.adjustments import DEFAULT_CONNECTIONS_PER_CLIENT, DEFAULT_HEAD_TIMEOUT
from audio_library.serving.connections import create_server
from audio_library.web.current_library import get_library


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888
THREADS = 8
STREAMING_BODIES = THREADS // 2
# Waitress's default of 100 open connections lets 100 stalled clients lock everyone else out; with at most
# --connections-per-client (64) from one address, 4000 takes 63 addresses to fill. Each connection costs a
# descriptor, two while its body spills to a temporary file; poll() has no FD_SETSIZE ceiling.
CONNECTION_LIMIT = 4000
IDLE_TIMEOUT = 120.0  # waitress's channel_timeout default


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
    # Defaults from the environment are text that argparse converts like the flags, so a typo there is a
    # usage error (exit 2) naming the option, not a traceback.
    env = os.environ
    parser = argparse.ArgumentParser(description="Serve the audio library over HTTP.")
    parser.add_argument("--host", default=env.get("AUDIO_LIBRARY_HOST", DEFAULT_HOST), help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=env.get("AUDIO_LIBRARY_PORT", str(DEFAULT_PORT)), help="TCP port (8888)"
    )
    parser.add_argument(
        "--library",
        default=env.get("AUDIO_LIBRARY_DIR", DEFAULT_LIBRARY_DIR),
        help="the folder the audio files live in (created if missing)",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=env.get("AUDIO_LIBRARY_MAX_SIZE", str(DEFAULT_MAX_UPLOAD_SIZE)),
        help="largest upload request body in bytes (1 GiB)",
    )
    parser.add_argument(
        "--head-timeout",
        type=float,
        default=env.get("AUDIO_LIBRARY_HEAD_TIMEOUT", str(DEFAULT_HEAD_TIMEOUT)),
        help="seconds a request head may take to arrive, from its first byte (10)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=env.get("AUDIO_LIBRARY_IDLE_TIMEOUT", str(IDLE_TIMEOUT)),
        help="seconds a connection may send nothing, between requests or within a body, before it is closed (120)",
    )
    parser.add_argument(
        "--connections-per-client",
        type=int,
        default=env.get("AUDIO_LIBRARY_CONNECTIONS_PER_CLIENT", str(DEFAULT_CONNECTIONS_PER_CLIENT)),
        help="open connections one client address may hold; more are answered 429 (64)",
    )
    parser.add_argument(
        "--connection-limit",
        type=int,
        default=env.get("AUDIO_LIBRARY_CONNECTION_LIMIT", str(CONNECTION_LIMIT)),
        metavar="N",
        help=f"open connections in all; at the limit an idle or trickling one makes room ({CONNECTION_LIMIT})",
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
    if not arguments.head_timeout > 0:
        parser.error("--head-timeout must be a positive number of seconds")
    if not arguments.idle_timeout > 0:
        parser.error("--idle-timeout must be a positive number of seconds")
    if arguments.connections_per_client <= 0:
        parser.error("--connections-per-client must be a positive number")
    if arguments.connection_limit < 8:
        parser.error("--connection-limit must be at least 8")
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
        print(f"Serving {library} (debug) on http://{arguments.host}:{arguments.port}/ (Ctrl-C to stop)", flush=True)
        app.run(host=arguments.host, port=arguments.port, debug=True, use_reloader=False)
        return 0
    raise_descriptor_limit(2 * arguments.connection_limit + 256)
    access_log = AccessLog()
    try:
        server = create_server(
            logged(app, access_log),
            head_timeout=arguments.head_timeout,
            connections_per_client=arguments.connections_per_client,
            # Bodies spooled on the library's disk, not in a /tmp that may be a small RAM-backed tmpfs. They are
            # anonymous files, never visible in the folder.
            spool_folder=str(app.config["LIBRARY_DIR"]),
            access_log=access_log,
            streaming_bodies=STREAMING_BODIES,
            host=arguments.host,
            port=arguments.port,
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
        print(f"server.py: cannot listen on {arguments.host}:{arguments.port}: {error.strerror}", file=sys.stderr)
        return 2
    url = f"http://{arguments.host}:{server.effective_port}/"
    print(f"Serving {library} on {url} (Ctrl-C to stop)", flush=True)
    signal.signal(signal.SIGTERM, stop_serving)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    get_library(app).close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
