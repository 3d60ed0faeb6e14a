"""Redis losing the room: FLUSHALL, a restart from empty and a restart from a stale dump, with clients on
two processes. Clients holding names are closed before any of their names is given again: no two live
clients ever share a name, and the room serves again."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from devtools.chatters import DEADLINE, Chatter
from devtools.redis_server import RedisServer
from devtools.servers import RunningServer, chat_server
from tests.event_loop import run


TTL = "2"
Disaster = Callable[[RedisServer], None]


def flushall(server: RedisServer) -> None:
    with redis.Redis.from_url(server.url) as client:
        client.flushall()


def restart_empty(server: RedisServer) -> None:
    server.stop()
    server.start()


def restart_from_stale_dump(server: RedisServer) -> None:
    server.stop()  # without saving: the dump on disk is the one SAVEd before the newer clients came
    server.start()


@pytest.fixture
def redis_in(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def join(port: int, stack: list[Chatter]) -> tuple[Chatter, float]:
    """A client that keeps trying until the room welcomes it; when it was welcomed."""
    deadline = time.monotonic() + DEADLINE * 2
    while True:
        chatter = Chatter(port)
        try:
            await chatter.__aenter__()
        except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError):  # while the room starts over
            assert time.monotonic() < deadline, "the room never served again"
            await asyncio.sleep(0.1)
            continue
        stack.append(chatter)
        return chatter, time.monotonic()


async def closed_at(chatter: Chatter) -> tuple[int, float]:
    code, _ = await chatter.closed_with(timeout=DEADLINE * 2)
    return code, time.monotonic()


@pytest.mark.parametrize("disaster", [flushall, restart_empty, restart_from_stale_dump])
def test_redis_losing_the_room_never_gives_a_held_name_twice(redis_in: RedisServer, disaster: Disaster) -> None:
    flags = ("--redis", redis_in.url, "--presence-ttl", TTL)
    with ExitStack() as stack:
        servers = [stack.enter_context(chat_server(*flags)) for _ in range(2)]
        run(scenario(servers, redis_in, disaster))


async def scenario(servers: list[RunningServer], redis_server: RedisServer, disaster: Disaster) -> None:
    chatters: list[Chatter] = []
    try:
        early = [(await join(server.port, chatters))[0] for server in servers]
        if disaster is restart_from_stale_dump:
            with redis.Redis.from_url(redis_server.url) as client:
                client.save()  # the dump knows only the early clients' names
        old = early + [(await join(server.port, chatters))[0] for server in servers for _ in range(2)]
        closings = [asyncio.ensure_future(closed_at(chatter)) for chatter in old]
        await asyncio.to_thread(disaster, redis_server)
        # All on the first process: the second finds out only from its own heartbeat.
        joins: list[Awaitable[tuple[Chatter, float]]] = [join(servers[0].port, chatters) for _ in range(8)]
        new = await asyncio.gather(*joins)
        closed = await asyncio.gather(*closings)
        assert {code for code, _ in closed} <= {1011, 1012}
        held_until = {chatter.name: when for chatter, (_, when) in zip(old, closed, strict=True)}
        for chatter, welcomed in new:
            if chatter.name in held_until:
                assert held_until[chatter.name] < welcomed, f"{chatter.name} given while still held"
        names = [chatter.name for chatter, _ in new]
        assert len(set(names)) == len(names)
        async with httpx.AsyncClient() as rest:
            for server in servers:
                listed = [entry["name"] for entry in (await rest.get(f"{server.url}/api/v1/clients")).json()["clients"]]
                assert sorted(listed) == sorted(names)
        a, b = new[0][0], new[1][0]
        await a.send(f"invite {b.name}")
        await b.expect(f"Private chatting with {a.name}")
    finally:
        for chatter in chatters:
            if chatter.connection is not None:
                await chatter.connection.close()
