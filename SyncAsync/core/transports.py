"""The weather client's two thin transports over httpx: one blocking (the sync server), one awaiting (the async
server). Each moves the bytes of a `Fetch` and drives `WeatherService.report`; every decision is in upstream.py.

Each server makes one client at start and shares it, with its connection pool, among all its requests.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx

from SyncAsync.core.upstream import MAX_REPLY, Failure, Fetch, Flow, Outcome, Pause, Reply, WeatherService
from SyncAsync.core.weather import WeatherQuery, WeatherReport


USER_AGENT = "gallifrey-syncasync/1"
POOL = httpx.Limits(max_connections=50, max_keepalive_connections=20)


def failure(error: httpx.HTTPError) -> Failure:
    """What an httpx error means for the retry rules: only a connection that never opened is retried."""
    if isinstance(error, httpx.ConnectTimeout | httpx.ConnectError):
        return Failure("connect")
    if isinstance(error, httpx.TimeoutException):
        return Failure("timeout")
    return Failure("broken")


def timeout(fetch: Fetch, now: float) -> httpx.Timeout:
    return httpx.Timeout(max(fetch.deadline - now, 0.001), connect=max(fetch.connect, 0.001))


def collect(chunks: Iterator[bytes], status: int, retry_after: str | None) -> Outcome:
    """The body of an answer, at most MAX_REPLY bytes."""
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_REPLY:
            return Failure("too large")
    return Reply(status, bytes(body), retry_after)


class SyncWeatherClient:
    """Blocking: for the sync server's worker threads (httpx.Client is safe to share between threads)."""

    def __init__(self, service: WeatherService) -> None:
        self.service = service
        self.http = httpx.Client(headers={"User-Agent": USER_AGENT}, limits=POOL, follow_redirects=False)

    def report(self, query: WeatherQuery) -> WeatherReport:
        flow: Flow[WeatherReport] = self.service.report(query)
        outcome: Outcome = None
        try:
            while True:
                step = flow.send(outcome)
                if isinstance(step, Pause):
                    time.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = self.send(step)
        except StopIteration as done:
            finished: WeatherReport = done.value
            return finished
        finally:
            flow.close()  # a flow left at a step (cancelled, failed) gives up the key it claimed

    def send(self, fetch: Fetch) -> Outcome:
        request = fetch.request
        try:
            with self.http.stream(
                "GET", request.url, params=request.params, timeout=timeout(fetch, self.service.clock())
            ) as response:
                chunks = self._until(response.iter_bytes(), fetch.deadline)
                return collect(chunks, response.status_code, response.headers.get("retry-after"))
        except httpx.HTTPError as error:
            return failure(error)

    def _until(self, chunks: Iterator[bytes], deadline: float) -> Iterator[bytes]:
        """The chunks, until the deadline: httpx's read timeout is per read, and a drip would outlast it."""
        for chunk in chunks:
            if self.service.clock() > deadline:
                raise httpx.ReadTimeout("the answer took past the deadline")
            yield chunk

    def close(self) -> None:
        self.http.close()


class AsyncWeatherClient:
    """Awaiting: for the async server's event loop, which it never blocks."""

    def __init__(self, service: WeatherService) -> None:
        self.service = service
        self.http = httpx.AsyncClient(headers={"User-Agent": USER_AGENT}, limits=POOL, follow_redirects=False)

    async def report(self, query: WeatherQuery) -> WeatherReport:
        flow: Flow[WeatherReport] = self.service.report(query)
        outcome: Outcome = None
        try:
            while True:
                step = flow.send(outcome)
                if isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                    outcome = None
                else:
                    outcome = await self.send(step)
        except StopIteration as done:
            finished: WeatherReport = done.value
            return finished
        finally:
            flow.close()  # a flow left at a step (cancelled, failed) gives up the key it claimed

    async def send(self, fetch: Fetch) -> Outcome:
        remaining = max(fetch.deadline - self.service.clock(), 0.001)
        try:
            return await asyncio.wait_for(self._get(fetch), remaining)
        except asyncio.TimeoutError:
            return Failure("timeout")
        except httpx.HTTPError as error:
            return failure(error)

    async def _get(self, fetch: Fetch) -> Outcome:
        request = fetch.request
        async with self.http.stream(
            "GET", request.url, params=request.params, timeout=timeout(fetch, self.service.clock())
        ) as response:
            chunks = [chunk async for chunk in self._bounded(response.aiter_bytes())]
            return collect(iter(chunks), response.status_code, response.headers.get("retry-after"))

    @staticmethod
    async def _bounded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks until one past MAX_REPLY bytes, so an endless answer is not read to its end."""
        total = 0
        async for chunk in chunks:
            total += len(chunk)
            yield chunk
            if total > MAX_REPLY:
                return

    async def close(self) -> None:
        await self.http.aclose()
