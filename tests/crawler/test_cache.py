"""The status cache (hit, expiry, policies) and the domain counters, looked at in the real Redis they live in."""

from collections.abc import Iterator

import httpx
import pytest
import redis

from devtools.farm import Farm
from devtools.redis_server import RedisServer, redis_server
from devtools.servers import RunningServer, free_port
from FastAPI.server import Settings
from tests.crawler.service import crawler, results, wait_ready
from tests.polling import wait_until


OPEN = Settings(allow_private=True).policy
CACHE_TTL = 60  # seconds: the tests that count on a cached code get it whatever the machine's load


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(store: RedisServer) -> Iterator[RunningServer]:
    with crawler("--allow-private", "--redis", store.url, "--cache-ttl", str(CACHE_TTL)) as running:
        yield running


def cache_key(policy: str, url: str) -> str:
    return f"crawler:cache:{policy}:{url}"


def test_cache_hit_then_expiry_by_redis(server: RunningServer, store: RedisServer, farm: Farm) -> None:
    url = farm.url("/status/202?cache")
    assert results(server, [url]) == [202]
    assert results(server, [url, url]) == [202, 202]
    assert farm.hits_of("/status/202?cache") == 1  # the second task used the cache
    client = redis.Redis.from_url(store.url)
    assert 0 < client.pttl(cache_key(OPEN, url)) <= CACHE_TTL * 1000  # Redis's own expiry, the TTL: no sweep
    client.pexpire(cache_key(OPEN, url), 1)  # as Redis does once the TTL has passed
    wait_until(lambda: not client.exists(cache_key(OPEN, url)), "Redis expiring the entry")
    assert client.hget("crawler:domains", farm.hosts[0]) is not None  # counters never expire
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


def test_domain_keys_are_canonical(server: RunningServer, store: RedisServer) -> None:
    redis.Redis.from_url(store.url).delete("crawler:domains")
    refused = free_port()
    spellings = {
        "127.0.0.1": ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0x7f.1"],
        "::1": ["[::1]", "[0:0:0:0:0:0:0:1]", "[0::1]"],
        "fe80::1": ["[fe80::1%25eth0]", "[FE80:0::1]"],
        "www.example.invalid": ["www.example.invalid", "www.example.invalid.", "WWW.Example.Invalid."],
    }
    urls = [f"http://{spelling}:{refused}/" for variants in spellings.values() for spelling in variants]
    results(server, urls)
    assert httpx.get(f"{server.url}/api/v1/domains").json() == {key: len(v) for key, v in spellings.items()}


def test_an_entry_it_cannot_read_is_a_miss(server: RunningServer, store: RedisServer, farm: Farm) -> None:
    url = farm.url("/status/207?foreign")
    redis.Redis.from_url(store.url).set(cache_key(OPEN, url), "not what the server writes")
    assert results(server, [url]) == [207]
    assert farm.hits_of("/status/207?foreign") == 1


def test_servers_with_other_policies_share_no_cached_code(store: RedisServer, farm: Farm) -> None:
    private, public = farm.url("/status/404?policy"), farm.url("/status/200?policy")
    with crawler("--redis", store.url) as guarded, crawler("--allow-private", "--redis", store.url) as open_:
        assert results(open_, [private]) == [404]
        assert results(guarded, [private]) == ["error:forbidden-address"]  # not the open server's cached 404
        assert results(guarded, [public]) == ["error:forbidden-address"]
        assert results(open_, [public]) == [200]  # not the guarded server's cached refusal
    assert farm.hits_of("/status/404?policy") == farm.hits_of("/status/200?policy") == 1


def test_a_short_ttl_leaves_other_servers_entries_alone(store: RedisServer, farm: Farm) -> None:
    kept, brief = farm.url("/status/200?kept"), farm.url("/status/200?brief")
    client = redis.Redis.from_url(store.url)
    with (
        crawler("--allow-private", "--redis", store.url, "--cache-ttl", "300") as patient,
        crawler("--allow-private", "--redis", store.url, "--cache-ttl", "0.5") as hasty,
    ):
        assert results(patient, [kept]) == [200]
        assert results(hasty, [brief]) == [200]
        wait_until(lambda: not client.exists(cache_key(OPEN, brief)), "the short-lived entry expiring")
        assert client.pttl(cache_key(OPEN, kept)) > 200_000
        assert results(patient, [kept]) == [200]
    assert farm.hits_of("/status/200?kept") == 1


def test_fragments_and_credentials_are_neither_fetched_twice_nor_kept(
    server: RunningServer, store: RedisServer, farm: Farm
) -> None:
    bare = farm.url("/status/200?secrets")
    with_secret = bare.replace("http://", "http://alice:hunter2@")
    answer = httpx.post(f"{server.url}/api/v1/tasks", json=[f"{with_secret}#a", f"{bare}#b"])
    assert answer.json()["urls"] == [bare, bare]
    task_id = answer.json()["id"]
    assert wait_ready(server, task_id)["result"] == [200, 200]
    assert farm.hits_of("/status/200?secrets") == 1
    stored = redis.Redis.from_url(store.url)
    assert all(b"hunter2" not in (stored.dump(key) or b"") for key in stored.keys("*"))
