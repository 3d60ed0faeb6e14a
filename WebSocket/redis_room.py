"""One chatroom shared by several server processes through Redis (`server.py --redis URL`).

Redis keeps what the processes must agree on, each change one atomic script: the name counter (INCR), the
room (a hash of name -> "process since"), the private pairs, the pager, and each process's presence (a
sorted set of deadlines its heartbeat pushes forward). Every event is published on one channel, and every
process, the publisher included, applies the events in the order Redis delivers them, so they all show the
same room. A process whose heartbeat stops for longer than the presence TTL is dead to the others: the first
to notice removes its clients and tells the room they left.

If Redis cannot be reached, the process closes its clients with 1011 and refuses new ones (and the REST side
answers 503) until Redis answers again; it then rejoins the room under a new process id, and its old one's
clients are removed like a dead process's.
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from websockets.legacy.protocol import WebSocketCommonProtocol

from WebSocket.room import Client, Close, Event, Limits, Room, refusal


PREFIX = "chat:"
NAMES = f"{PREFIX}names"  # the counter behind "Client N"
CLIENTS = f"{PREFIX}clients"  # name -> "process since"
PARTNERS = f"{PREFIX}partners"  # name -> partner's name, both ways
PAGER = f"{PREFIX}pager"  # the pager's name
PROCESSES = f"{PREFIX}processes"  # process id -> deadline of its presence
CHANNEL = f"{PREFIX}events"
PRESENCE_TTL = 15.0
RETRY_INTERVAL = 1.0
UNAVAILABLE = (1011, "chat unavailable: its Redis cannot be reached; reconnect later")
REDIS_TIMEOUT = 5.0

log = logging.getLogger("uvicorn.error")

PAIR = """
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 then return {'absent', ''} end
if ARGV[1] == ARGV[2] then return {'self', ''} end
local mine = redis.call('HGET', KEYS[2], ARGV[1])
if mine then return {'busy_inviter', mine} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'busy_invitee', ''} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], ARGV[2], ARGV[1])
return {'ok', ''}
"""
UNPAIR = """
local partner = redis.call('HGET', KEYS[1], ARGV[1])
if not partner then return '' end
redis.call('HDEL', KEYS[1], ARGV[1], partner)
return partner
"""
FORGET = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
local partner = redis.call('HGET', KEYS[2], ARGV[1])
if partner then redis.call('HDEL', KEYS[2], ARGV[1], partner) else partner = '' end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) return {partner, 1} end
return {partner, 0}
"""
RELEASE_PAGER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""


class RoomUnavailableError(RuntimeError):
    """The room's Redis cannot be reached, or this process lost its place in the room."""


def members(process: str) -> str:
    return f"{PREFIX}members:{process}"


