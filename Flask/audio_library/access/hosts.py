"""The Host allowlist in the library's requests: a page on a DNS name rebound to this machine must not reach it.

The rules themselves (which Host values are names, addresses or malformed; the allowlist) are host_rules.py's,
shared with the chat service; here they meet Flask's request. The same rules hold for the host an absolute-form
target names (`GET http://evil.example/ HTTP/1.1`, which RFC 9112 makes the request's host in place of the Host
header): one not answered to is a 400. And an HTTP/1.1 request without Host is a 400, as RFC 9112 says;
HTTP/1.0 has no Host to require.
"""

import re

from flask import current_app, request

from audio_library.web.errors import AccessRefusedError, RequestError
from host_rules import HostAllowlist, parse_host


HOSTS_KEY = "audio_library.hosts"
# An absolute-form request target: a scheme, then the authority up to the path, query or fragment, where any
# user information (`user:password@`) comes before the host and port.
_ABSOLUTE_FORM_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<authority>[^/?#]*)")


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
