"""The shared core without a server: the weather flow's decisions (cache, limiter, retries, deadline) driven
step by step on a fake clock, and the parsing of what clients send, with properties hypothesis checks."""

import json
import math
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import JsonValue

from SyncAsync.core.answers import ApiError
from SyncAsync.core.incoming import echoed, parse_query
from SyncAsync.core.upstream import (
    FOLLOW_POLL,
    Failure,
    Fetch,
    Limiter,
    Outcome,
    Pause,
    Reply,
    UpstreamSettings,
    WeatherService,
)
from SyncAsync.core.weather import WeatherQuery, WeatherReport
from SyncAsync.fake_open_meteo import forecast


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def forecast_reply(latitude: float = 1.0, longitude: float = 2.0) -> Reply:
    status, payload = forecast({"latitude": [str(latitude)], "longitude": [str(longitude)]})
    return Reply(status, json.dumps(payload).encode())


Upstream = Callable[[Fetch], Outcome]


def drive(service: WeatherService, query: WeatherQuery, upstream: Upstream) -> tuple[WeatherReport, list[Fetch]]:
    """Run the flow as a transport would, the clock moving on through pauses; the report and the fetches made."""
    flow = service.report(query)
    fetches: list[Fetch] = []
    outcome: Outcome = None
    clock = service.clock
    assert isinstance(clock, Clock)
    try:
        while True:
            step = flow.send(outcome)
            if isinstance(step, Pause):
                clock.now += step.seconds
                outcome = None
            else:
                fetches.append(step)
                outcome = upstream(step)
    except StopIteration as done:
        report: WeatherReport = done.value
        return report, fetches


def service(timeout: float = 8.0, cache_ttl: float = 60.0) -> WeatherService:
    settings = UpstreamSettings(forecast_url="http://f", geocoding_url="http://g", timeout=timeout, cache_ttl=cache_ttl)
    return WeatherService(settings, Clock())


def status_of(call: Callable[[], object]) -> tuple[int, dict[str, str]]:
    """200 when the call returns; else the status and headers of the ApiError it raises."""
    try:
        call()
    except ApiError as error:
        return error.status, dict(error.headers)
    return 200, {}


HERE = WeatherQuery(latitude=1, longitude=2)


def test_the_cache_answers_within_its_ttl_and_not_after() -> None:
    weather = service(cache_ttl=60)
    _, fetches = drive(weather, HERE, lambda _: forecast_reply())
    assert len(fetches) == 1
    assert fetches[0].request.params[:2] == (("latitude", "1"), ("longitude", "2"))
    assert drive(weather, WeatherQuery(latitude=1.004, longitude=1.996), lambda _: forecast_reply())[1] == []
    assert isinstance(weather.clock, Clock)
    weather.clock.now += 60
    assert len(drive(weather, HERE, lambda _: forecast_reply())[1]) == 1


@pytest.mark.parametrize(
    ("outcomes", "fetches", "status"),
    [
        ([Reply(500, b"")] * 3, 3, 502),
        ([Reply(503, b""), Reply(502, b""), forecast_reply()], 3, 200),
        ([Failure("connect"), forecast_reply()], 2, 200),
        ([Reply(429, b"", "7")] * 3, 3, 503),
        ([Reply(400, b'{"error": true, "reason": "no"}')], 1, 502),
        ([Reply(200, b"{not json")], 1, 502),
        ([Reply(200, b'{"latitude": 1}')], 1, 502),
        ([Failure("timeout")], 1, 504),
        ([Failure("broken")], 1, 502),
        ([Failure("too large")], 1, 502),
        ([Reply(404, b"")], 1, 502),
    ],
    ids=[
        "5xx",
        "passing 5xx",
        "no connection",
        "429",
        "refused",
        "malformed",
        "wrong shape",
        "timeout",
        "broken",
        "too large",
        "404",
    ],
)
def test_only_what_may_pass_is_retried(outcomes: list[Outcome], fetches: int, status: int) -> None:
    remaining = list(outcomes)
    made: list[Fetch] = []

    def upstream(fetch: Fetch) -> Outcome:
        made.append(fetch)
        return remaining.pop(0)

    answered, headers = status_of(lambda: drive(service(), HERE, upstream))
    assert (len(made), answered) == (fetches, status)
    if status == 503:
        assert headers["Retry-After"] == "7"


