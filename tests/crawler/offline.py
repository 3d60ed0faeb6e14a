"""The crawler's server, unable to reach anything beyond loopback, so that no test sends traffic elsewhere.

`python -m tests.crawler.offline FLAGS` runs FastAPI/server.py's main() with its resolver, `addresses()`, wrapped:
a host resolves only if it is numeric (in any spelling inet_aton accepts) or `localhost`, so any other name fails
as unknown (error:dns) without a DNS query, whichever event loop runs; the guard then judges the address as it
would, and one beyond 127.0.0.0/8 and ::1 fails as refused (error:connect). A fuzzed URL such as `http://9.9/`
therefore reaches nothing.
"""

import ipaddress
import socket
import sys

from FastAPI import server


LOCAL_NAMES = {"localhost": "127.0.0.1", "localhost6": "::1"}
_addresses = server.addresses


async def loopback_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """server.addresses for numeric hosts and localhost, reaching loopback only."""
    name = LOCAL_NAMES.get(host.lower(), host)
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError) as error:
        raise server.FetchError("error:dns", f"{host}: the tests resolve no names") from error
    found = await _addresses(str(infos[0][4][0]), port, allow_private)
    if not all(ipaddress.ip_address(address).is_loopback for address in found):
        raise server.FetchError("error:connect", f"the tests reach nothing beyond loopback, not {host}")
    return found


if __name__ == "__main__":
    server.addresses = loopback_addresses
    sys.exit(server.main(sys.argv[1:]))
