"""Who may talk to the chat from a browser: the Host a request names and the Origin of the page that sent it.

Any page the user visits may open `ws://127.0.0.1:8765/` or call the REST side; the browser then sends
that page's `Origin`, which the page cannot forge. So a request whose Origin is present must come from the
chat's own origin or one the operator allowed (`--allowed-origin`); terminal clients send none.

DNS rebinding: a page on evil.example whose name is then pointed at 127.0.0.1 is, to the browser, the same
origin as the chat, and its Origin matches its Host. What it cannot choose is that Host: it is the name in
its own URL. So a Host that is a DNS name must be `localhost`, this machine's name or an `--allowed-host`;
IP literals always pass, since no page can rebind an address. The rules are the audio library's.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit


ALWAYS_ALLOWED = frozenset({"localhost"})
MAX_NAME_LENGTH = 253
NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
PORT = re.compile(r"[0-9]{0,5}")
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class AllowlistError(ValueError):
    """A value given to allow is not a host name or an origin."""


def address(text: str) -> str | None:
    """The canonical form of the IP literal `text`, or None if it is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def normalized_name(name: str) -> str | None:
    """A DNS name as Host headers carry it (lowercase ASCII, no final dot), or None if it is not one."""
    name = name.lower().removesuffix(".")
    return name if len(name) <= MAX_NAME_LENGTH and NAME.fullmatch(name) else None


@dataclass(frozen=True)
class Host:
    """The host part of a Host header: canonical, without port, and whether it is an IP literal."""

    name: str
    is_address: bool


def parse_host(value: str) -> Host | None:
    """The host a Host header names (host and optional port), or None if it is malformed."""
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        literal = address(inside) if bracket and ":" in inside else None
        if literal is None or (port and not (port.startswith(":") and PORT.fullmatch(port[1:]))):
            return None
        return Host(literal, is_address=True)
    host, colon, port = value.partition(":")
    if colon and not PORT.fullmatch(port):
        return None
    literal = address(host.removesuffix("."))
    if literal is not None:
        return Host(literal, is_address=True)
    name = normalized_name(host)
    return Host(name, is_address=False) if name is not None else None


def allowed_name(name: str) -> str:
    """An operator's `--allowed-host` in the form Host headers carry it (IDNA for Unicode names)."""
    problem = f"{name!r} is not a host name to allow (give the name alone, without scheme or port)"
    try:
        ascii_name = name.strip().encode("idna").decode("ascii")
    except UnicodeError as error:
        raise AllowlistError(problem) from error
    normalized = normalized_name(ascii_name)
    if normalized is None:
        raise AllowlistError(problem)
    return normalized


def normalized_origin(origin: str) -> str | None:
    """`scheme://host:port` with the port always written, lowercase; None for anything else (`null` too)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in {"", "/"} or parts.query:
        return None
    return f"{parts.scheme}://{parts.hostname}:{port or DEFAULT_PORTS[parts.scheme]}"


def allowed_origin(origin: str) -> str:
    """An operator's `--allowed-origin` normalized; AllowlistError if it is not `scheme://host[:port]`."""
    normalized = normalized_origin(origin)
    if normalized is None:
        raise AllowlistError(f"{origin!r} is not an origin to allow (give scheme://host[:port], as browsers send it)")
    return normalized


class Gate:
    """The Host names and page origins the chat answers to; `refusal` says why a request may not pass."""

    def __init__(self, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> None:
        """Raises AllowlistError for a host name or an origin that is not one."""
        own = normalized_name(socket.gethostname())
        self.hosts = ALWAYS_ALLOWED | {allowed_name(name) for name in hosts} | ({own} if own else set())
        self.origins = {allowed_origin(origin) for origin in origins}

    def refusal(self, host_header: str | None, origin_header: str | None, scheme: str) -> tuple[int, str] | None:
        """None if the request may pass; else the status (400 or 403) and a one-line reason."""
        if host_header is not None:
            host = parse_host(host_header)
            if host is None:
                return 400, "The Host header is malformed."
            if not host.is_address and host.name not in self.hosts:
                return 403, (
                    f"This chat does not answer to the name {host.name}: use its address, or start the server "
                    f"with --allowed-host {host.name}."
                )
        if origin_header is None:
            return None  # not a browser's page: a terminal client or a script
        origin = normalized_origin(origin_header)
        page_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        own = normalized_origin(f"{page_scheme}://{host_header}") if host_header else None
        if origin is not None and (origin == own or origin in self.origins):
            return None
        shown = origin or "this page's origin"
        return 403, f"Pages from {shown} may not use this chat: start the server with --allowed-origin {shown}."
