"""The room's directory in Redis, for several server processes sharing one room (`server.py --redis URL`).

Every step is one Lua script: it checks the room's epoch, removes the clients of dead processes, checks
what it expects, changes the state and publishes its events on one channel, all at once. Redis runs one
script at a time and delivers a channel's messages in the order they were published, so every process,
the publisher included, applies the same events in the same order: the order Redis decided.

Names stay unique while clients hold them, even if Redis loses its data. The room's state lives under an
*epoch* (`chat:epoch`, "<redis run id>/<random>"). Every script refuses to run under another epoch than its
caller's; a process that is refused, or whose heartbeat finds Redis restarted (another run id: a restart
from empty or from a stale dump), closes all its clients and starts or joins a new epoch. A new epoch
issues no name for one presence TTL: by then every process that held names under the old one has found
out at a heartbeat (every TTL/3) and closed its clients, or has been unable to beat for a whole TTL and
closed them for that.

A process is present while its deadline (`chat:processes`, Redis time) is ahead; its heartbeat pushes it
forward. Any script that runs after a deadline has passed first removes that process's clients from the
room and tells the room they left: nobody can invite them or count them as recipients after that.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError, ResponseError

from WebSocket.directory import Sink, name_number, refusal
from WebSocket.events import EventError, decode
from WebSocket.redis_scripts import (
    ANNOUNCE,
    BEAT,
    BEGIN,
    BURY,
    CHANNEL,
    INVITE,
    JOIN,
    LEAVE,
    LISTENER,
    LOST,
    PAGE,
    PAGING,
    PART,
    PROCESSES,
    ROSTER,
    SAY,
    STOP,
)


PRESENCE_TTL = 5.0
RETRY_INTERVAL = 1.0
REDIS_TIMEOUT = 5.0
UNAVAILABLE = (1011, "chat unavailable: its Redis cannot be reached; reconnect later")
RESTARTED = (1012, "chat restarted: its Redis lost the room; reconnect")

log = logging.getLogger("uvicorn.error")


class RoomUnavailableError(RuntimeError):
    """The room's Redis cannot be reached, or this process lost its place in the room."""


