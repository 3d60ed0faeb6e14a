"""The Host rules against DNS rebinding, shared by the audio library and the chat service.

DNS rebinding: a page on evil.example whose name is then pointed at 127.0.0.1 is, to the browser, the same
origin as a server there, so it may read and change it; its requests carry `Host: evil.example:8888` and a
matching `Origin`. What the page cannot choose is that Host: it is the name in its own URL. So a request whose
Host is a DNS name must name the server: `localhost`, the machine's host name, or a name the operator allowed
(`--allowed-host`). IP literals are always allowed: no page can rebind an address.

This module only classifies Host values and holds the allowlist; each product turns a refusal into its own
answer (audio_library/access/hosts.py for Flask, WebSocket/hosts.py for the chat's Starlette and websockets
sides). The crawler's server (FastAPI/server.py) and the credentials service (WSGI/credentials.py) must run as
one file each, so what they need of such rules they keep in their own lines.
"""

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import NamedTuple


ALWAYS_ALLOWED = frozenset({"localhost"})
MAX_NAME_LENGTH = 253  # a DNS name's longest text form
MAX_PORT = 65535
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


def _is_port(text: str) -> bool:
    """Whether `text` is the port of a Host value: up to five digits, at most MAX_PORT, or nothing."""
    return bool(_PORT_RE.fullmatch(text)) and (not text or int(text) <= MAX_PORT)


def parse_host(value: str) -> Host | None:
    """The host a Host header value names (RFC 9110: host and optional port), or None if it is malformed.

    IPv4 literals, IPv6 ones in brackets (and, leniently, bare), and DNS names, with a port of 0 to 65535 or
    none; anything else is malformed.
    """
    if value.startswith("["):
        inside, bracket, port = value[1:].partition("]")
        address = _address(inside) if bracket and ":" in inside else None
        if address is None or (port and not (port.startswith(":") and _is_port(port[1:]))):
            return None
        return Host(address, is_address=True)
    if value.count(":") > 1:
        address = _address(value)
        return Host(address, is_address=True) if address is not None else None
    host, colon, port = value.partition(":")
    if colon and not _is_port(port):
        return None
    address = _address(host.removesuffix("."))
    if address is not None:
        return Host(address, is_address=True)
    name = normalized_name(host)
    return Host(name, is_address=False) if name is not None else None


def normalized_name(name: str) -> str | None:
    """A DNS name as Host headers carry it (lowercase ASCII, no final dot), or None if it is not one."""
    name = name.lower().removesuffix(".")
    return name if len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name) else None


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
    """The DNS names a server answers to: localhost, the machine's host name, and the operator's."""

    def __init__(self, names: Iterable[str]) -> None:
        """Raises HostNameError for a name that is not a DNS name."""
        own = normalized_name(socket.gethostname())
        self.names = ALWAYS_ALLOWED | {allowed_name(name) for name in names} | ({own} if own else set())

    def allows(self, host: Host) -> bool:
        """Whether a request naming this host may be answered."""
        return host.is_address or host.name in self.names
