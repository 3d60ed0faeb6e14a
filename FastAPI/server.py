"""The URL status crawler's server: takes lists of URLs, fetches their status codes concurrently, keeps all in Redis.

POST /api/v1/tasks/ with a JSON list of URLs answers 201 with a running task; GET /api/v1/tasks/{id} shows it
until it is ready with one result per submitted URL, in order. Codes are cached in Redis for --cache-ttl seconds
and every URL counts once for its domain in GET /api/v1/domains.
"""

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from private_redis import RedisUnavailableError, private_redis


MAX_URLS_PER_TASK = 10_000
MAX_URL_LENGTH = 2_048
GLOBAL_CONCURRENCY = 200
PER_HOST_CONCURRENCY = 20
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
TASK_DEADLINE = 120.0
CACHE_TTL = 300.0
TASK_RETENTION = 3_600
CACHE_KEY = "crawler:cache"  # hash url -> code, sorted set url -> time seen
CACHE_TIMES = "crawler:cache-times"
DOMAINS_KEY = "crawler:domains"


class Task(BaseModel):
    """A crawl task as the API shows it: results in submitted order, an int code or a failure label each."""

    id: uuid.UUID
    status: Literal["running", "ready"]
    created: datetime.datetime
    urls: list[str]
    result: list[int | str] | None = None
    done: int = 0
    failed: int = 0


class Problem(BaseModel):
    """An error answer."""

    detail: str


def normalise(raw: str) -> str:
    """The URL to fetch: `http://` added when no scheme is given; ValueError with a reason if invalid."""
    if len(raw) > MAX_URL_LENGTH:
        raise ValueError(f"URL longer than {MAX_URL_LENGTH} characters")
    url = raw.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme {parts.scheme!r} is not http or https")
    if not parts.hostname or any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("not a URL with a host name")
    try:
        _ = parts.port
    except ValueError as error:
        raise ValueError("invalid port") from error
    return url


def domain_of(url: str) -> str:
    """The host name, lower-case, without port or credentials."""
    return (urlsplit(url).hostname or "").lower()


