"""Which client a connection's address stands for, in the per-client limits (connections, password checks).

An IPv4 address is one client. An IPv6 address is not: a home or a host is given a whole /64, so one machine
can pick a new address for every connection; the /64 is the client. An IPv4 address mapped into IPv6
(`::ffff:192.0.2.1`, what a dual-stack listener sees of an IPv4 peer) is that IPv4 address, never one /64
shared by every IPv4 peer.
"""

import ipaddress


IPV6_CLIENT_PREFIX = 64


def client_of(address: str) -> str:
    """The client `address` stands for: the IPv4 address itself, or the IPv6 address's /64 (as `2001:db8::/64`);
    anything that is not an IP address (a Unix socket's name) is its own client."""
    try:
        parsed = ipaddress.ip_address(address.partition("%")[0])  # without an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)
