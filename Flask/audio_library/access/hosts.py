"""The Host allowlist: a page on a DNS name rebound to this machine must not reach the library.

DNS rebinding: a page on evil.example whose name is then pointed at 127.0.0.1 is, to the browser, the same
origin as a library served there, so it may read and change it; its requests carry `Host: evil.example:8888`
and a matching `Origin`, which the cross-origin guard cannot tell from the library's own page. What the page
cannot choose is that Host: it is the name in its own URL. So a request whose Host is a DNS name must name
this server: `localhost`, the machine's host name, or a name the operator allowed. IP literals are always
allowed: no page can rebind an address.

The same rules hold for the host an absolute-form target names (`GET http://evil.example/ HTTP/1.1`, which
RFC 9112 makes the request's host in place of the Host header): one not answered to is a 400. And an
HTTP/1.1 request without Host is a 400, as RFC 9112 says; HTTP/1.0 has no Host to require.
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
MAX_PORT = 65535
# An absolute-form request target: a scheme, then the authority up to the path, query or fragment, where any
# user information (`user:password@`) comes before the host and port.
_ABSOLUTE_FORM_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<authority>[^/?#]*)")


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


def absolute_form_authority(target: str) -> str | None:
    """The host and port of an absolute-form request target (without any `user:password@`), or None for any
    other form."""
    match = _ABSOLUTE_FORM_RE.match(target)
    return match["authority"] if match else None


def refuse_foreign_host() -> None:
    """Refuse (403) a request whose Host is a DNS name the library does not answer to, reads included; a
    malformed Host, an HTTP/1.1 request without one, and an absolute-form target naming a host not answered
    to, are 400s. An HTTP/1.0 request without Host cannot come from a browser's page: it passes."""
    allowlist: HostAllowlist = current_app.extensions[HOSTS_KEY]
    authority = absolute_form_authority(request.environ.get("REQUEST_URI") or "")
    if authority is not None:
        target_host = parse_host(authority)
        if target_host is None or not allowlist.allows(target_host):
            raise RequestError(400, "The request target names a host this library does not answer to.")
    value = request.headers.get("Host")
    if value is None:
        if request.environ.get("SERVER_PROTOCOL") == "HTTP/1.1":
            raise RequestError(400, "An HTTP/1.1 request must carry a Host header.")
        return
    host = parse_host(value)
    if host is None:
        raise RequestError(400, "The Host header is malformed.")
    if allowlist.allows(host):
        return
    raise AccessRefusedError(
        403,
        f"This library does not answer to the name {host.name}: use its address, or start the server with "
        f"--allowed-host {host.name}.",
    )
