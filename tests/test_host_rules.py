"""The Host rules against DNS rebinding (host_rules.py), which the audio library and the chat share: the
classification of Host values and the allowlist. Each product's live answers are tested in its suite
(tests/audio/test_hosts.py, tests/chat/test_gate.py)."""

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host_rules import Host, HostAllowlist, HostNameError, allowed_name, parse_host
from tests.host_values import dns_names, ports


@given(address=st.ip_addresses(v=4), port=ports)
def test_ipv4_literals_are_addresses(address: ipaddress.IPv4Address, port: str) -> None:
    assert parse_host(f"{address}{port}") == Host(str(address), is_address=True)


@given(address=st.ip_addresses(v=6), port=ports)
def test_ipv6_literals_are_addresses_in_brackets_or_bare(address: ipaddress.IPv6Address, port: str) -> None:
    assert parse_host(f"[{address}]{port}") == Host(str(address), is_address=True)
    assert parse_host(f"[{address.exploded.upper()}]{port}") == Host(str(address), is_address=True)
    assert parse_host(str(address)) == Host(str(address), is_address=True)


@given(name=dns_names, port=ports, final_dot=st.booleans())
def test_dns_names_are_names_whatever_their_case_port_or_final_dot(name: str, port: str, final_dot: bool) -> None:
    host = parse_host(f"{name}{'.' if final_dot else ''}{port}")
    assert host is not None
    assert host == parse_host(name.lower())
    if not host.is_address:  # a name of digits and dots can spell an address
        assert host.name == name.lower()


@given(value=st.text(max_size=300))
def test_any_value_is_a_host_or_malformed_never_an_exception(value: str) -> None:
    host = parse_host(value)
    if host is None:
        return
    assert parse_host(host.name if not host.is_address or "." in host.name else f"[{host.name}]") == host
    if host.is_address:
        assert str(ipaddress.ip_address(host.name)) == host.name
    else:
        assert host.name == host.name.lower()
        assert host.name.isascii()
        assert not host.name.endswith(".")
        assert len(host.name) <= 253


@pytest.mark.parametrize(
    "value",
    [
        "",
        "[::1",
        "[::1]x",
        "[::1]:port",
        "[127.0.0.1]",
        "evil.example:80:80",
        "evil example",
        "a..b",
        "é.example",
        "host:-1",
        "\x00",
        "evil.example/path",
        "user@evil.example",
        "x" * 254,
    ],
)
def test_malformed_values_are_malformed(value: str) -> None:
    assert parse_host(value) is None


@given(name=dns_names, other=dns_names, swap_case=st.booleans())
def test_a_name_is_allowed_only_if_listed(name: str, other: str, swap_case: bool) -> None:
    allowlist = HostAllowlist([name.swapcase() if swap_case else name])
    host = parse_host(name.upper())
    assert host is not None
    assert allowlist.allows(host)
    other_host = parse_host(other)
    assert other_host is not None
    listed = other_host.is_address or other_host.name in {name.lower(), "localhost", socket.gethostname().lower()}
    assert allowlist.allows(other_host) is listed


def test_localhost_and_the_machines_own_name_are_always_allowed() -> None:
    allowlist = HostAllowlist([])
    for value in ["localhost", "LOCALHOST:8888", "localhost.", socket.gethostname()]:
        host = parse_host(value)
        assert host is not None
        assert allowlist.allows(host), value


@pytest.mark.parametrize("name", ["http://music.example", "music.example:8888", "music example", ""])
def test_names_to_allow_must_be_names(name: str) -> None:
    with pytest.raises(HostNameError, match="is not a host name to allow"):
        allowed_name(name)


def test_unicode_names_to_allow_are_taken_as_browsers_send_them() -> None:
    assert allowed_name("Bücher.Example.") == "xn--bcher-kva.example"


@given(port=st.integers(65536, 99999), name=st.sampled_from(["localhost", "127.0.0.1", "[::1]", "music.example"]))
def test_a_port_past_65535_is_malformed(port: int, name: str) -> None:
    assert parse_host(f"{name}:{port}") is None
    assert parse_host(f"{name}:{port % 65536}") is not None
