"""The URL status crawler's server: takes lists of URLs, fetches their status codes concurrently, keeps all in Redis.

POST /api/v1/tasks/ with a JSON list of URLs answers 201 with a running task; GET /api/v1/tasks/{id} shows it
until it is ready with one result per submitted URL, in order. Codes are cached in Redis for --cache-ttl seconds
and every URL counts once for its domain in GET /api/v1/domains. Targets on non-global addresses (loopback,
private, link-local, multicast, reserved...) are refused unless --allow-private is given.
"""

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime
import functools
import ipaddress
import itertools
import json
import logging
import os
import re
import socket
import ssl
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from private_redis import RedisUnavailableError, private_redis


CACHE_KEY = "crawler:cache"  # hash: url -> JSON [code, unix time fetched]
CACHE_TIMES = "crawler:cache-times"  # sorted set: url -> unix time fetched, for the clean-up
DOMAINS_KEY = "crawler:domains"  # hash: host -> count
TASK_PREFIX = "crawler:task:"
CLAIM_PREFIX = "crawler:fetching:"  # url -> the process fetching it, so that other processes wait for its code
HOST_NAME = re.compile(rb"[a-z0-9_.-]+")
USER_AGENT = b"url-status-crawler/1"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
REMOTE_POLL = 0.05  # seconds between looks at codes another process is fetching
REDIS_TIMEOUT = 2.0
MAX_WAIT = 30.0  # seconds a GET of a task may wait for it to be ready
log = logging.getLogger("crawler")

Outcome = int | str  # an HTTP status code, or a failure label such as "error:timeout"
K = TypeVar("K")
V = TypeVar("V")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a flag or an environment variable sets."""

    redis_url: str | None = None
    cache_ttl: float = 300.0
    allow_private: bool = False
    concurrency: int = 200
    per_host: int = 20
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    task_deadline: float = 120.0
    task_retention: int = 3_600
    max_urls: int = 10_000
    max_url_length: int = 2_048
    max_body: int = 4 * 1024 * 1024
    body_timeout: float = 30.0


class Task(BaseModel):
    """A crawl task as the API shows it: results in submitted order, an int code or a failure label each."""

    id: uuid.UUID
    status: Literal["running", "ready"]
    created: datetime.datetime
    finished: datetime.datetime | None = None
    urls: list[str]
    result: list[Outcome] | None = None
    done: int = 0
    failed: int = 0


class Problem(BaseModel):
    """An error answer."""

    detail: str


class InvalidURLError(ValueError):
    """A submitted string that is not an http(s) URL we can fetch."""


def normalise(raw: str, max_length: int) -> str:
    """The URL to fetch: `http://` added when no scheme is given, host IDNA-encoded, path percent-encoded."""
    if len(raw) > max_length:
        raise InvalidURLError(f"longer than {max_length} characters")
    text = raw.strip()
    if any(ord(c) < 33 or c == "\x7f" for c in text):
        raise InvalidURLError("contains spaces or control characters")
    if "://" not in text:
        text = "http://" + text
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError, UnicodeError) as error:
        raise InvalidURLError(str(error) or "not a URL") from error
    if url.scheme not in ("http", "https"):
        raise InvalidURLError(f"scheme {url.scheme!r} is not http or https")
    host = url.raw_host
    if not host or not (HOST_NAME.fullmatch(host) or b":" in host):
        raise InvalidURLError("no valid host name")
    if url.port is not None and not 0 < url.port < 65536:
        raise InvalidURLError("port out of range")
    normal = str(url)
    if len(normal) > max_length:
        raise InvalidURLError(f"longer than {max_length} characters once encoded")
    return normal


def domain_of(url: str) -> str:
    """The host name of a normalised URL, lower-case (IDNA-encoded if need be), without port or credentials."""
    return (urlsplit(url).hostname or "").lower()


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is globally routable: not loopback, private, link-local, multicast, reserved..."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and address in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 reaches IPv4 addresses
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


class ForbiddenAddressError(Exception):
    """Every address the target resolves to is non-global, and --allow-private was not given."""


class ResolutionError(Exception):
    """The target's host name did not resolve."""


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves host names itself and connects only to addresses it has checked, so DNS cannot rebind between."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to try, in the resolver's order; raises when there are none we may use."""
        try:
            found = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as error:
                raise ResolutionError(f"{host}: {error}") from error
            found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
        allowed = [str(a) for a in dict.fromkeys(found) if self.allow_private or is_public(a)]
        if not allowed:
            raise ForbiddenAddressError(f"{host} resolves only to non-global addresses")
        return allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception = ResolutionError(host)
        for address in await self.addresses(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last = error
        raise last

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenAddressError("Unix sockets are not crawled")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def failure_label(error: BaseException) -> str:  # noqa: PLR0911 # one label per failure kind
    """The documented label recorded in place of a code."""
    causes: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, ForbiddenAddressError):
        return "error:forbidden-address"
    if isinstance(error, ResolutionError):
        return "error:dns"
    if any(isinstance(c, ssl.SSLError) for c in causes):
        return "error:tls"
    if isinstance(error, httpcore.ConnectTimeout):
        return "error:connect-timeout"
    if isinstance(error, httpcore.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return "error:timeout"
    if isinstance(error, httpcore.ConnectError):
        return "error:connect"
    if isinstance(error, httpcore.ProtocolError | httpcore.ReadError | httpcore.WriteError):
        return "error:invalid-response"
    return "error:other"


def request_target(url: str) -> tuple[httpcore.URL, list[tuple[bytes, bytes]]]:
    """What httpcore needs to GET a normalised URL: its parts and the request headers (Host without userinfo)."""
    parsed = httpx.URL(url)
    target = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path)
    return target, [(b"Host", parsed.netloc), (b"User-Agent", USER_AGENT), (b"Accept", b"*/*")]