class RedisRoom(Room):
    """A room whose directory is in Redis and whose events go through Redis pub/sub to every process."""

    failures = (RedisError, OSError, RoomUnavailableError)

    def __init__(self, url: str, limits: Limits | None = None, presence_ttl: float = PRESENCE_TTL) -> None:
        super().__init__(limits)
        self.url = url
        self.presence_ttl = presence_ttl
        self.process = uuid.uuid4().hex
        self.available = False
        self.redis: aioredis.Redis = aioredis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True
        )
        # Its reads wait for the next event as long as the room is quiet: no socket timeout.
        self.listener: aioredis.Redis = aioredis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT, decode_responses=True
        )
        self.pair_script = self.redis.register_script(PAIR)
        self.unpair_script = self.redis.register_script(UNPAIR)
        self.forget_script = self.redis.register_script(FORGET)
        self.release_script = self.redis.register_script(RELEASE_PAGER)

    def require(self) -> None:
        if not self.available:
            raise RoomUnavailableError("the room's Redis cannot be reached")

    async def claim_name(self, protocol: WebSocketCommonProtocol, close: Close) -> Client:
        self.require()
        number = await self.redis.incr(NAMES)
        return Client(f"Client {number}", protocol, close, self.limits)

    async def register(self, client: Client) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(CLIENTS, client.name, f"{self.process} {client.connected_wall}")
            pipe.sadd(members(self.process), client.name)
            await pipe.execute()

    async def check_invitation(self, inviter: Client, name: str) -> str | None:
        code, partner = await self.pair_script(keys=[CLIENTS, PARTNERS], args=[inviter.name, name])
        return None if code == "ok" else refusal(code, name, partner)

    async def end_pairing(self, client: Client) -> str | None:
        partner: str = await self.unpair_script(keys=[PARTNERS], args=[client.name])
        return partner or None

    async def forget(self, client: Client) -> tuple[str | None, bool]:
        return await self.forget_name(client.name, self.process)

    async def forget_name(self, name: str, process: str) -> tuple[str | None, bool]:
        partner, paged = await self.forget_script(keys=[CLIENTS, PARTNERS, PAGER, members(process)], args=[name])
        return partner or None, bool(paged)

    async def claim_pager(self, client: Client) -> None:
        await self.redis.set(PAGER, client.name)

    async def release_pager(self, pager: str) -> bool:
        return bool(await self.release_script(keys=[PAGER], args=[pager]))

    async def roster(self) -> list[tuple[str, float]]:
        self.require()
        alive = set(await self.redis.zrangebyscore(PROCESSES, time.time(), "+inf"))
        entries = []
        room: dict[str, str] = await self.redis.hgetall(CLIENTS)  # type: ignore[assignment] # str: decode_responses
        for name, value in room.items():
            process, _, since = value.partition(" ")
            if process in alive:
                entries.append((name, float(since)))
        return sorted(entries, key=lambda entry: int(entry[0].removeprefix("Client ")))

    async def publish(self, event: Event) -> None:
        self.require()
        await self.redis.publish(CHANNEL, json.dumps(event))

    async def recipients(self) -> int:
        self.require()
        return int(await self.redis.hlen(CLIENTS))

    # Keeping this process in the room.

    async def run(self) -> None:
        """Apply the room's events and keep this process present, forever; rejoin after Redis comes back."""
        warned = False
        while True:
            try:
                await self.serve()
            except (RedisError, OSError, RoomUnavailableError) as error:
                if self.available or not warned:  # once an outage, not once a retry
                    log.warning("chat: Redis at %s unreachable (%s); clients closed until it answers", self.url, error)
                warned = True
            self.available = False
            for client in self.clients.values():
                client.present = False  # their names go with this process id's presence
            await self.close_all(*UNAVAILABLE)
            self.clients.clear()
            self.process = uuid.uuid4().hex  # the old id's clients are reaped once its presence expires
            await asyncio.sleep(RETRY_INTERVAL)

    async def serve(self) -> None:
        async with self.listener.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            pager = await self.redis.get(PAGER)
            self.pager = str(pager) if pager is not None else None
            await self.beat(first=True)
            self.available = True
            log.warning("chat: sharing the room through Redis at %s as process %s", self.url, self.process)
            heart = asyncio.ensure_future(self.keep_beating())
            events = asyncio.ensure_future(self.apply_events(pubsub))
            try:
                done, _ = await asyncio.wait((heart, events), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                heart.cancel()
                events.cancel()

    async def apply_events(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                self.apply(json.loads(message["data"]))

    async def keep_beating(self) -> None:
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            await self.beat(first=False)

    async def beat(self, *, first: bool) -> None:
        """Push this process's deadline forward; remove the clients of processes whose deadline has passed."""
        now = time.time()
        added = await self.redis.zadd(PROCESSES, {self.process: now + self.presence_ttl})
        if added and not first:
            raise RoomUnavailableError("this process was taken for dead and its clients removed from the room")
        dead_ones: list[str] = await self.redis.zrangebyscore(PROCESSES, "-inf", now)  # type: ignore[assignment]
        for dead in dead_ones:
            if await self.redis.zrem(PROCESSES, dead):  # only the process that removes it tells the room
                names: set[str] = await self.redis.smembers(members(dead))  # type: ignore[assignment]
                for name in names:
                    await self.depart(name, *await self.forget_name(name, dead))
                await self.redis.delete(members(dead))

    async def stop(self) -> None:
        """Leave the room on shutdown: this process's presence goes at once, its clients were parted."""
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(PROCESSES, self.process)
        await self.redis.aclose()
        await self.listener.aclose()
