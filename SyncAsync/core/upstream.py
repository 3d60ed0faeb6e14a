"""How /weather reaches open-meteo, written once for both servers: the cache, the limiter, retries and deadlines.

`WeatherService.report(query)` is a generator that does no I/O: it yields a `Fetch` (send this GET) or a
`Pause` (wait this long) and is sent back what came of it, so the sync server drives it with blocking calls and
the async one with awaits (core/transports.py), over the same decisions.
"""

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel

from SyncAsync.core.answers import ApiError
from SyncAsync.core.weather import (
    Coordinates,
    ForecastAnswer,
    GeocodingAnswer,
    Place,
    UpstreamRequest,
    WeatherQuery,
    WeatherReport,
    city_key,
    forecast_request,
    geocoding_request,
    parse_answer,
    refusal_reason,
    report,
)


MAX_ATTEMPTS = 3
BACKOFF = 0.2  # seconds before the first retry, doubled for each one after
CONNECT_TIMEOUT = 3.0
MAX_REPLY = 1024 * 1024  # bytes of an upstream answer we read; past it the answer is refused as malformed
RETRIED_STATUSES = {429, 500, 502, 503, 504}
CACHE_ENTRIES = 4096
FOLLOW_POLL = 0.02  # seconds between looks at the cache while another request fetches the same key
log = logging.getLogger("upstream")
T = TypeVar("T")
Model = TypeVar("Model", bound=BaseModel)
Clock = Callable[[], float]


@dataclass(frozen=True)
class UpstreamSettings:
    """Where open-meteo is and how hard we may lean on it."""

    forecast_url: str = "https://api.open-meteo.com"
    geocoding_url: str = "https://geocoding-api.open-meteo.com"
    timeout: float = 8.0  # seconds one /weather may spend on the upstream, retries included; then 504
    cache_ttl: float = 60.0
    calls_per_minute: int = 500  # open-meteo's free tier allows 600


@dataclass(frozen=True)
class Fetch:
    """Send this GET, connecting within `connect` seconds and giving up on the whole answer at `deadline`."""

    request: UpstreamRequest
    connect: float
    deadline: float  # on the service's clock


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Reply:
    """An answer the upstream gave."""

    status: int
    body: bytes
    retry_after: str | None = None


@dataclass(frozen=True)
class Failure:
    """A GET that got no answer: no connection, no answer in time, a broken or oversized one."""

    kind: Literal["connect", "timeout", "broken", "too large"]


Step = Fetch | Pause
Outcome = Reply | Failure | None
Flow = Generator[Step, Outcome, T]


