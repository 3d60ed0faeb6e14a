"""The crawler's server, unable to reach anything beyond loopback, so that no test sends traffic elsewhere.

`python -m tests.crawler.offline FLAGS` runs FastAPI/server.py's main() with two changes under the guard:
socket.getaddrinfo answers only numeric addresses (in any spelling inet_aton accepts) and `localhost`, so any
other name fails as unknown without a DNS query; and the event loop's TCP connections to addresses outside
127.0.0.0/8 and ::1 fail as refused. A fuzzed URL such as `http://9.9/` therefore reaches nothing.
"""

import asyncio
import ipaddress
import socket
import sys
from typing import Any

from FastAPI import server


LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost6": "::1"}
_getaddrinfo = socket.getaddrinfo
_create_connection = asyncio.BaseEventLoop.create_connection


def numeric_getaddrinfo(  # noqa: PLR0917 # socket.getaddrinfo's own signature
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """socket.getaddrinfo for numeric hosts only."""
    name = host.decode() if isinstance(host, bytes) else host
    name = LOCAL_NAMES.get(str(name).lower(), name)
    return _getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)


async def loopback_create_connection(
    self: asyncio.BaseEventLoop, factory: Any, host: Any = None, *args: Any, **kwargs: Any
) -> Any:
    """The event loop's create_connection, for loopback addresses (and sockets already made) only."""
    if host is not None and not ipaddress.ip_address(str(host).partition("%")[0]).is_loopback:
        raise ConnectionRefusedError(f"the tests reach nothing beyond loopback, not {host}")
    return await _create_connection(self, factory, host, *args, **kwargs)


if __name__ == "__main__":
    socket.getaddrinfo = numeric_getaddrinfo
    asyncio.BaseEventLoop.create_connection = loopback_create_connection  # type: ignore[method-assign, assignment]
    sys.exit(server.main(sys.argv[1:]))
