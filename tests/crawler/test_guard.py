"""The outbound guard: targets on non-global addresses are refused by default, whatever the spelling."""

import ipaddress
from collections.abc import Iterator

import pytest

from devtools.farm import Farm
from devtools.servers import RunningServer
from FastAPI.server import FetchError, addresses, is_public
from tests.crawler.service import crawler, results
from tests.event_loop import run


@pytest.fixture(scope="module")
def guarded() -> Iterator[RunningServer]:
    with crawler() as running:
        yield running


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1", "192.0.2.1", "198.18.0.1",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "2002:7f00:1::", "2002:a00:1::", "64:ff9b::a00:1", "64:ff9b::7f00:1", "2001:db8::1", "::127.0.0.1",
    ],
)  # fmt: skip
def test_non_global_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"])
def test_global_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def test_loopback_in_every_spelling_is_refused_by_default(guarded: RunningServer, farm: Farm) -> None:
    port = farm.port
    spellings = [
        f"127.0.0.1:{port}/",
        f"localhost:{port}/",
        f"LOCALHOST:{port}/",
        f"http://[::1]:{port}/",
        f"0.0.0.0:{port}/",
        f"http://2130706433:{port}/",  # decimal
        f"http://0x7f000001:{port}/",  # hex
        f"http://0x7f.1:{port}/",
        f"http://127.1:{port}/",
        f"http://[::ffff:127.0.0.2]:{port}/",
        f"http://[::ffff:7f00:2]:{port}/",
        f"{farm.hosts[0]}:{port}/status/200",
        f"https://{farm.hosts[1]}:{port}/status/200",
        f"http://user:pw@{farm.hosts[2]}:{port}/",
        f"http://167772161:{port}/",  # 10.0.0.1, decimal
        f"http://0xa.1:{port}/",  # 10.0.0.1
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
    ]
    assert results(guarded, spellings) == ["error:forbidden-address"] * len(spellings)
    assert sum(farm.hits.values()) == 0


def test_allow_private_lets_the_same_targets_through(farm: Farm) -> None:
    with crawler(env={"CRAWLER_ALLOW_PRIVATE": "1"}) as server:
        assert results(server, [f"http://0x7f.2:{farm.port}/status/203", f"http://2130706436:{farm.port}/"]) == [
            203,
            200,
        ]


def test_resolves_to_checked_addresses_only() -> None:
    # The fetcher connects to these numerically: what was checked is what is connected to.
    found = run(addresses("localhost", 80, allow_private=True))
    assert found
    assert all(ipaddress.ip_address(address).is_loopback for address in found)
    with pytest.raises(FetchError) as refused:
        run(addresses("localhost", 80, allow_private=False))
    assert refused.value.label == "error:forbidden-address"


def test_the_tests_server_reaches_nothing_beyond_loopback(guarded: RunningServer) -> None:
    # The guard lets public addresses through; the tests' harness (offline.py) must stop them short.
    assert results(guarded, ["http://9.9.9.9/", "http://9.9/", "example.org"]) == [
        "error:connect",
        "error:connect",
        "error:dns",
    ]