def test_retries_stop_at_the_deadline() -> None:
    weather = service(timeout=0.5)  # room for the first back-off (0.2 s) but not the second (0.4 s)
    made: list[Fetch] = []

    def failing(fetch: Fetch) -> Outcome:
        made.append(fetch)
        return Reply(503, b"")

    with pytest.raises(ApiError) as refused:
        drive(weather, HERE, failing)
    assert (refused.value.status, len(made)) == (502, 2)
    assert all(fetch.deadline == 1000.5 for fetch in made)


def test_the_limiter_refuses_past_its_calls_and_says_when_to_come_back() -> None:
    clock = Clock()
    limiter = Limiter(3, clock, period=60)
    assert [limiter.acquire() for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert limiter.acquire() == 50
    clock.now += 50
    assert limiter.acquire() == 0


@settings(max_examples=200)
@given(
    latitude=st.floats(allow_nan=True, allow_infinity=True),
    longitude=st.floats(allow_nan=True, allow_infinity=True),
)
def test_coordinates_are_accepted_exactly_when_in_range(latitude: float, longitude: float) -> None:
    query = urlencode({"latitude": repr(latitude), "longitude": repr(longitude)})
    valid = math.isfinite(latitude) and math.isfinite(longitude) and abs(latitude) <= 90 and abs(longitude) <= 180
    assert status_of(lambda: parse_query(WeatherQuery, query))[0] == (200 if valid else 400)
    if valid:
        parsed = parse_query(WeatherQuery, query)
        assert (parsed.latitude, parsed.longitude) == (latitude, longitude)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200)
@given(value=json_values)
def test_any_json_is_echoed_as_the_same_json(value: JsonValue) -> None:
    assert echoed("application/json", json.dumps(value).encode()) == value


@settings(max_examples=200)
@given(fields=st.lists(st.tuples(st.text(min_size=1), st.text()), max_size=10))
def test_any_urlencoded_form_is_echoed_field_for_field(fields: list[tuple[str, str]]) -> None:
    body = urlencode(fields).encode()
    answer = echoed("application/x-www-form-urlencoded; charset=utf-8", body)
    assert isinstance(answer, dict)
    for name, value in fields:
        given_values = [v for n, v in fields if n == name]
        assert answer[name] == (given_values[0] if len(given_values) == 1 else given_values)
        assert value in given_values


@settings(max_examples=200)
@given(
    body=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b", "text/plain", ""]
    ),
)
def test_any_body_is_echoed_or_refused_with_a_4xx(body: bytes, content_type: str) -> None:
    assert status_of(lambda: echoed(content_type, body))[0] in {200, 400, 415}


def test_a_request_that_asks_while_another_fetches_waits_for_its_answer() -> None:
    weather = service()
    first, second = weather.report(HERE), weather.report(HERE)
    fetch = next(first)
    assert isinstance(fetch, Fetch)
    assert next(second) == Pause(FOLLOW_POLL)  # the key is claimed: it looks again later
    assert second.send(None) == Pause(FOLLOW_POLL)
    with pytest.raises(StopIteration) as fetched:
        first.send(forecast_reply())
    with pytest.raises(StopIteration) as followed:
        second.send(None)  # now in the cache
    assert followed.value.value == fetched.value.value


def test_a_fetch_given_up_releases_its_claim() -> None:
    weather = service()
    abandoned = weather.report(HERE)
    assert isinstance(next(abandoned), Fetch)
    abandoned.close()  # what a transport does when its request is cancelled
    assert isinstance(next(weather.report(HERE)), Fetch)
