"""Where the server listens and whom it counts as one client: `--host ::` on IPv6 and IPv4 alike, with a
URL that works; an IPv6 /64 as one address in the per-address connection cap."""

import ipaddress
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from audio_library.access.clients import client_of
from audio_library.serving.cli import url_host
from audio_library.serving.connections import GuardedChannel, create_server
from hypothesis import assume, given
from hypothesis import strategies as st

from devtools.servers import AUDIO_SERVER, free_port, running_command


def test_host_all_addresses_listens_on_ipv6_and_ipv4_and_prints_a_url_that_works(library_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, AUDIO_SERVER, "--library", str(library_dir), "--host", "::", "--port", str(port)]
    with running_command(command, port, stdout=subprocess.PIPE) as server:
        assert server.process.stdout is not None
        line = server.process.stdout.readline().decode()
        assert f" on http://[::1]:{port}/ (Ctrl-C to stop)" in line
        for url in [f"http://[::1]:{port}/api/files", f"http://127.0.0.1:{port}/api/files"]:
            response = requests.get(url, timeout=10)
            assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("host", "shown"),
    [("::", "[::1]"), ("[::]", "[::1]"), ("0.0.0.0", "127.0.0.1"), ("::1", "[::1]"), ("localhost", "localhost")],
)
def test_the_url_printed_reaches_the_server(host: str, shown: str) -> None:
    assert url_host(host) == shown


def not_ipv4_mapped(address: ipaddress.IPv6Address) -> bool:
    return address.ipv4_mapped is None


ipv6 = st.ip_addresses(v=6).map(lambda address: ipaddress.IPv6Address(int(address))).filter(not_ipv4_mapped)


@given(address=ipv6, low=st.integers(0, 2**64 - 1))
def test_an_ipv6_address_counts_as_its_64(address: ipaddress.IPv6Address, low: int) -> None:
    neighbour = ipaddress.IPv6Address(int(address) >> 64 << 64 | low)
    assume(neighbour.ipv4_mapped is None)  # ::ffff:a.b.c.d is an IPv4 peer, though it lies in ::/64
    network = ipaddress.IPv6Network((address, 64), strict=False)
    assert client_of(str(address)) == client_of(str(neighbour)) == str(network)


@given(address=ipv6, other=ipv6)
def test_addresses_in_different_64s_are_different_clients(
    address: ipaddress.IPv6Address, other: ipaddress.IPv6Address
) -> None:
    assert (client_of(str(address)) == client_of(str(other))) == (int(address) >> 64 == int(other) >> 64)
    assert client_of(str(address)).endswith("/64")
    assert client_of(str(address)).endswith("/64")


@given(address=st.ip_addresses(v=4))
def test_an_ipv4_address_is_its_own_client_mapped_into_ipv6_or_not(address: ipaddress.IPv4Address) -> None:
    assert client_of(str(address)) == client_of(f"::ffff:{address}") == str(address)


def test_a_scoped_address_or_no_address_at_all_is_a_client_too() -> None:
    assert client_of("fe80::1%eth0") == client_of("fe80::2") == "fe80::/64"
    assert client_of("/run/audio.sock") == "/run/audio.sock"


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


@pytest.fixture
def capped_server() -> Iterator[Any]:
    """The library's waitress server (not run: its connections are made by hand) capped at 2 per client."""
    server = create_server(hello, host="127.0.0.1", port=0, connections_per_client=2)
    yield server
    server.close()


def connect_from(server: Any, address: str) -> tuple[GuardedChannel, socket.socket]:
    """A connection as the server accepts it, from `address`: its channel and the client's end."""
    ours, theirs = socket.socketpair()
    theirs.settimeout(10)
    channel = GuardedChannel(server, ours, (address, 40000), server.adj, server._map)
    return channel, theirs


def test_the_connection_cap_counts_an_ipv6_64_as_one_address(capped_server: Any) -> None:
    made = [connect_from(capped_server, address) for address in ["2001:db8::1", "2001:db8::ffff:2"]]
    try:
        same_64, client_end = connect_from(capped_server, "2001:db8::abcd:3")
        assert client_end.recv(4096).startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
        assert not same_64.connected
        client_end.close()
        other_64, other_end = connect_from(capped_server, "2001:db8:0:1::1")
        made.append((other_64, other_end))
        assert other_64.connected
        assert other_64 in capped_server.active_channels.values()
    finally:
        for channel, end in made:
            channel.handle_close()
            end.close()
