"""Who may talk to the chat from a browser: the Host a request names and the Origin of the page that sent it.

Any page the user visits may open `ws://127.0.0.1:8765/` or call the REST side; the browser then sends
that page's `Origin`, which the page cannot forge. So a request whose Origin is present must come from the
chat's own origin or one the operator allowed (`--allowed-origin`); terminal clients send none.

DNS rebinding: a page on evil.example whose name is then pointed at 127.0.0.1 is, to the browser, the same
origin as the chat, and its Origin matches its Host. What it cannot choose is that Host: it is the name in
its own URL. So a Host that is a DNS name must be `localhost`, this machine's name or an `--allowed-host`;
IP literals always pass, since no page can rebind an address. The Host rules are host_rules.py's, shared
with the audio library; the Origin rules are the chat's.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from host_rules import HostAllowlist, HostNameError, parse_host


DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class AllowlistError(HostNameError):
    """A value given to allow is not a host name or an origin (host_rules raises the base for a name)."""


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
        """Raises HostNameError for a host name that is not one, AllowlistError (one too) for an origin."""
        self.hosts = HostAllowlist(hosts)
        self.origins = {allowed_origin(origin) for origin in origins}

    def refusal(self, host_header: str | None, origin_header: str | None, scheme: str) -> tuple[int, str] | None:
        """None if the request may pass; else the status (400 or 403) and a one-line reason."""
        if host_header is not None:
            host = parse_host(host_header)
            if host is None:
                return 400, "The Host header is malformed."
            if not self.hosts.allows(host):
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
