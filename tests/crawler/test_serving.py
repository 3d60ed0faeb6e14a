"""The API side's own limits and lifecycle: paths, heads, connections, URLs in flight, crowds of waiters, SIGTERM,
and server.py as one file that imports nothing from this repository."""

import ast
import asyncio
import collections
import json
import logging
import resource
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from devtools.crowd import crowd, get_request, post_request
from devtools.farm import Farm
from devtools.rawhttp import closed_by_server, connect, exchange, read_response
from devtools.redis_server import RedisServer, redis_server
from devtools.servers import REPO
from FastAPI.server import OncePerSecond, Settings, connection_budget
from tests.crawler.service import crawler, submit, wait_ready
from tests.polling import wait_until


@pytest.fixture(scope="module")
def store() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


def test_tasks_with_and_without_the_trailing_slash(farm: Farm) -> None:
    with crawler("--allow-private") as server:
        for path in ("/api/v1/tasks", "/api/v1/tasks/"):
            answer = httpx.post(f"{server.url}{path}", json=[farm.url("/status/200?slash")])
            assert answer.status_code == 201, (path, answer.status_code)


def test_a_head_that_does_not_come_whole_is_dropped_and_connections_are_capped() -> None:
    with crawler("--head-timeout", "1", "--max-connections", "4") as server:
        with connect(server.port) as half:
            half.sendall(b"GET /healthz HTTP/1.1\r\nHost:")  # and then nothing more
            assert closed_by_server(half)  # within the head timeout, not the socket's 10 s
        kept = [connect(server.port) for _ in range(4)]
        try:
            for sock in kept:  # each answered, and each held open (keep-alive): the server counts them all
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                with sock.makefile("rb") as stream:
                    assert read_response(stream).status == 200
            refused = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert (refused.status, refused.headers.get("retry-after")) == (503, "1")
            burst = asyncio.run(crowd(server.port, [get_request("/healthz")] * 300))
            assert burst == {"503": 300}  # a burst past the cap is turned away, each answered
        finally:
            for sock in kept:
                sock.close()
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # and the server is as it was


def test_the_connection_cap_stays_below_the_file_limit() -> None:
    assert connection_budget(Settings(), 20_000) == (2048, 15_000)
    backlog, cap = connection_budget(Settings(), 1_024)
    assert backlog == 128
    assert 16 <= cap <= 1_024 - 2 * backlog - Settings().concurrency
    assert connection_budget(Settings(concurrency=5_000), 1_024)[1] == 16


def test_accept_errors_are_logged_once_a_second() -> None:
    records: list[logging.LogRecord] = []
    logger = logging.getLogger("test-accept-errors")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign, assignment]
    logger.addHandler(handler)
    limiter = OncePerSecond("socket.accept() out of system resource")
    logger.addFilter(limiter)
    for _ in range(1_000):
        logger.error("socket.accept() out of system resource", exc_info=OSError(24, "Too many open files"))
    logger.error("something else")
    limiter.last -= 1.0  # as if a second had passed
    logger.error("socket.accept() out of system resource")
    assert [record.getMessage() for record in records] == [
        "socket.accept() out of system resource",
        "something else",
        "socket.accept() out of system resource (999 more since the last such message)",
    ]
    assert records[0].exc_info is None  # no traceback each time


def test_urls_in_flight_are_capped_with_retry_after(farm: Farm) -> None:
    with crawler("--allow-private", "--max-in-flight", "3") as server:
        first = submit(server, [farm.url("/gate/flight?1"), farm.url("/gate/flight?2")])
        full = httpx.post(f"{server.url}/api/v1/tasks", json=[farm.url("/status/200?a"), farm.url("/status/200?b")])
        assert full.status_code == 503
        assert full.headers["retry-after"].isdigit()
        assert "in flight" in full.json()["detail"]
        assert submit(server, [farm.url("/status/200?fits")])  # one more fits
        farm.open_gate("flight")
        assert wait_ready(server, first)["result"] == [200, 200]
        assert submit(server, [farm.url("/status/200?a"), farm.url("/status/200?b")])


def test_crowds_of_waiters_hold_no_redis_connection_and_get_no_503(store: RedisServer, farm: Farm) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # a connection each
    each = min(1_000, (hard - 200) // 2)
    flags = ("--allow-private", "--redis", store.url)
    with crawler(*flags) as own, crawler(*flags) as other:
        task = submit(own, [farm.url("/gate/crowd")])
        wait = get_request(f"/api/v1/tasks/{task}?wait=30")
        client = redis.Redis.from_url(store.url)

        async def scenario() -> tuple[collections.Counter[str], collections.Counter[str], int]:
            sent: collections.Counter[str] = collections.Counter()
            waiting = asyncio.gather(crowd(own.port, [wait] * each, sent), crowd(other.port, [wait] * each, sent))
            deadline = asyncio.get_running_loop().time() + 30
            while sent["sent"] < 2 * each:
                assert asyncio.get_running_loop().time() < deadline, "the crowds could not all send"
                await asyncio.sleep(0.02)
            connections = int(client.info("clients")["connected_clients"])  # while they all wait
            farm.open_gate("crowd")
            local, remote = await waiting
            return local, remote, connections

        try:
            local, remote, connections = asyncio.run(scenario())
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        assert local == {"200": each}  # ready, every one: not a 503 among them
        assert remote == {"200": each}
        assert connections <= 10  # the servers' few for their work and a poll, and this test's own
        posts = [post_request([farm.url(f"/status/200?post={n}")]) for n in range(300)]
        assert asyncio.run(crowd(own.port, posts)) == {"201": 300}


def test_sigterm_answers_waiters_at_once_with_error_shutdown(store: RedisServer, farm: Farm) -> None:
    with crawler("--allow-private", "--redis", store.url) as server:
        task = submit(server, [farm.url("/gate/sigterm"), farm.url("/status/200?sigterm")])
        cache = redis.Redis.from_url(store.url)
        quick = f"crawler:cache:{Settings(allow_private=True).policy}:{farm.url('/status/200?sigterm')}"
        wait_until(lambda: cache.exists(quick), "the quick URL's code cached")
        farm.wait_for(lambda: farm.hits_of("/gate/sigterm") == 1, "the held fetch under way")
        with connect(server.port, timeout=15) as waiter, waiter.makefile("rb") as stream:
            waiter.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(stream).status == 200  # the connection is the server's: it answered on it
            waiter.sendall(f"GET /api/v1/tasks/{task}?wait=30 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            server.process.send_signal(signal.SIGTERM)
            answer = read_response(stream)  # within the socket's 15 s, not the 30 s it asked to wait
        assert server.process.wait(timeout=15) == -signal.SIGTERM  # uvicorn ends by the signal it got
    shown: dict[str, Any] = json.loads(answer.body)
    assert (shown["status"], shown["result"]) == ("ready", ["error:shutdown", 200])
    saved = redis.Redis.from_url(store.url).hget(f"crawler:task:{task}", "status")
    assert saved == b"ready"
    farm.open_gate("sigterm")


def test_server_py_imports_nothing_from_this_repository() -> None:
    source = (REPO / "FastAPI" / "server.py").read_text()
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            names.add((node.module or "").partition(".")[0])
    ours = {path.stem for path in REPO.iterdir() if path.suffix == ".py" or path.is_dir()} | {"audio_library"}
    assert names
    assert not names & ours


def test_server_py_runs_as_a_script_from_anywhere(tmp_path: Any) -> None:
    script = str(REPO / "FastAPI" / "server.py")
    ran = subprocess.run(
        [sys.executable, "-I", script, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 0, ran.stderr
    assert "--max-in-flight" in ran.stdout
