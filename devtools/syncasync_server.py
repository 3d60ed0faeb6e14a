"""The two SyncAsync servers as subprocesses on free loopback ports, pointed at a local open-meteo stand-in, and
requests to them over plain sockets."""

import subprocess
from collections.abc import Mapping
from contextlib import AbstractContextManager

from devtools.rawhttp import Response, exchange
from devtools.servers import Output, RunningServer, running_server


SCRIPTS = {"sync": "SyncAsync/sync_server.py", "async": "SyncAsync/async_server.py"}
KINDS = tuple(SCRIPTS)
STARTUP = 30.0  # seconds a server may take to listen: the async one starts its process pool first
NOWHERE = "http://127.0.0.1:9"  # the discard port: for servers whose test asks no weather, never the real API


def syncasync_server(
    kind: str, upstream: str = NOWHERE, *flags: str, stderr: Output = subprocess.DEVNULL
) -> AbstractContextManager[RunningServer]:
    """The sync or async server, its weather client sent to `upstream` (forecast and geocoding alike)."""
    env = {"OPEN_METEO_URL": upstream, "OPEN_METEO_GEOCODING_URL": upstream}
    return running_server([SCRIPTS[kind], *flags], env=env, stderr=stderr, timeout=STARTUP)


def request(
    port: int, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> Response:
    """One request on a fresh connection (closed after), its answer as read off the wire."""
    fields = {"Host": "127.0.0.1", "Connection": "close", **(headers or {})}
    if body or method == "POST":
        fields["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return exchange(port, head.encode("latin-1") + b"\r\n" + body)


def get(port: int, target: str) -> Response:
    return request(port, "GET", target)


def error_of(response: Response) -> str:
    """The message of a JSON error answer (`{"error": "..."}`); fails the test for any other body."""
    payload = response.json()
    assert isinstance(payload, dict)
    assert set(payload) == {"error"}
    message = payload["error"]
    assert isinstance(message, str)
    return message


def served_by(kind: str) -> str:
    """The X-Served-By value a server of this kind puts on every response."""
    return f"{kind}-server"