async def fetch_status(pool: httpcore.AsyncConnectionPool, url: str, settings: Settings) -> int:
    """The URL's own status code: status line and headers only, no body, no redirects, bounded in time."""
    target, headers = request_target(url)
    timeouts = {"connect": settings.connect_timeout, "read": settings.read_timeout, "write": settings.read_timeout}

    async def status() -> int:
        async with pool.stream("GET", target, headers=headers, extensions={"timeout": timeouts}) as response:
            return response.status  # leaving the block closes the stream before any body is read

    # Each read has its own timeout; this bounds a server that drips its headers a byte at a time.
    return await asyncio.wait_for(status(), settings.connect_timeout + settings.read_timeout)


def http_pool(settings: Settings) -> httpcore.AsyncConnectionPool:
    """The outbound connection pool, guarded unless private addresses are allowed; environment proxies ignored."""
    return httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(),
        max_connections=settings.concurrency,
        max_keepalive_connections=settings.concurrency,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(settings.allow_private),
    )


class Store:
    """Tasks, the status cache, the domain counters and the fetch claims, all in Redis."""

    def __init__(self, client: "aioredis.Redis", settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.process = uuid.uuid4().hex
        self.release_script = client.register_script(RELEASE)

    async def save(self, task: Task) -> None:
        """Write the task, kept for the retention time."""
        key = f"{TASK_PREFIX}{task.id}"
        await self.redis.set(key, task.model_dump_json(), ex=self.settings.task_retention)

    async def load_json(self, task_id: uuid.UUID) -> bytes | None:
        """The task as stored (JSON), or None if unknown or expired."""
        raw = await self.redis.get(f"{TASK_PREFIX}{task_id}")
        return raw.encode() if isinstance(raw, str) else raw

    async def create(self, task: Task) -> None:
        """Write a new task and add each of its URLs once to its domain's counter, all or nothing."""
        counts = collections.Counter(domain_of(url) for url in task.urls)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{TASK_PREFIX}{task.id}", task.model_dump_json(), ex=self.settings.task_retention)
            for domain, count in counts.items():
                pipe.hincrby(DOMAINS_KEY, domain, count)
            await pipe.execute()

    async def domains(self) -> dict[str, int]:
        counts = await self.redis.hgetall(DOMAINS_KEY)
        return {
            key.decode(errors="replace") if isinstance(key, bytes) else key: int(value) for key, value in counts.items()
        }

    def _fresh(self, raw: bytes | str | None) -> Outcome | None:
        if raw is None:
            return None
        try:
            code, seen = json.loads(raw)
            fresh = time.time() - float(seen) <= self.settings.cache_ttl
        except (ValueError, TypeError):  # not an entry this server wrote: a miss
            return None
        return code if fresh and isinstance(code, int | str) else None

    async def cached(self, urls: list[str]) -> dict[str, Outcome]:
        """The fresh cached outcomes among the URLs; an entry older than the TTL is never used."""
        found: dict[str, Outcome] = {}
        for start in range(0, len(urls), 5_000):
            chunk = urls[start : start + 5_000]
            for url, raw in zip(chunk, await self.redis.hmget(CACHE_KEY, chunk), strict=True):
                code = self._fresh(raw)
                if code is not None:
                    found[url] = code
        return found

    async def claim(self, urls: list[str]) -> list[bool]:
        """For each URL, whether this process may fetch it: no other process is fetching it right now."""
        expiry = int((self.settings.connect_timeout + self.settings.read_timeout + 1.0) * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            for url in urls:
                pipe.set(f"{CLAIM_PREFIX}{url}", self.process, nx=True, px=expiry)
            return [bool(taken) for taken in await pipe.execute()]

    async def release(self, url: str) -> None:
        """Give up this process's claim on the URL (not another's), so that others need not wait for it."""
        await self.release_script(keys=[f"{CLAIM_PREFIX}{url}"], args=[self.process])

    async def remember(self, outcomes: list[tuple[str, Outcome]]) -> list[None]:
        """Cache the outcomes and release their claims."""
        now = time.time()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(CACHE_KEY, mapping={url: json.dumps([code, now]) for url, code in outcomes})
            pipe.zadd(CACHE_TIMES, {url: now for url, _ in outcomes})
            pipe.delete(*(f"{CLAIM_PREFIX}{url}" for url, _ in outcomes))
            await pipe.execute()
        return [None] * len(outcomes)

    async def peek(self, urls: list[str]) -> tuple[dict[str, Outcome], set[str]]:
        """Of URLs other processes fetch: the outcomes they cached, and those still claimed."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(CACHE_KEY, urls)
            for url in urls:
                pipe.exists(f"{CLAIM_PREFIX}{url}")
            raw, *claims = await pipe.execute()
        codes = {url: code for url, value in zip(urls, raw, strict=True) if (code := self._fresh(value)) is not None}
        return codes, {url for url, claimed in zip(urls, claims, strict=True) if claimed}

    async def expire_cache(self) -> int:
        """Remove cache entries older than the TTL; counters and tasks are left alone."""
        old = await self.redis.zrangebyscore(CACHE_TIMES, 0, time.time() - self.settings.cache_ttl, start=0, num=1000)
        if old:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(CACHE_KEY, *old)
                pipe.zrem(CACHE_TIMES, *old)
                await pipe.execute()
        return len(old)


class Batcher(Generic[K, V]):
    """Turns calls with one key each into calls of `run` with all the keys that came while the last was out."""

    def __init__(self, run: Callable[[list[K]], Awaitable[list[V]]], most: int = 1_000) -> None:
        self.run = run
        self.most = most
        self.pending: list[tuple[K, asyncio.Future[V]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def __call__(self, key: K) -> V:
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self.pending.append((key, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the callers of this turn of the loop join the first batch
        while self.pending:
            batch, self.pending = self.pending[: self.most], self.pending[self.most :]
            try:
                values = await self.run([key for key, _ in batch])
            except Exception as error:  # each caller gets the error, typically a RedisError
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for (_, future), value in zip(batch, values, strict=True):
                    if not future.done():  # else its caller was cancelled
                        future.set_result(value)


class Job:
    """One task's URLs while it runs: the outcomes in submitted order, duplicates sharing one fetch."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.positions: dict[str, list[int]] = collections.defaultdict(list)
        for index, url in enumerate(urls):
            self.positions[url].append(index)
        self.outcomes: list[Outcome | None] = [None] * len(urls)
        self.unsettled = set(self.positions)
        self.finished = asyncio.Event()
        if not self.unsettled:
            self.finished.set()

    def settle(self, url: str, code: Outcome) -> None:
        if url in self.unsettled:
            self.unsettled.discard(url)
            for index in self.positions[url]:
                self.outcomes[index] = code
            if not self.unsettled:
                self.finished.set()

    def result(self, unfinished: str) -> list[Outcome]:
        """The outcomes, with the label given for URLs that have none yet."""
        return [code if code is not None else unfinished for code in self.outcomes]


class Fetcher:
    """Fetches each wanted URL once, however many jobs want it, within a global and a per-host limit.

    URLs wait in a queue per host; hosts with waiting URLs and a free slot take turns. A URL no job wants any
    more (their deadlines passed) is dropped from the queue or its fetch cancelled, so that no job waits on
    another's. Across processes, a claim in Redis makes the others wait for the fetching one's cached code.
    """

    def __init__(self, pool: httpcore.AsyncConnectionPool, store: Store, settings: Settings) -> None:
        self.pool = pool
        self.store = store
        self.settings = settings
        self.waiting: dict[str, collections.deque[str]] = {}  # host -> URLs to fetch, oldest first
        self.turns: dict[str, None] = {}  # hosts with waiting URLs and a free slot, in turn order
        self.busy: collections.Counter[str] = collections.Counter()  # host -> fetches running
        self.running: dict[str, asyncio.Task[None]] = {}
        self.queued: set[str] = set()
        self.remote: set[str] = set()  # URLs another process is fetching
        self.watcher: asyncio.Task[None] | None = None
        self.wanted: dict[str, list[Job]] = {}
        self.releases: set[asyncio.Task[None]] = set()
        # One Redis round trip for all the claims, and one for all the cache writes, made while the last was out.
        self.claims = Batcher(store.claim)
        self.cache_writes = Batcher(store.remember)

    def want(self, url: str, job: Job) -> None:
        """Let the job have the URL's outcome once known."""
        jobs = self.wanted.setdefault(url, [])
        jobs.append(job)
        if len(jobs) == 1 and url not in self.running and url not in self.remote:
            self._enqueue(url)

    def abandon(self, job: Job) -> None:
        """The job no longer waits; fetches nobody else wants are cancelled."""
        for url in job.unsettled:
            jobs = self.wanted.get(url, [])
            with contextlib.suppress(ValueError):
                jobs.remove(job)
            if not jobs:
                self.wanted.pop(url, None)
                self.queued.discard(url)
                self.remote.discard(url)
                fetch = self.running.get(url)
                if fetch is not None:
                    fetch.cancel()

    def _enqueue(self, url: str) -> None:
        host = domain_of(url)
        self.queued.add(url)
        self.waiting.setdefault(host, collections.deque()).append(url)
        if self.busy[host] < self.settings.per_host:
            self.turns[host] = None
        self._start_some()

    def _start_some(self) -> None:
        while self.turns and len(self.running) < self.settings.concurrency:
            host = next(iter(self.turns))
            del self.turns[host]
            queue = self.waiting[host]
            while queue:
                url = queue.popleft()
                if url in self.queued and url not in self.running:  # else abandoned, or a stale duplicate
                    self.queued.discard(url)
                    self.busy[host] += 1
                    fetch = self.running[url] = asyncio.ensure_future(self._fetch(url))
                    # A callback, not a finally: a fetch cancelled before it starts never runs its body.
                    fetch.add_done_callback(functools.partial(self._finished, url, host))
                    break
            if not queue:
                del self.waiting[host]
            elif self.busy[host] < self.settings.per_host:
                self.turns[host] = None

    async def _fetch(self, url: str) -> None:
        try:
            mine = await self.claims(url)
        except RedisError:
            mine = True  # without Redis each process fetches for itself
        if not mine:
            self.remote.add(url)
            if self.watcher is None or self.watcher.done():
                self.watcher = asyncio.ensure_future(self._watch_remote())
            return
        try:
            code: Outcome = await fetch_status(self.pool, url, self.settings)
        except asyncio.CancelledError:  # nobody wants it any more: let other processes fetch it if they do
            release = asyncio.ensure_future(self.store.release(url))
            self.releases.add(release)
            release.add_done_callback(self._released)
            raise
        except Exception as error:  # every failure of the target becomes a label
            code = failure_label(error)
        with contextlib.suppress(RedisError):
            await self.cache_writes((url, code))
        # Cached first, then settled and no longer running, in one step: a job asking for the URL meanwhile
        # either joins this fetch or finds the code in the cache.
        self.running.pop(url, None)
        self._settle(url, code)

    def _finished(self, url: str, host: str, _: object) -> None:
        self.running.pop(url, None)
        self.busy[host] -= 1
        if not self.busy[host]:
            del self.busy[host]
        if host in self.waiting:
            self.turns[host] = None
        self._start_some()

    def _released(self, release: "asyncio.Task[None]") -> None:
        self.releases.discard(release)
        if not release.cancelled() and release.exception() is not None:
            log.info("could not release a claim: %s", release.exception())

    def _settle(self, url: str, code: Outcome) -> None:
        for job in self.wanted.pop(url, []):
            job.settle(url, code)

    async def _watch_remote(self) -> None:
        """Collect the codes other processes fetch; take a URL back if its claim lapses uncached."""
        while self.remote:
            await asyncio.sleep(REMOTE_POLL)
            urls = list(itertools.islice(self.remote, 1000))
            try:
                codes, claimed = await self.store.peek(urls)
            except RedisError:
                codes, claimed = {}, set()
            for url in urls:
                if url not in self.remote:  # abandoned meanwhile
                    continue
                if url in codes:
                    self.remote.discard(url)
                    self._settle(url, codes[url])
                elif url not in claimed:
                    self.remote.discard(url)
                    self._enqueue(url)


async def collect(job: Job, store: Store, fetcher: Fetcher, deadline: float) -> None:
    """Settle the job's URLs from the cache, then from fetches, until all are settled or the deadline passes."""
    unique = list(job.positions)
    try:
        cached = await store.cached(unique)
    except RedisError:
        cached = {}
    for url, code in cached.items():
        job.settle(url, code)
    for url in unique:
        if url not in cached:
            fetcher.want(url, job)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(job.finished.wait(), max(0.0, deadline - time.monotonic()))


async def run_task(task: Task, store: Store, fetcher: Fetcher, settings: Settings) -> None:
    """Fill the task's result; it always ends ready: at its deadline, on a bug, and when the server stops."""
    job = Job(task.urls)
    unfinished = "error:deadline"
    try:
        await collect(job, store, fetcher, time.monotonic() + settings.task_deadline)
    except asyncio.CancelledError:
        unfinished = "error:shutdown"
    except Exception:
        log.exception("task %s failed", task.id)
        unfinished = "error:other"
    finally:
        fetcher.abandon(job)
    task.result = job.result(unfinished)
    task.status, task.finished = "ready", datetime.datetime.now(datetime.timezone.utc)
    task.done = len(task.result)
    task.failed = sum(isinstance(code, str) for code in task.result)
    if unfinished == "error:shutdown":  # one try, then let the server stop
        with contextlib.suppress(RedisError):
            await store.save(task)
        raise asyncio.CancelledError
    for _attempt in range(settings.task_retention):  # Redis may be down for a while: keep the result until back
        try:
            await store.save(task)
            return
        except RedisError:
            await asyncio.sleep(1)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be longer than the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def parse_urls(body: bytes, settings: Settings) -> list[str]:
    """The normalised URLs of a POST body; InvalidURLError with a message for the person otherwise."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidURLError("the body must be a JSON list of URL strings") from error
    if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
        raise InvalidURLError("the body must be a non-empty JSON list of URL strings")
    if len(raw) > settings.max_urls:
        raise InvalidURLError(f"at most {settings.max_urls} URLs per task, got {len(raw)}")
    urls = []
    for index, item in enumerate(raw):
        try:
            urls.append(normalise(item, settings.max_url_length))
        except InvalidURLError as error:
            raise InvalidURLError(f"URL {index} ({item[:100]!r}): {error}") from error
    return urls


class Runner:
    """This process's running tasks: started in the background, awaited by GETs that wait, ended on exit."""

    def __init__(self, store: Store, fetcher: Fetcher, settings: Settings) -> None:
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.jobs: dict[uuid.UUID, asyncio.Task[None]] = {}

    def start(self, task: Task) -> None:
        job = asyncio.ensure_future(run_task(task, self.store, self.fetcher, self.settings))
        self.jobs[task.id] = job
        job.add_done_callback(functools.partial(self._finished, task.id))

    def _finished(self, task_id: uuid.UUID, job: "asyncio.Task[None]") -> None:
        self.jobs.pop(task_id, None)
        if not job.cancelled() and job.exception() is not None:
            log.error("task %s crashed", task_id, exc_info=job.exception())

    async def load(self, task_id: uuid.UUID, wait: float) -> bytes | None:
        """The stored task; if it is running, as soon as it is ready or `wait` seconds have passed."""
        deadline = time.monotonic() + wait
        while (raw := await self.store.load_json(task_id)) is not None and not is_ready(raw):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            job = self.jobs.get(task_id)
            if job is None:  # another process runs it: look again shortly
                await asyncio.sleep(min(REMOTE_POLL, remaining))
            else:
                await asyncio.wait([job], timeout=remaining)
        return raw

    async def stop(self) -> None:
        """Cancel the running tasks, which write themselves ready before they end."""
        jobs = list(self.jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


def is_ready(raw: bytes) -> bool:
    """Whether a stored task is ready, from the head of its JSON: the id, then the status, come first."""
    return b'"status":"ready"' in raw[:64]


def problem(detail: str, status: int) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


async def clean_forever(store: Store) -> None:
    """Remove expired cache entries, a batch at a time, a few times per TTL."""
    while True:
        with contextlib.suppress(RedisError):
            while await store.expire_cache() == 1000:
                pass
        await asyncio.sleep(min(1.0, store.settings.cache_ttl / 4))


def redis_client(url: str) -> "aioredis.Redis":
    """A Redis client whose failures are quick, so that an outage is a prompt 503, not a long wait."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        max_connections=64,
        timeout=REDIS_TIMEOUT,
    )
    return aioredis.Redis.from_pool(pool)


def create_app(settings: Settings) -> FastAPI:
    """The crawler app; Redis (a private one if no URL) and the HTTP pool are made in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            url = settings.redis_url
            if url is None:
                url = await stack.enter_async_context(private_redis())
            client = redis_client(url)
            stack.push_async_callback(client.aclose)
            pool = await stack.enter_async_context(http_pool(settings))
            store = Store(client, settings)
            app.state.store = store
            app.state.runner = runner = Runner(store, Fetcher(pool, store, settings), settings)
            cleaner = asyncio.ensure_future(clean_forever(store))
            try:
                yield
            finally:
                cleaner.cancel()
                await runner.stop()
                await asyncio.gather(cleaner, return_exceptions=True)

    app = FastAPI(title="URL status crawler", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        reasons = (f"{' '.join(str(part) for part in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors())
        return problem("; ".join(reasons) or "invalid request", 422)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, error: RedisError) -> JSONResponse:
        return problem(f"Redis is unavailable, try again shortly ({type(error).__name__}: {error})", 503)

    def store_of(request: Request) -> Store:
        store: Store = request.app.state.store
        return store

    errors: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (408, 413, 422, 503)}

    @app.post("/api/v1/tasks/", status_code=201, response_model=Task, responses=errors)
    async def create_task(request: Request) -> Response:
        try:
            body = await asyncio.wait_for(read_body(request, settings.max_body), settings.body_timeout)
        except asyncio.TimeoutError:
            return problem(f"the body did not arrive within {settings.body_timeout:g} s", 408)
        if body is None:
            return problem(f"the body is longer than {settings.max_body} bytes", 413)
        try:
            urls = parse_urls(body, settings)
        except InvalidURLError as error:
            return problem(str(error), 422)
        store = store_of(request)
        task = Task(id=uuid.uuid4(), status="running", created=datetime.datetime.now(datetime.timezone.utc), urls=urls)
        await store.create(task)
        request.app.state.runner.start(task.model_copy(deep=True))
        return Response(task.model_dump_json(), status_code=201, media_type="application/json")

    @app.get("/api/v1/tasks/{task_id}", response_model=Task, responses={404: {"model": Problem}, **errors})
    async def get_task(task_id: uuid.UUID, request: Request, wait: float = Query(0.0, ge=0, le=MAX_WAIT)) -> Response:
        """The task; with `wait`, answered as soon as it is ready, or after that many seconds if it is not."""
        runner: Runner = request.app.state.runner
        raw = await runner.load(task_id, wait)
        if raw is None:
            return problem(f"no task {task_id} (unknown, or older than {settings.task_retention} s)", 404)
        return Response(raw, media_type="application/json")

    @app.get("/api/v1/domains")
    async def domains(request: Request) -> dict[str, int]:
        return await store_of(request).domains()

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        await store_of(request).redis.ping()
        return {"status": "ok"}

    return app


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_settings(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    """Flags, each defaulting to its environment variable, then to the built-in default."""
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8888, help="port to listen on (%(default)s)")
    env = os.environ.get
    parser.add_argument("--redis", default=env("REDIS_URL"), help="Redis URL ($REDIS_URL; default: a private one)")
    parser.add_argument(
        "--allow-private",
        action="store_true",
        default=env("CRAWLER_ALLOW_PRIVATE", "") == "1",
        help="also crawl loopback, private, link-local... addresses ($CRAWLER_ALLOW_PRIVATE=1)",
    )
    for flag, variable, kind, help_ in (
        ("--cache-ttl", "CACHE_TTL", float, "seconds a fetched code is reused"),
        ("--concurrency", "CRAWLER_CONCURRENCY", int, "fetches at once, all hosts together"),
        ("--per-host", "CRAWLER_PER_HOST", int, "fetches at once to one host"),
        ("--connect-timeout", "CRAWLER_CONNECT_TIMEOUT", float, "seconds to connect (and TLS)"),
        ("--read-timeout", "CRAWLER_READ_TIMEOUT", float, "seconds for each read of the answer's head"),
        ("--task-deadline", "CRAWLER_TASK_DEADLINE", float, "seconds after which a task ends ready"),
        ("--task-retention", "CRAWLER_TASK_RETENTION", int, "seconds a task is kept in Redis"),
        ("--max-urls", "CRAWLER_MAX_URLS", int, "URLs per task"),
        ("--max-url-length", "CRAWLER_MAX_URL_LENGTH", int, "characters per URL"),
        ("--max-body", "CRAWLER_MAX_BODY", int, "bytes per POST body"),
        ("--body-timeout", "CRAWLER_BODY_TIMEOUT", float, "seconds for a POST body to arrive"),
    ):
        name = flag.removeprefix("--").replace("-", "_")
        default = env(variable, str(getattr(defaults, name)))
        parser.add_argument(flag, type=positive(kind), default=default, help=f"{help_} (${variable}, %(default)s)")
    args = parser.parse_args(argv)
    fields = {field.name for field in dataclasses.fields(Settings)}
    values = {name: value for name, value in vars(args).items() if name in fields}
    return args, Settings(redis_url=args.redis, **values)


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve until interrupted."""
    args, settings = parse_settings(argv)
    logging.basicConfig(format="server.py: %(message)s")
    try:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    except RedisUnavailableError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
