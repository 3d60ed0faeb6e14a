"""Several servers on one Redis, and Redis going away and coming back."""

import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from devtools.farm import Farm
from devtools.redis_server import RedisServer, redis_server
from devtools.servers import RunningServer
from FastAPI.server import Settings
from tests.crawler.service import crawler, submit, wait_ready
from tests.polling import wait_until


OPEN = Settings(allow_private=True).policy


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


@pytest.fixture(scope="module")
def pair(store: RedisServer) -> Iterator[tuple[RunningServer, RunningServer]]:
    with (
        crawler("--allow-private", "--redis", store.url) as one,
        crawler("--allow-private", "--redis", store.url) as two,
    ):
        yield one, two


def test_a_task_made_through_one_server_is_polled_through_another(
    pair: tuple[RunningServer, RunningServer], farm: Farm
) -> None:
    one, two = pair
    task_id = submit(one, [farm.url("/status/418?pair"), farm.url("/slow/0.3?pair", 1)])
    waited = httpx.get(f"{two.url}/api/v1/tasks/{task_id}", params={"wait": 20}, timeout=30).json()
    assert waited["result"] == [418, 200]  # the other server's GET waited for the task to be ready
    assert httpx.get(f"{two.url}/api/v1/domains").json()[farm.hosts[0]] >= 1


def test_two_servers_fetch_a_url_once(pair: tuple[RunningServer, RunningServer], farm: Farm) -> None:
    url = farm.url("/slow/0.5?both", 2)
    first, second = submit(pair[0], [url]), submit(pair[1], [url])
    assert wait_ready(pair[1], first)["result"] == wait_ready(pair[0], second)["result"] == [200]
    assert farm.hits_of("/slow/0.5?both", 2) == 1


def test_redis_stopping_is_a_503_and_the_server_recovers(
    pair: tuple[RunningServer, RunningServer], store: RedisServer, farm: Farm
) -> None:
    one, two = pair
    running = submit(one, [farm.url("/slow/1?outage")])
    store.stop()
    try:
        # The server running the task answers it from memory; the other needs Redis to.
        for server, method, path in (
            (one, "POST", "/api/v1/tasks/"),
            (two, "GET", f"/api/v1/tasks/{running}"),
            (one, "GET", "/healthz"),
        ):
            started = time.monotonic()
            answer = httpx.request(method, f"{server.url}{path}", json=["example.org"], timeout=30)
            assert answer.status_code == 503
            assert answer.json()["detail"].startswith("Redis is unavailable")
            assert time.monotonic() - started < 10
        assert one.process.poll() is None
        assert httpx.get(f"{one.url}/api/v1/tasks/{running}").json()["status"] in ("running", "ready")
    finally:
        store.start()
    wait_until(lambda: httpx.get(f"{one.url}/healthz").status_code == 200, "the server finding Redis again")
    # The task that ran through the outage is saved once Redis is back (this Redis kept no data, so it is new).
    wait_until(lambda: httpx.get(f"{two.url}/api/v1/tasks/{running}").status_code == 200, "the task saved again")
    assert wait_ready(two, running)["result"] == [200]
    assert wait_ready(one, submit(one, [farm.url("/status/200?after")]))["result"] == [200]


def test_a_claim_given_up_at_a_deadline_lets_another_server_fetch(store: RedisServer, farm: Farm) -> None:
    url = farm.url("/slow/2?release", 1)
    flags = ("--allow-private", "--redis", store.url, "--read-timeout", "5")  # a claim lasts 11 s
    with crawler(*flags, "--task-deadline", "1") as hasty, crawler(*flags) as patient:
        first = submit(hasty, [url])
        wait_until(lambda: farm.hits_of("/slow/2?release", 1) == 1, "the first server's fetch")
        second = submit(patient, [url])
        asked = time.monotonic()
        assert wait_ready(hasty, first)["result"] == ["error:deadline"]
        assert wait_ready(patient, second)["result"] == [200]
        assert time.monotonic() - asked < 6  # not held up until the abandoned claim expired
    assert farm.hits_of("/slow/2?release", 1) == 2


def test_a_url_claimed_ahead_is_given_back_when_no_task_wants_it(store: RedisServer, farm: Farm) -> None:
    ahead = farm.url("/status/200?ahead", 2)
    flags = ("--allow-private", "--redis", store.url, "--read-timeout", "30")  # a claim lasts 36 s
    with crawler(*flags, "--per-host", "1", "--task-deadline", "2") as hasty, crawler(*flags) as patient:
        first = submit(hasty, [farm.url("/slow/5?ahead", 2), ahead])
        claims = redis.Redis.from_url(store.url)
        key = f"crawler:fetching:{Settings(allow_private=True, read_timeout=30).policy}:{ahead}"
        wait_until(lambda: claims.exists(key), "the queued URL claimed ahead of its turn")
        assert wait_ready(hasty, first)["result"] == ["error:deadline", "error:deadline"]
        wait_until(lambda: not claims.exists(key), "the claim given back, long before its expiry")
        assert wait_ready(patient, submit(patient, [ahead]))["result"] == [200]
    assert farm.hits_of("/status/200?ahead", 2) == 1  # the host's one slot kept the first server from it


def test_a_url_claimed_ahead_long_before_its_turn_is_still_its_servers(store: RedisServer, farm: Farm) -> None:
    flags = ("--allow-private", "--redis", store.url, "--read-timeout", "30", "--per-host", "1")  # a claim: 36 s
    with crawler(*flags) as server:
        # Claimed ahead while the first URL takes a second: too old to use, so claimed again, and the claim in
        # Redis being the server's own, it fetches rather than waiting 36 s for another to.
        task = submit(server, [farm.url("/slow/1?stale", 2), farm.url("/status/200?stale", 2)])
        assert wait_ready(server, task, timeout=15)["result"] == [200, 200]


def test_a_stopping_server_leaves_its_tasks_ready(
    pair: tuple[RunningServer, RunningServer], store: RedisServer, farm: Farm
) -> None:
    quick, slow = farm.url("/status/200?leaving"), farm.url("/slow/30?leaving")
    with crawler("--allow-private", "--redis", store.url) as leaving:
        task_id = submit(leaving, [slow, quick])
        cache = redis.Redis.from_url(store.url)
        wait_until(lambda: cache.exists(f"crawler:cache:{OPEN}:{quick}"), "the quick URL's code cached")
        wait_until(lambda: farm.hits_of("/slow/30?leaving") == 1, "the slow URL's fetch under way")
        leaving.stop()  # uvicorn shuts down gracefully, then ends by the signal it got
    assert wait_ready(pair[1], task_id, timeout=5)["result"] == ["error:shutdown", 200]


def test_running_tasks_are_saved_again_when_redis_comes_back_empty(
    pair: tuple[RunningServer, RunningServer], store: RedisServer, farm: Farm
) -> None:
    one, two = pair
    task_id = submit(one, [farm.url("/gate/emptied")])
    client = redis.Redis.from_url(store.url)
    key = f"crawler:task:{task_id}"
    assert client.hget(key, "status") == b"running"  # a field of its own, never searched for in the JSON
    client.flushall()  # as a Redis restarted without its data
    # Before or after the running server saved it again (a race the test must not depend on), never a 500.
    assert httpx.get(f"{two.url}/api/v1/tasks/{task_id}").status_code in {200, 404}
    wait_until(lambda: client.hget(key, "status") == b"running", "the running task saved again")
    farm.open_gate("emptied")
    assert wait_ready(two, task_id)["result"] == [200]
    assert client.hget(key, "status") == b"ready"
