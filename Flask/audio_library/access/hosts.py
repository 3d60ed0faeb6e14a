"""The Host allowlist: a page on a DNS name rebound to this machine must not reach the library.

DNS rebinding: a page on evil.example whose name is then pointed at 127.0.0.1 is, to the browser, the same
origin as a library served there, so it may read and change it; its requests carry `Host: evil.example:8888`
and a matching `Origin`, which the cross-origin guard cannot tell from the library's own page. What the page
cannot choose is that Host: it is the name in its own URL. So a request whose Host is a DNS name must name
this server: `localhost`, the machine's host name, or a name the operator allowed. IP literals are always
allowed: no page can rebind an address.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import NamedTuple

from flask import current_app, request

from audio_library.web.errors import AccessRefusedError, RequestError


HOSTS_KEY = "audio_library.hosts"
ALWAYS_ALLOWED = frozenset({"localhost"})
MAX_NAME_LENGTH = 253  # a DNS name's longest text form
# A DNS name as browsers send it: ASCII (IDNA) labels of letters, digits, hyphens (and underscores, which
# some local names have), separated by dots.
_NAME_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_PORT_RE = re.compile(r"[0-9]{0,5}")


class HostNameError(ValueError):
    """A name given to allow is not a DNS name."""


class Host(NamedTuple):
    """The host part of a Host header: lowercase, without port or final dot, and whether it is an address."""

    name: str
    is_address: bool


def _address(text: str) -> str | None:
    """The address `text` spells, in its canonical form, or None if it is not an IP literal."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_host(value: str) -> Host | None:
    """The host a Host header value names (RFC 9110: host and optional port), or None if it is malformed.

    IPv4 literals, IPv6 ones in brackets (and, leniently, bare), and DNS names; anything else is malformed.
    """
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        address = _address(inside) if bracket and ":" in inside else None
        if address is None or (port and not (port.startswith(":") and _PORT_RE.fullmatch(port[1:]))):
            return None
        return Host(address, is_address=True)
    if value.count(":") > 1:
        address = _address(value)
        return Host(address, is_address=True) if address is not None else None
    host, colon, port = value.partition(":")
    if colon and not _PORT_RE.fullmatch(port):
        return None
    address = _address(host[:-1] if host.endswith(".") else host)
    if address is not None:
        return Host(address, is_address=True)
    name = normalized_name(host)
    return Host(name, is_address=False) if name is not None else None


def normalized_name(name: str) -> str | None:
    """A DNS name as Host headers carry it (lowercase ASCII, no final dot), or None if it is not one."""
    name = name.lower()
    name = name[:-1] if name.endswith(".") else name
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        return None
    return name


def allowed_name(name: str) -> str:
    """An operator's name for --allowed-host in the form Host headers carry it; HostNameError if it is not a
    DNS name (Unicode names are taken and encoded as IDNA, as browsers send them)."""
    problem = f"{name!r} is not a host name to allow (give the name alone, without scheme or port)"
    try:
        ascii_name = name.strip().encode("idna").decode("ascii")
    except UnicodeError as error:
        raise HostNameError(problem) from error
    normalized = normalized_name(ascii_name)
    if normalized is None:
        raise HostNameError(problem)
    return normalized


class HostAllowlist:
    """The DNS names the library answers to: localhost, the machine's host name, and the operator's."""

    def __init__(self, names: Iterable[str]) -> None:
        """Raises HostNameError for a name that is not a DNS name."""
        own = normalized_name(socket.gethostname())
        self.names = ALWAYS_ALLOWED | {allowed_name(name) for name in names} | ({own} if own else set())

    def allows(self, host: Host) -> bool:
        """Whether a request naming this host may be answered."""
        return host.is_address or host.name in self.names


def refuse_foreign_host() -> None:
    """Refuse (403) a request whose Host is a DNS name the library does not answer to, reads included; a
    malformed Host is a 400. A request without Host (HTTP/1.0) cannot come from a browser's page: it passes."""
    value = request.headers.get("Host")
    if value is None:
        return
    host = parse_host(value)
    if host is None:
        raise RequestError(400, "The Host header is malformed.")
    allowlist: HostAllowlist = current_app.extensions[HOSTS_KEY]
    if allowlist.allows(host):
        return
    raise AccessRefusedError(
        403,
        f"This library does not answer to the name {host.name}: use its address, or start the server with "
        f"--allowed-host {host.name}.",
    )