def failure_label(error: Exception) -> str:  # noqa: PLR0911 # one label per failure kind
    """The documented label recorded in place of a code."""
    if isinstance(error, httpx.ConnectTimeout):
        return "error:connect-timeout"
    if isinstance(error, httpx.TimeoutException):
        return "error:timeout"
    if isinstance(error, httpx.ConnectError):
        text = str(error).lower()
        if "name" in text or "resolution" in text or "nodename" in text:
            return "error:dns"
        if "ssl" in text or "certificate" in text:
            return "error:tls"
        return "error:connect"
    if isinstance(error, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return "error:invalid-response"
    return "error:other"


class Fetcher:
    """Fetches status lines with global and per-host limits; one fetch per URL in flight."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.everywhere = asyncio.Semaphore(GLOBAL_CONCURRENCY)
        self.hosts: dict[str, asyncio.Semaphore] = {}
        self.in_flight: dict[str, asyncio.Future[int | str]] = {}

    async def status(self, url: str) -> int | str:
        """The URL's own status code, or a failure label; shares a fetch already in flight."""
        pending = self.in_flight.get(url)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[int | str] = asyncio.get_running_loop().create_future()
        self.in_flight[url] = future
        try:
            future.set_result(await self._fetch(url))
        except Exception as error:  # every failure becomes a label
            future.set_result(failure_label(error))
        finally:
            del self.in_flight[url]
        return future.result()

    async def _fetch(self, url: str) -> int:
        host = domain_of(url)
        limit = self.hosts.setdefault(host, asyncio.Semaphore(PER_HOST_CONCURRENCY))
        async with self.everywhere, limit, self.client.stream("GET", url) as response:
            return response.status_code  # leaving the block closes the stream before any body is read


class Store:
    """Tasks, cache and counters in Redis."""

    def __init__(self, client: "aioredis.Redis", cache_ttl: float) -> None:
        self.redis = client
        self.cache_ttl = cache_ttl

    async def save(self, task: Task) -> None:
        await self.redis.set(f"crawler:task:{task.id}", task.model_dump_json(), ex=TASK_RETENTION)

    async def load(self, task_id: uuid.UUID) -> Task | None:
        raw = await self.redis.get(f"crawler:task:{task_id}")
        return None if raw is None else Task.model_validate_json(raw)

    async def cached(self, url: str) -> int | str | None:
        seen = await self.redis.zscore(CACHE_TIMES, url)
        if seen is None or time.time() - seen > self.cache_ttl:
            return None
        code = await self.redis.hget(CACHE_KEY, url)
        return None if code is None else json.loads(code)

    async def remember(self, url: str, code: int | str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(CACHE_KEY, url, json.dumps(code))
            pipe.zadd(CACHE_TIMES, {url: time.time()})
            await pipe.execute()

    async def expire_cache(self) -> int:
        """Remove cache entries older than the TTL; counters and tasks are left alone."""
        old = await self.redis.zrangebyscore(CACHE_TIMES, 0, time.time() - self.cache_ttl, start=0, num=1000)
        if old:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(CACHE_KEY, *old)
                pipe.zrem(CACHE_TIMES, *old)
                await pipe.execute()
        return len(old)


async def crawl(task: Task, store: Store, fetcher: Fetcher) -> None:
    """Fill the task's result; it always ends ready, within the deadline."""
    results: list[int | str] = ["error:deadline"] * len(task.urls)

    async def one(index: int, url: str) -> None:
        try:
            code = await store.cached(url)
        except RedisError:
            code = None
        if code is None:
            code = await fetcher.status(url)
            with contextlib.suppress(RedisError):
                await store.remember(url, code)
        results[index] = code

    jobs = [asyncio.ensure_future(one(i, url)) for i, url in enumerate(task.urls)]
    await asyncio.wait(jobs, timeout=TASK_DEADLINE)
    for job in jobs:
        job.cancel()
    task.result, task.status = results, "ready"
    task.done = len(results)
    task.failed = sum(isinstance(code, str) for code in results)
    for _attempt in range(30):
        try:
            await store.save(task)
            return
        except RedisError:
            await asyncio.sleep(1)


def create_app(redis_url: str | None, cache_ttl: float) -> FastAPI:  # noqa: PLR0915 # routes share the lifespan
    """The crawler app; Redis (a private one if no URL) and the HTTP client are made in the lifespan."""
    background: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            url = redis_url if redis_url else str(await stack.enter_async_context(private_redis()))
            client = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            stack.push_async_callback(client.aclose)
            http = httpx.AsyncClient(
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                follow_redirects=False,
                limits=httpx.Limits(max_connections=GLOBAL_CONCURRENCY, max_keepalive_connections=GLOBAL_CONCURRENCY),
            )
            await stack.enter_async_context(http)
            app.state.store = Store(client, cache_ttl)
            app.state.fetcher = Fetcher(http)
            cleaner = asyncio.ensure_future(clean_forever(app.state.store))
            try:
                yield
            finally:
                cleaner.cancel()
                for job in background:
                    job.cancel()

    async def clean_forever(store: Store) -> None:
        while True:
            with contextlib.suppress(RedisError):
                await store.expire_cache()
            await asyncio.sleep(min(1.0, cache_ttl / 4))

    app = FastAPI(title="URL status crawler", lifespan=lifespan)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, error: RedisError) -> JSONResponse:
        return JSONResponse({"detail": f"Redis is unavailable: {error}"}, status_code=503)

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    @app.post("/api/v1/tasks/", status_code=201, responses={422: {"model": Problem}, 503: {"model": Problem}})
    async def create_task(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            raw = json.loads(body)
        except ValueError:
            return JSONResponse({"detail": "the body must be a JSON list of URL strings"}, status_code=422)
        if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
            return JSONResponse({"detail": "the body must be a non-empty JSON list of URL strings"}, status_code=422)
        if len(raw) > MAX_URLS_PER_TASK:
            return JSONResponse({"detail": f"at most {MAX_URLS_PER_TASK} URLs per task"}, status_code=422)
        urls = []
        for index, item in enumerate(raw):
            try:
                urls.append(normalise(item))
            except ValueError as error:
                return JSONResponse({"detail": f"URL {index}: {error}"}, status_code=422)
        store = store_of(request)
        task = Task(id=uuid.uuid4(), status="running", created=datetime.datetime.now(datetime.timezone.utc), urls=urls)
        await store.save(task)
        async with store.redis.pipeline(transaction=True) as pipe:
            for url in urls:
                pipe.hincrby(DOMAINS_KEY, domain_of(url), 1)
            await pipe.execute()
        job = asyncio.ensure_future(crawl(task.model_copy(deep=True), store, request.app.state.fetcher))
        background.add(job)
        job.add_done_callback(background.discard)
        return JSONResponse(task.model_dump(mode="json"), status_code=201)

    @app.get("/api/v1/tasks/{task_id}", responses={404: {"model": Problem}, 503: {"model": Problem}})
    async def get_task(task_id: uuid.UUID, request: Request) -> JSONResponse:
        task = await store_of(request).load(task_id)
        if task is None:
            return JSONResponse({"detail": f"no task {task_id}"}, status_code=404)
        return JSONResponse(task.model_dump(mode="json"))

    @app.get("/api/v1/domains")
    async def domains(request: Request) -> dict[str, int]:
        counts = await store_of(request).redis.hgetall(DOMAINS_KEY)
        return {key.decode() if isinstance(key, bytes) else key: int(value) for key, value in counts.items()}

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        await store_of(request).redis.ping()
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL"), help="Redis URL (default: a private one)")
    parser.add_argument("--cache-ttl", type=float, default=float(os.environ.get("CACHE_TTL", CACHE_TTL)))
    args = parser.parse_args(argv)
    try:
        uvicorn.run(create_app(args.redis, args.cache_ttl), host=args.host, port=args.port, log_level="warning")
    except RedisUnavailableError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
