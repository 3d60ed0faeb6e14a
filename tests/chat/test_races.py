"""Races between server processes on one real redis-server: leave vs invite, invite vs invite, page vs page
and disconnect vs invite, each at least 200 times, with two and with three processes.

After every round: each client's last status line says the partner Redis has for it, a private line
reaches exactly its partner, and no PAGING arrives after another client typed. A racing command is
followed by a probe (a refused message, answered by the same process after the command is done), and
the round ends with an announcement that every client must see: events are applied in Redis's order, so
by then every client has been sent everything the race caused.
"""

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis.asyncio as aioredis

from devtools.chatters import Chatter
from devtools.redis_server import RedisServer, redis_server
from devtools.servers import RunningServer, chat_server
from tests.event_loop import run
from WebSocket.redis_scripts import PAGER, PARTNERS


ROUNDS = 200  # of each race
PROBE = "\x01"  # refused at once by the process that reads it, after what the client sent before
PROBED = "Message refused: "


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    with redis_server() as running:
        yield running


def last_status(lines: list[str]) -> str | None:
    """The partner a client's lines say it has: its last `Private chatting with X`, unless an end came after."""
    partner = None
    for line in lines:
        if line.startswith("Private chatting with "):
            partner = line.removeprefix("Private chatting with ")
        elif line == "Private chat ended." or line.endswith(" left; private chat ended."):
            partner = None
    return partner


