"""Two server processes sharing one room through one real redis-server (--redis), with clients on each."""

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from devtools.chatters import DEADLINE, Chatter, said
from devtools.redis_server import RedisServer, redis_server
from devtools.servers import CHAT_SERVER, LOOPBACK, REPO, RunningServer, chat_server, free_port
from tests.event_loop import run


# Heartbeats every second; a process silent for 3 s is taken for dead. Short, yet long enough for a loaded box.
TTL = "2"
UNAVAILABLE = (1011, "chat unavailable: its Redis cannot be reached; reconnect later")
Pair = tuple[RunningServer, RunningServer]


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


def shared_server(redis_url: str) -> AbstractContextManager[RunningServer]:
    return chat_server("--redis", redis_url, "--presence-ttl", TTL, "--rate", "200", "--burst", "400")


@pytest.fixture(scope="module")
def servers(redis: RedisServer) -> Iterator[Pair]:
    with shared_server(redis.url) as one, shared_server(redis.url) as two:
        yield one, two


async def roster(server: RunningServer) -> set[str]:
    async with httpx.AsyncClient(base_url=server.url) as rest:
        response = await rest.get("/api/v1/clients")
    assert response.status_code == 200
    return {entry["name"] for entry in response.json()["clients"]}


def test_names_messages_stamps_and_the_roster_span_both_processes(servers: Pair) -> None:
    one, two = servers

    async def scenario() -> None:
        async with Chatter(one.port) as a, Chatter(two.port) as b:
            await a.expect(f"{b.name} connected")
            async with Chatter(one.port) as c:
                assert len({a.name, b.name, c.name}) == 3
                await b.expect(f"{c.name} connected")
                await a.send("pizza later?")
                assert said(a.name, "pizza later?")(await b.expect(lambda line: "pizza" in line))
                assert said(a.name, "pizza later?")(await c.expect(lambda line: "pizza" in line))
                connected = time.monotonic()
                await asyncio.sleep(1.2)  # time has to pass for the stamp to count it
                await b.send("or maybe pasta")
                # Lines arrive in order: had a got its own message back, it would come before this one.
                line = await a.expect(lambda line: ": " in line)
                assert line.endswith(f"{b.name}: or maybe pasta")
                assert 1 <= int(line.split(" ", 1)[0]) <= int(time.monotonic() - connected) + 2
                for server in servers:
                    assert {a.name, b.name, c.name} <= await roster(server)
            await b.expect(f"{c.name} left")
            await a.expect(f"{c.name} left")

    run(scenario())


def test_a_page_reaches_both_processes_until_someone_anywhere_types(servers: Pair) -> None:
    one, two = servers

    async def scenario() -> None:
        async with Chatter(one.port) as pager, Chatter(two.port) as far, Chatter(one.port) as near:
            await pager.send("page")
            await far.expect("PAGING")
            first = time.monotonic()
            await far.expect("PAGING")
            assert 0.6 <= time.monotonic() - first <= 1.8
            await near.expect("PAGING")
            await far.send("stop it")
            # Once the pager sees it, the stop has gone out before it, to every process.
            await pager.expect(lambda line: line.endswith(f"{far.name}: stop it"))
            await pager.send("marker")
            for other in (far, near):
                await other.expect(lambda line: line.endswith(": marker"))
            await asyncio.sleep(1.5)  # a page would be due within this second and a half
            await pager.send("after")
            for other in (far, near):
                assert (await other.recv()).endswith(": after")
            assert "PAGING" not in pager.seen

    run(scenario())