class TTLCache(Generic[T]):
    """A small, thread-safe cache whose entries expire `ttl` seconds after they were put; the oldest go first."""

    def __init__(self, ttl: float, clock: Clock, size: int = CACHE_ENTRIES) -> None:
        self.ttl = ttl
        self.clock = clock
        self.size = size
        self._entries: collections.OrderedDict[object, tuple[float, T]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: object) -> T | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] <= self.clock():
                return None
            return entry[1]

    def put(self, key: object, value: T) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self.clock() + self.ttl, value)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class Limiter:
    """At most `calls` in any `period` seconds (a sliding window); thread-safe."""

    def __init__(self, calls: int, clock: Clock, period: float = 60.0) -> None:
        self.calls = calls
        self.period = period
        self.clock = clock
        self._times: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a call and return 0, or return the seconds until one is free (and take nothing)."""
        with self._lock:
            now = self.clock()
            while self._times and self._times[0] <= now - self.period:
                self._times.popleft()
            if len(self._times) >= self.calls:
                return self._times[0] + self.period - now
            self._times.append(now)
            return 0.0


class Claims:
    """Keys being fetched right now, each claimed by one request; thread-safe."""

    def __init__(self) -> None:
        self._keys: set[object] = set()
        self._lock = threading.Lock()

    def claim(self, key: object) -> bool:
        with self._lock:
            if key in self._keys:
                return False
            self._keys.add(key)
            return True

    def release(self, key: object) -> None:
        with self._lock:
            self._keys.discard(key)


class WeatherService:
    """The weather of a place, from the cache or from open-meteo; one per server, shared by its requests."""

    def __init__(self, settings: UpstreamSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.forecasts: TTLCache[ForecastAnswer] = TTLCache(settings.cache_ttl, clock)
        self.places: TTLCache[GeocodingAnswer] = TTLCache(settings.cache_ttl, clock)
        self.limiter = Limiter(settings.calls_per_minute, clock)
        self.fetching = Claims()

    def report(self, query: WeatherQuery) -> Flow[WeatherReport]:
        deadline = self.clock() + self.settings.timeout
        place = None
        if query.city is not None:
            place = yield from self._place(query.city, deadline)
            where = Coordinates(latitude=place.latitude, longitude=place.longitude).rounded()
        else:
            assert query.latitude is not None and query.longitude is not None  # noqa: PT018 # the model's rule
            where = Coordinates(latitude=query.latitude, longitude=query.longitude).rounded()
        request = forecast_request(self.settings.forecast_url, where)
        forecast = yield from self._cached(self.forecasts, where, request, ForecastAnswer, deadline)
        return report(place, forecast)

    def _place(self, city: str, deadline: float) -> Flow[Place]:
        key = city_key(city)
        request = geocoding_request(self.settings.geocoding_url, key)
        found = yield from self._cached(self.places, key, request, GeocodingAnswer, deadline)  # unknown ones too
        if not found.results:
            raise ApiError(404, "unknown city")
        return found.results[0]

    def _cached(
        self, cache: TTLCache[Model], key: object, request: UpstreamRequest, model: type[Model], deadline: float
    ) -> Flow[Model]:
        """The cached answer for the key, else the upstream's, fetched once for requests that ask together: the
        first one fetches, the others look at the cache every FOLLOW_POLL seconds until it is there."""
        while (cached := cache.get(key)) is None:
            if self.fetching.claim(key):
                try:
                    fetched = yield from self._fetch(request, model, deadline)
                    cache.put(key, fetched)
                    return fetched
                finally:
                    self.fetching.release(key)
            if self.clock() + FOLLOW_POLL >= deadline:
                raise ApiError(504, f"the weather service did not answer the {request.what} request in time")
            yield Pause(FOLLOW_POLL)
        return cached

    def _fetch(self, request: UpstreamRequest, model: type[Model], deadline: float) -> Flow[Model]:
        """GET the request, retrying what is safe to retry (all of these are idempotent GETs: a failure to
        connect, a 429 or a 5xx) with back-off, within the deadline and the limiter."""
        error = ApiError(502, "the weather service cannot be reached")
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                pause = BACKOFF * 2 ** (attempt - 1)
                if self.clock() + pause >= deadline:
                    break
                yield Pause(pause)
            wait = self.limiter.acquire()
            if wait:
                retry_after = str(math.ceil(wait))
                raise ApiError(503, "too many weather requests; try again later", (("Retry-After", retry_after),))
            remaining = deadline - self.clock()
            outcome = yield Fetch(request, min(CONNECT_TIMEOUT, remaining), deadline)
            log.info("%s: %s", request.what, describe(outcome))
            if isinstance(outcome, Reply) and outcome.status == 200:
                return parse_answer(model, outcome.body, request.what)
            error = failure_error(outcome, request.what)
            if not retryable(outcome):
                break
        raise error


def describe(outcome: Outcome) -> str:
    if isinstance(outcome, Reply):
        return f"status {outcome.status}, {len(outcome.body)} bytes"
    return outcome.kind if isinstance(outcome, Failure) else "nothing"


def retryable(outcome: Outcome) -> bool:
    """Whether another try may succeed: a connection that never opened, a 429, or a passing 5xx."""
    if isinstance(outcome, Failure):
        return outcome.kind == "connect"
    return isinstance(outcome, Reply) and outcome.status in RETRIED_STATUSES


def failure_error(outcome: Outcome, what: str) -> ApiError:
    """What the client is told when the upstream did not answer with a usable 200."""
    if isinstance(outcome, Failure):
        if outcome.kind == "timeout":
            return ApiError(504, f"the weather service did not answer the {what} request in time")
        if outcome.kind == "too large":
            return ApiError(502, f"the weather service's {what} answer is too large")
        return ApiError(502, f"the weather service cannot be reached ({outcome.kind})")
    if isinstance(outcome, Reply) and outcome.status == 429:
        retry_after = outcome.retry_after if outcome.retry_after and outcome.retry_after.isdigit() else "60"
        return ApiError(503, "the weather service is rate limiting us", (("Retry-After", retry_after[:6]),))
    if isinstance(outcome, Reply) and outcome.status == 400:
        return ApiError(502, f"the weather service refused the {what} request: {refusal_reason(outcome.body)}")
    status = outcome.status if isinstance(outcome, Reply) else 0
    return ApiError(502, f"the weather service answered the {what} request with status {status}")