class Race:
    """Four clients spread over the processes, a REST client for barriers, and Redis to compare with."""

    def __init__(self, servers: list[RunningServer], redis_url: str) -> None:
        self.servers = servers
        self.redis = aioredis.from_url(redis_url, decode_responses=True)
        self.rest = httpx.AsyncClient(base_url=servers[0].url)
        self.chatters = [Chatter(servers[index % len(servers)].port) for index in range(4)]
        self.barriers = itertools.count()
        self.failures: list[str] = []

    async def __aenter__(self) -> "Race":
        for chatter in self.chatters:
            await chatter.__aenter__()
        return self

    async def __aexit__(self, *_: object) -> None:
        for chatter in self.chatters:
            await chatter.__aexit__(None, None, None)
        await self.rest.aclose()
        await self.redis.aclose()

    async def probe(self, chatter: Chatter) -> None:
        """Wait until the process has done everything the client sent so far."""
        await chatter.send(PROBE)
        await chatter.expect(lambda line: line.startswith(PROBED))

    async def barrier(self, chatters: list[Chatter] | None = None) -> None:
        """Wait until every client has been sent every event published so far."""
        text = f"barrier {next(self.barriers)}"
        response = await self.rest.post("/api/v1/announcements", json={"text": text})
        assert response.status_code == 202
        await asyncio.gather(*(chatter.expect(f"Announcement: {text}") for chatter in chatters or self.chatters))

    async def check(self, what: str, chatters: list[Chatter] | None = None) -> None:
        """Once every racing command is done: statuses match Redis and each pair's private line reaches
        exactly the partner (after one barrier for both); then every pair ends."""
        chatters = chatters or self.chatters
        partners: dict[str, str] = await self.redis.hgetall(PARTNERS)  # type: ignore[assignment] # decoded
        by_name = {chatter.name: chatter for chatter in chatters}
        pairs = [(a, b) for a, b in partners.items() if a < b and a in by_name and b in by_name]
        marks = {chatter.name: len(chatter.seen) for chatter in chatters}
        for a, _ in pairs:
            await by_name[a].send(f"secret of {a} after {what}")
        await asyncio.gather(*(self.probe(by_name[a]) for a, _ in pairs))
        await self.barrier(chatters)
        for chatter in chatters:
            if last_status(chatter.seen) != partners.get(chatter.name):
                self.failures.append(
                    f"{what}: {chatter.name} says {last_status(chatter.seen)}, Redis {partners.get(chatter.name)}"
                )
        for a, b in pairs:
            secret = f"secret of {a} after {what}"
            for chatter in chatters:
                got = any(line.endswith(secret) for line in chatter.seen[marks[chatter.name] :])
                if got != (chatter.name == b):
                    self.failures.append(f"{what}: {chatter.name} {'got' if got else 'missed'} {secret!r}")
        for a, b in pairs:
            await by_name[a].send("leave")
            await asyncio.gather(by_name[a].expect("Private chat ended."), by_name[b].expect("Private chat ended."))

    async def leave_vs_invite(self, round_number: int) -> None:
        a, b, c, _ = self.chatters
        await a.send(f"invite {b.name}")
        await asyncio.gather(a.expect(f"Private chatting with {b.name}"), b.expect(f"Private chatting with {a.name}"))
        await asyncio.gather(a.send("leave"), c.send(f"invite {b.name}"))
        await asyncio.gather(self.probe(a), self.probe(c))
        await self.check(f"leave vs invite {round_number}")

    async def invite_vs_invite(self, round_number: int) -> None:
        a, b, c, _ = self.chatters
        target = c if round_number % 2 else b  # two inviting a third, or two inviting each other
        await asyncio.gather(a.send(f"invite {target.name}"), b.send(f"invite {(c if target is c else a).name}"))
        await asyncio.gather(self.probe(a), self.probe(b))
        await self.check(f"invite vs invite {round_number}")

    async def page_vs_page(self, round_number: int) -> None:
        a, b, c, d = self.chatters
        await asyncio.gather(a.send("page"), b.send("page"))
        await asyncio.gather(self.probe(a), self.probe(b))
        typed = f"typed after pages {round_number}"
        marks = {chatter.name: len(chatter.seen) for chatter in self.chatters}
        await c.send(typed)
        await self.probe(c)
        await self.barrier()
        for chatter in (a, b, d):
            lines = chatter.seen[marks[chatter.name] :]
            after = next((index for index, line in enumerate(lines) if line.endswith(typed)), None)
            if after is None:
                self.failures.append(f"page vs page {round_number}: {chatter.name} never got {typed!r}")
            elif "PAGING" in lines[after:]:
                self.failures.append(f"page vs page {round_number}: PAGING reached {chatter.name} after {typed!r}")
        if (pager := await self.redis.get(PAGER)) is not None:  # str: decoded
            self.failures.append(f"page vs page {round_number}: Redis still has {pager!r} paging")
        await self.check(f"page vs page {round_number}")

    async def disconnect_vs_invite(self, round_number: int) -> None:
        a, b, c, _ = self.chatters
        async with Chatter(self.servers[0].port) as leaving:
            await asyncio.gather(a.expect(f"{leaving.name} connected"), b.expect(f"{leaving.name} connected"))
            await asyncio.gather(leaving.ws.close(), b.send(f"invite {leaving.name}"))
        await self.probe(b)
        await c.expect(f"{leaving.name} left")
        await self.check(f"disconnect vs invite {round_number}")


@pytest.mark.parametrize("processes", [2, 3])
def test_racing_commands_on_several_processes_leave_one_agreed_room(redis: RedisServer, processes: int) -> None:
    flags = ("--redis", redis.url, "--presence-ttl", "2", "--rate", "1000", "--burst", "1000")
    with ExitStack() as stack:
        servers = [stack.enter_context(chat_server(*flags)) for _ in range(processes)]

        async def scenario() -> list[str]:
            async with Race(servers, redis.url) as race:
                races = (race.leave_vs_invite, race.invite_vs_invite, race.page_vs_page, race.disconnect_vs_invite)
                for round_number in range(ROUNDS):
                    for one in races:
                        await one(round_number)
                marks = {chatter.name: len(chatter.seen) for chatter in race.chatters}
                await asyncio.sleep(1.5)  # a page would be due within this second and a half
                await race.barrier()
                for chatter in race.chatters:
                    if "PAGING" in chatter.seen[marks[chatter.name] :]:
                        race.failures.append(f"the end: PAGING reached {chatter.name} with nobody paging")
                return race.failures

        failures = run(scenario())
    assert failures == [], f"{len(failures)} failures, first: {failures[:10]}"