def test_private_chats_work_between_processes_and_end_on_leave_or_disconnect(servers: Pair) -> None:
    one, two = servers

    async def scenario() -> None:
        async with Chatter(one.port) as a, Chatter(two.port) as c, Chatter(one.port) as witness:
            async with Chatter(two.port) as b:
                await a.send(f"invite {b.number}")
                assert await b.expect(lambda line: line.startswith("Private")) == f"Private chatting with {a.name}"
                assert await a.expect(lambda line: line.startswith("Private")) == f"Private chatting with {b.name}"
                await b.send("secret")
                assert said(b.name, "secret")(await a.expect(lambda line: ": " in line))
                await c.send(f"invite {a.name}")
                assert await c.expect(lambda line: "already" in line) == f"{a.name} is already in a private chat"
                await c.send("public")
                # c's line and a's leave come from two processes: only once a third client has the line is it
                # in the room's order before the leave, and so not for a, who was private when it was said.
                await witness.expect(lambda line: line.endswith(f"{c.name}: public"))
                await a.send("leave")
                assert await a.expect(lambda line: line.startswith("Private")) == "Private chat ended."
                assert await b.expect(lambda line: line.startswith("Private")) == "Private chat ended."
                await a.send("back")
                assert (await c.expect(lambda line: ": " in line)).endswith(f"{a.name}: back")
                await b.send(f"invite {a.number}")
                await a.expect(f"Private chatting with {b.name}")
            assert await a.expect(lambda line: b.name in line) == f"{b.name} left; private chat ended."
            await a.send("in the room again")
            assert (await c.expect(lambda line: ": " in line)).endswith(f"{a.name}: in the room again")
            assert not any("secret" in line for line in c.seen)
            assert not any("public" in line for line in a.seen)

    run(scenario())


def test_announcements_through_either_process_reach_everyone(servers: Pair) -> None:
    one, two = servers

    async def scenario() -> None:
        async with Chatter(one.port) as a, Chatter(two.port) as b, httpx.AsyncClient() as rest:
            for server in servers:
                response = await rest.post(f"{server.url}/api/v1/announcements", json={"text": f"via {server.port}"})
                assert response.status_code == 202
                assert response.json()["recipients"] >= 2
                for chatter in (a, b):
                    await chatter.expect(f"Announcement: via {server.port}")

    run(scenario())


def test_a_process_that_dies_leaves_no_ghosts(servers: Pair, redis: RedisServer) -> None:
    one, two = servers

    async def scenario(doomed: RunningServer) -> None:
        async with Chatter(one.port) as a, Chatter(two.port) as b:
            async with Chatter(doomed.port) as d, Chatter(doomed.port) as e:
                await d.send(f"invite {a.number}")
                await a.expect(f"Private chatting with {d.name}")
                await e.send("page")
                await b.expect("PAGING")
                doomed.process.kill()
                # Within a few seconds (the TTL, 2 s here), not 19: the next step after the deadline reaps them.
                left = await a.expect(lambda line: d.name in line, timeout=4 * float(TTL))
                assert left == f"{d.name} left; private chat ended."
                await b.expect(f"{e.name} left")
                await b.send(f"invite {e.name}")
                await b.expect(f"No such client: {e.name}")
            await a.send("marker")
            await b.expect(lambda line: line.endswith(f"{a.name}: marker"))
            await asyncio.sleep(1.5)  # a page would be due within this second and a half
            await a.send("after")
            assert (await b.recv()).endswith(f"{a.name}: after")
            for server in servers:
                assert not {d.name, e.name} & await roster(server)

    with shared_server(redis.url) as doomed:
        run(scenario(doomed))


def test_without_redis_the_server_says_so_and_recovers_when_it_returns(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # not started yet: nothing listens at its URL
    refused = subprocess.run(
        [sys.executable, CHAT_SERVER, "--port", str(free_port()), "--redis", redis.url],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"server.py: cannot reach Redis at {redis.url}: ")
    assert len(refused.stderr.splitlines()) == 1

    async def scenario(server: RunningServer) -> None:
        async with Chatter(server.port) as a:
            redis.stop()
            assert await a.closed_with() == UNAVAILABLE
        async with httpx.AsyncClient(base_url=server.url) as rest:
            response = await rest.get("/api/v1/clients")
        assert response.status_code == 503
        assert response.json()["detail"].startswith(UNAVAILABLE[1])
        async with connect(f"ws://{LOOPBACK}:{server.port}/") as refused_client:
            with pytest.raises(ConnectionClosed) as closed:
                await refused_client.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == UNAVAILABLE
        redis.start()
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                async with Chatter(server.port) as back:
                    assert back.name.startswith("Client ")
                    break
            except (ConnectionClosed, asyncio.TimeoutError):
                assert time.monotonic() < deadline, "the server never came back after Redis did"
                await asyncio.sleep(0.2)
        assert server.process.poll() is None

    redis.start()
    try:
        with chat_server("--redis", redis.url, "--presence-ttl", TTL) as server:
            run(scenario(server))
    finally:
        redis.stop()
