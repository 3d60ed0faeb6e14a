"""The status cache (hit, expiry, clean-up) and the domain counters, looked at in the real Redis they live in."""

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.crawler.farm import Farm
from tests.crawler.service import crawler, results
from tests.polling import wait_until
from tests.redis_server import RedisServer, redis_server
from tests.servers import RunningServer, free_port


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(store: RedisServer) -> Iterator[RunningServer]:
    with crawler("--allow-private", "--redis", store.url, "--cache-ttl", "1") as running:
        yield running


def test_cache_hit_then_expiry_and_clean_up(server: RunningServer, store: RedisServer, farm: Farm) -> None:
    url = farm.url("/status/202?cache")
    assert results(server, [url]) == [202]
    assert results(server, [url, url]) == [202, 202]
    assert farm.hits_of("/status/202?cache") == 1  # the second task used the cache
    client = redis.Redis.from_url(store.url)
    wait_until(lambda: client.hlen("crawler:cache") == 0, "the clean-up removing the expired entry")
    assert client.zcard("crawler:cache-times") == 0
    assert client.hget("crawler:domains", farm.hosts[0]) is not None  # counters are never cleaned
    assert results(server, [url]) == [202]
    assert farm.hits_of("/status/202?cache") == 2


def test_failures_are_cached_too(server: RunningServer, farm: Farm) -> None:
    url = farm.url("/garbage?cache")
    assert results(server, [url]) == results(server, [url]) == ["error:invalid-response"]
    assert farm.hits_of("/garbage?cache") == 1


def test_domains_count_every_url_once(server: RunningServer, store: RedisServer, farm: Farm) -> None:
    redis.Redis.from_url(store.url).delete("crawler:domains")
    port = farm.port
    urls = [
        f"{farm.hosts[1]}:{port}/status/200?count",
        f"http://user:secret@{farm.hosts[1]}:{port}/status/200?count",
        f"HTTP://{farm.hosts[2].upper()}:{port}/status/404?count",
        f"127.0.0.5:{free_port()}/",
        "no-such-host.invalid",
        "http://No-Such-Host.INVALID:8080/a?b",
        "http://Bücher.invalid/",
    ]
    expected = {
        farm.hosts[1]: 2,
        farm.hosts[2]: 1,
        "127.0.0.5": 1,
        "no-such-host.invalid": 2,
        "xn--bcher-kva.invalid": 1,
    }
    results(server, urls)
    assert httpx.get(f"{server.url}/api/v1/domains").json() == expected
    results(server, urls)  # cached or not, fetched or failed: each counts again
    assert httpx.get(f"{server.url}/api/v1/domains").json() == {host: 2 * n for host, n in expected.items()}


def test_an_entry_it_cannot_read_is_a_miss(server: RunningServer, store: RedisServer, farm: Farm) -> None:
    url = farm.url("/status/207?foreign")
    redis.Redis.from_url(store.url).hset("crawler:cache", url, "not what the server writes")
    assert results(server, [url]) == [207]
    assert farm.hits_of("/status/207?foreign") == 1