class RedisDirectory:
    """The directory of a room shared through Redis; `run` keeps this process in it, for as long as it serves."""

    failures: tuple[type[Exception], ...] = (RedisError, OSError, RoomUnavailableError)

    def __init__(self, url: str, presence_ttl: float = PRESENCE_TTL) -> None:
        self.url = url
        self.presence_ttl = presence_ttl
        self.process = uuid.uuid4().hex
        self.epoch = ""
        self.available = False
        self.sink: Sink | None = None
        self.lost_epoch = asyncio.Event()
        self.keeper: asyncio.Task[None] | None = None
        self.redis: aioredis.Redis = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True
        )
        script = self.redis.register_script
        self.scripts: dict[str, AsyncScript] = {
            name: script(source)
            for name, source in (
                ("begin", BEGIN), ("beat", BEAT), ("join", JOIN), ("part", PART), ("say", SAY),
                ("invite", INVITE), ("leave", LEAVE), ("page", PAGE), ("paging", PAGING),
                ("announce", ANNOUNCE), ("roster", ROSTER), ("stop", STOP), ("bury", BURY),
            )
        }  # fmt: skip

    def attach(self, sink: Sink) -> None:
        self.sink = sink

    async def step(self, script: str, *args: str | float) -> Any:
        """Run one script under this process's epoch; a refusal for another epoch makes the process start over."""
        if not self.available:
            raise RoomUnavailableError("the room's Redis cannot be reached")
        return await self.call(script, *args)

    async def call(self, script: str, *args: str | float) -> Any:
        try:
            return await self.scripts[script](args=[self.epoch, *args])
        except ResponseError as error:
            if str(error).startswith(LOST):
                self.lost_epoch.set()
                raise RoomUnavailableError(str(error)) from error
            raise

    # The directory's steps.

    async def join(self, token: str, since: float) -> None:
        deadline = time.monotonic() + self.presence_ttl * 2 + REDIS_TIMEOUT
        while True:
            answer, value = await self.step("join", self.process, token, repr(since))
            if answer != "wait":
                return
            if time.monotonic() > deadline:
                raise RoomUnavailableError("the room's new epoch did not open in time")
            await asyncio.sleep(min(int(value), 1000) / 1000)

    async def part(self, name: str) -> None:
        await self.step("part", self.process, name)

    async def say(self, sender: str, line: str) -> None:
        await self.step("say", sender, line)

    async def invite(self, inviter: str, invitee: str) -> str | None:
        code, partner = await self.step("invite", inviter, invitee)
        return None if code == "ok" else refusal(code, invitee, partner)

    async def leave(self, name: str) -> bool:
        return bool(await self.step("leave", name))

    async def page(self, name: str) -> None:
        await self.step("page", name)

    async def paging(self, pager: str) -> bool:
        return bool(await self.step("paging", pager))

    async def announce(self, text: str) -> int:
        return int(await self.step("announce", text))

    async def roster(self) -> list[tuple[str, float]]:
        flat: list[str] = await self.step("roster")
        entries = [(name, float(value.partition(" ")[2])) for name, value in zip(flat[::2], flat[1::2], strict=True)]
        return sorted(entries, key=lambda entry: name_number(entry[0]))

    # Keeping this process in the room.

    async def open(self) -> None:
        """Join the room and keep this process in it; raises if Redis does not answer in time."""
        self.keeper = asyncio.ensure_future(self.run())
        deadline = time.monotonic() + REDIS_TIMEOUT * 2
        while not self.available and time.monotonic() < deadline and not self.keeper.done():
            await asyncio.sleep(0.02)
        if not self.available:
            self.keeper.cancel()
            raise RoomUnavailableError(f"could not join the room through Redis at {self.url}")

    async def run(self) -> None:
        """Apply the room's events and keep this process present, forever; start over when that fails."""
        warned = False
        while True:
            closing = UNAVAILABLE
            try:
                await self.serve()
            except RoomUnavailableError as error:
                log.warning("chat: %s; closing this process's clients and rejoining", error)
                closing = RESTARTED
            except (RedisError, OSError, EventError) as error:
                if self.available or not warned:  # once an outage, not once a retry
                    log.warning("chat: Redis at %s unreachable (%s); clients closed until it answers", self.url, error)
                warned = True
            self.available = False
            assert self.sink is not None, "attach the room first"
            self.sink.lost(*closing)
            self.process = uuid.uuid4().hex  # the old id's clients are reaped once its deadline passes
            if closing is UNAVAILABLE:
                await asyncio.sleep(RETRY_INTERVAL)

    async def serve(self) -> None:
        # Its reads wait for the next event as long as the room is quiet: no socket timeout. Its connection
        # is named for this process: while it is open, the process is alive (see `bury_the_silent`).
        listener = aioredis.from_url(
            self.url, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True, client_name=LISTENER + self.process
        )
        async with listener, listener.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            run_id = str((await self.redis.info("server"))["run_id"])
            grace = int(self.presence_ttl * 1000)
            self.epoch = await self.scripts["begin"](args=[run_id, uuid.uuid4().hex, grace])
            self.lost_epoch.clear()
            await self.beat(first=True, run_id=run_id)
            self.available = True
            log.warning("chat: sharing the room through Redis at %s as process %s", self.url, self.process)
            tasks = [
                asyncio.ensure_future(self.keep_beating(run_id)),
                asyncio.ensure_future(self.apply_events(pubsub)),
                asyncio.ensure_future(self.lost_epoch.wait()),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                raise RoomUnavailableError("Redis has lost the room's state")
            finally:
                for task in tasks:
                    task.cancel()

    async def apply_events(self, pubsub: PubSub) -> None:
        assert self.sink is not None, "attach the room first"
        async for message in pubsub.listen():
            if message["type"] == "message":
                epoch, event = decode(message["data"])
                if epoch == self.epoch:
                    self.sink.apply(event)

    async def keep_beating(self, run_id: str) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            try:
                # A third of the TTL between beats and at most half for one: a process that cannot confirm
                # its epoch closes its clients before a new epoch may give their names (one TTL).
                await asyncio.wait_for(self.beat(first=False, run_id=run_id), self.presence_ttl / 2)
            except asyncio.TimeoutError as error:
                raise RoomUnavailableError("Redis did not answer a heartbeat in time") from error

    async def beat(self, *, first: bool, run_id: str) -> None:
        """Push this process's deadline forward; find out if Redis restarted or took this process for dead."""
        if str((await self.redis.info("server"))["run_id"]) != run_id:
            raise RoomUnavailableError("Redis restarted")
        ttl = int(self.presence_ttl * 1000)
        if await self.call("beat", self.process, ttl, "1" if first else "0") == "reaped":
            raise RoomUnavailableError("this process was taken for dead and its clients removed from the room")
        await self.bury_the_silent()

    async def bury_the_silent(self) -> None:
        """Reap at once the processes whose subscribed connection has closed: killed ones, before their deadline.

        A process subscribes before it first beats and starts over under a new id when that connection
        drops, so a process id in the room without its connection is a process that is gone.
        """
        present: list[str] = await self.redis.zrange(PROCESSES, 0, -1)  # type: ignore[assignment] # decoded
        listening = {
            str(connection.get("name", "")).removeprefix(LISTENER)
            for connection in await self.redis.client_list(_type="pubsub")
        }
        if silent := [process for process in present if process not in listening]:
            await self.call("bury", *silent)

    async def close(self) -> None:
        """Leave the room on shutdown: this process's clients leave it at once."""
        if self.keeper is not None:
            self.keeper.cancel()
        with contextlib.suppress(*self.failures):
            await self.step("stop", self.process)
        await self.redis.aclose()
