"""/weather on both servers against the local open-meteo stand-in: answers, errors, the cache, retries, the limiter.

Each test asks for its own coordinates or city, so that what an earlier test cached does not answer for it.
"""

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.servers import RunningServer
from devtools.syncasync_server import error_of, get, served_by, syncasync_server
from SyncAsync.fake_open_meteo import FakeServer


FORECAST = "/v1/forecast"
SEARCH = "/v1/search"


def test_coordinates_give_the_current_weather(server: RunningServer, upstream: FakeServer, kind: str) -> None:
    response = get(server.port, "/weather?latitude=52.52&longitude=13.41")
    assert response.status == 200
    assert response.headers["x-served-by"] == served_by(kind)
    report = response.json()
    assert isinstance(report, dict)
    assert (report["latitude"], report["longitude"], report["place"]) == (52.52, 13.41, None)
    assert set(report["current"]) == {
        "time",
        "temperature_2m",
        "relative_humidity_2m",
        "wind_speed_10m",
        "weather_code",
    }
    assert report["units"]["temperature_2m"] == "°C"


def test_a_city_is_found_through_geocoding(server: RunningServer, upstream: FakeServer) -> None:
    searches = upstream.fake.hits(SEARCH)
    report = get(server.port, "/weather?city=Berlin").json()
    assert isinstance(report, dict)
    assert report["place"]["name"] == "Berlin"
    assert (report["latitude"], report["longitude"]) == (52.52, 13.41)  # rounded, as the cache keys them
    assert upstream.fake.hits(SEARCH) == searches + 1


def test_both_servers_answer_byte_identical_bodies(upstream: FakeServer) -> None:
    bodies = []
    for kind in ("sync", "async"):
        with syncasync_server(kind, upstream.url) as running:
            bodies.append(get(running.port, "/weather?city=Tokyo").body)
            bodies.append(get(running.port, "/weather?latitude=-33.87&longitude=151.21").body)
    assert bodies[:2] == bodies[2:]


def test_an_unknown_city_is_404_and_remembered(server: RunningServer, upstream: FakeServer) -> None:
    searches = upstream.fake.hits(SEARCH)
    for _ in range(2):
        response = get(server.port, "/weather?city=Skaro")
        assert (response.status, response.json()) == (404, {"error": "unknown city"})
    assert upstream.fake.hits(SEARCH) == searches + 1


@pytest.mark.parametrize(
    "query",
    [
        "latitude=91&longitude=0",
        "latitude=-90.01&longitude=0",
        "latitude=0&longitude=180.5",
        "latitude=nan&longitude=0",
        "latitude=inf&longitude=0",
        "latitude=1e999&longitude=0",
        "latitude=north&longitude=0",
        "latitude=10",
        "longitude=10",
        "",
        "city=",
        "city=%20%20",
        "city=" + "x" * 101,
        "city=Berlin&latitude=1&longitude=2",
        "latitude=1&latitude=2&longitude=3",
        "city=%FF",
    ],
)
def test_bad_input_is_4xx_and_never_reaches_the_upstream(
    query: str, server: RunningServer, upstream: FakeServer
) -> None:
    before = upstream.fake.hits()
    response = get(server.port, f"/weather?{query}")
    assert response.status == 400
    assert error_of(response)
    assert upstream.fake.hits() == before


def test_a_repeated_request_is_answered_from_the_cache(server: RunningServer, upstream: FakeServer) -> None:
    before = upstream.fake.hits(FORECAST)
    first = get(server.port, "/weather?latitude=10.001&longitude=20.002")
    second = get(server.port, "/weather?latitude=10.004&longitude=19.998")  # rounds to the same place
    assert first.status == second.status == 200
    assert first.body == second.body
    assert upstream.fake.hits(FORECAST) == before + 1


def test_a_refusal_is_502_with_its_reason(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "refuse"
    before = upstream.fake.hits()
    response = get(server.port, "/weather?latitude=11&longitude=11")
    assert response.status == 502
    assert "Cannot initialize WeatherVariable" in error_of(response)
    assert upstream.fake.hits() == before + 1  # a 400 is not retried


def test_a_malformed_answer_is_502_and_not_retried(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "malformed"
    before = upstream.fake.hits()
    assert get(server.port, "/weather?latitude=12&longitude=12").status == 502
    assert upstream.fake.hits() == before + 1


def test_a_failing_upstream_is_retried_then_502(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "fail"
    before = upstream.fake.hits()
    assert get(server.port, "/weather?latitude=13&longitude=13").status == 502
    assert upstream.fake.hits() == before + 3


def test_a_passing_failure_is_retried_into_an_answer(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.script("fail", "rate-limit")
    before = upstream.fake.hits()
    assert get(server.port, "/weather?latitude=14&longitude=14").status == 200
    assert upstream.fake.hits() == before + 3


def test_a_rate_limiting_upstream_is_503_with_retry_after(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "rate-limit"
    response = get(server.port, "/weather?latitude=15&longitude=15")
    assert response.status == 503
    assert response.headers["retry-after"] == "30"


def test_a_hanging_upstream_is_504_within_the_timeout(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "hang"
    started = time.monotonic()
    response = get(server.port, "/weather?latitude=16&longitude=16")
    assert response.status == 504
    assert time.monotonic() - started < 5  # --upstream-timeout 1.5, and a generous margin for a loaded machine
    assert get(server.port, "/hello").status == 200


def test_an_unreachable_upstream_is_502() -> None:
    with syncasync_server("sync") as unreachable:  # the default: the discard port, where nothing listens
        response = get(unreachable.port, "/weather?latitude=17&longitude=17")
    assert response.status == 502


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_the_limiter_answers_503_before_the_upstream_sees_more(kind: str, upstream: FakeServer) -> None:
    before = upstream.fake.hits()
    with syncasync_server(kind, upstream.url, "--upstream-per-minute", "2") as running:
        assert [get(running.port, f"/weather?latitude={n}&longitude=1").status for n in range(20, 22)] == [200, 200]
        refused = get(running.port, "/weather?latitude=22&longitude=1")
        assert refused.status == 503
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert get(running.port, "/weather?latitude=20&longitude=1").status == 200  # the cache still answers
    assert upstream.fake.hits() == before + 2


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_peer_text_reaches_the_log_escaped(kind: str, upstream: FakeServer) -> None:
    with tempfile.TemporaryFile() as log:
        with syncasync_server(kind, upstream.url, stderr=log.fileno()) as running:
            assert get(running.port, "/weather?city=Sk%1B%5B31maro%07%E2%80%AE").status == 404
        log.seek(0)  # the query was logged before it was answered
        text = log.read()
    assert b"Sk\\x1b[31maro\\x07\\u202e" in text
    assert not any(byte in text for byte in (b"\x1b", b"\x07", "\u202e".encode()))


def test_requests_that_ask_together_are_fetched_once(server: RunningServer, upstream: FakeServer) -> None:
    upstream.fake.mode = "slow"  # the first fetch is still out when the others ask
    before = upstream.fake.hits(FORECAST)
    with ThreadPoolExecutor(10) as clients:
        answers = list(clients.map(lambda _: get(server.port, "/weather?latitude=18&longitude=18"), range(10)))
    assert {answer.status for answer in answers} == {200}
    assert len({answer.body for answer in answers}) == 1
    assert upstream.fake.hits(FORECAST) == before + 1
