"""The crawler's server, unable to reach anything beyond loopback, so that no test sends traffic elsewhere.

`python -m tests.crawler.offline FLAGS` runs FastAPI/server.py's main() with two changes under the guard:
socket.getaddrinfo answers only numeric addresses (in any spelling inet_aton accepts) and `localhost`, so any
other name fails as unknown without a DNS query; and the HTTP client's connections to addresses outside
127.0.0.0/8 and ::1 fail as refused. A fuzzed URL such as `http://9.9/` therefore reaches nothing.
"""

import ipaddress
import socket
import sys
from typing import Any

import httpcore

from FastAPI import server


LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost6": "::1"}
_getaddrinfo = socket.getaddrinfo
_connect_tcp = httpcore.AnyIOBackend.connect_tcp


def numeric_getaddrinfo(  # noqa: PLR0917 # socket.getaddrinfo's own signature
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """socket.getaddrinfo for numeric hosts only."""
    name = host.decode() if isinstance(host, bytes) else host
    name = LOCAL_NAMES.get(str(name).lower(), name)
    return _getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)


async def loopback_connect_tcp(
    self: httpcore.AnyIOBackend, host: str, port: int, *args: Any, **kwargs: Any
) -> httpcore.AsyncNetworkStream:
    """httpcore's connect, for loopback addresses only."""
    if not ipaddress.ip_address(host).is_loopback:
        raise httpcore.ConnectError(f"the tests reach nothing beyond loopback, not {host}")
    return await _connect_tcp(self, host, port, *args, **kwargs)


if __name__ == "__main__":
    socket.getaddrinfo = numeric_getaddrinfo
    httpcore.AnyIOBackend.connect_tcp = loopback_connect_tcp  # type: ignore[method-assign]
    sys.exit(server.main(sys.argv[1:]))
