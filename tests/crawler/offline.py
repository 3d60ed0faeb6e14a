"""The crawler's server with a resolver that knows no names, so that no test ever sends a DNS query.

`python -m tests.crawler.offline FLAGS` runs FastAPI/server.py's main() with socket.getaddrinfo answering only
numeric addresses (in any spelling inet_aton accepts) and `localhost`; any other name fails as unknown, which
is what a fuzzed or made-up host name would do, without traffic beyond loopback.
"""

import socket
import sys
from typing import Any

from FastAPI import server


LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost6": "::1"}
_getaddrinfo = socket.getaddrinfo


def numeric_getaddrinfo(  # noqa: PLR0917 # socket.getaddrinfo's own signature
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list[Any]:
    """socket.getaddrinfo for numeric hosts only."""
    name = host.decode() if isinstance(host, bytes) else host
    name = LOCAL_NAMES.get(str(name).lower(), name)
    return _getaddrinfo(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)


if __name__ == "__main__":
    socket.getaddrinfo = numeric_getaddrinfo
    sys.exit(server.main(sys.argv[1:]))
