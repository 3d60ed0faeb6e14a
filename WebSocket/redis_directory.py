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


PREFIX = "chat:"
EPOCH = f"{PREFIX}epoch"  # "<run id>/<random>": the state below belongs to it
READY = f"{PREFIX}ready"  # Redis time (ms) from which the epoch may issue names
NAMES = f"{PREFIX}names"  # the counter behind "Client N"
CLIENTS = f"{PREFIX}clients"  # name -> "process since"
PARTNERS = f"{PREFIX}partners"  # name -> partner's name, both ways
PAGER = f"{PREFIX}pager"  # the pager's name
PROCESSES = f"{PREFIX}processes"  # process id -> deadline of its presence (Redis time, ms)
CHANNEL = f"{PREFIX}events"
LISTENER = f"{PREFIX}listener:"  # + process id: the name of a process's subscribed connection
STATE = (READY, NAMES, CLIENTS, PARTNERS, PAGER, PROCESSES)
PRESENCE_TTL = 5.0
RETRY_INTERVAL = 1.0
REDIS_TIMEOUT = 5.0
UNAVAILABLE = (1011, "chat unavailable: its Redis cannot be reached; reconnect later")
RESTARTED = (1012, "chat restarted: its Redis lost the room; reconnect")
LOST = "LOST"  # the error a script answers under another epoch than its caller's

log = logging.getLogger("uvicorn.error")

# Every script but BEGIN starts with this: ARGV[1] is the caller's epoch.
DEFINITIONS = f"""
if redis.call('GET', '{EPOCH}') ~= ARGV[1] then return redis.error_reply('{LOST} the room has another epoch') end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function emit(event)
  event.epoch = ARGV[1]
  redis.call('PUBLISH', '{CHANNEL}', cjson.encode(event))
end
local function unpage_unless(actor)
  local pager = redis.call('GET', '{PAGER}')
  if pager and pager ~= actor then
    redis.call('DEL', '{PAGER}')
    emit({{kind = 'unpaged', pager = pager}})
  end
end
local function part(name)
  if redis.call('HDEL', '{CLIENTS}', name) == 0 then return end
  local partner = redis.call('HGET', '{PARTNERS}', name)
  if partner then redis.call('HDEL', '{PARTNERS}', name, partner) else partner = '' end
  if redis.call('GET', '{PAGER}') == name then
    redis.call('DEL', '{PAGER}')
    emit({{kind = 'unpaged', pager = name}})
  end
  emit({{kind = 'left', name = name, partner = partner}})
end
local function reap()
  local dead = redis.call('ZRANGEBYSCORE', '{PROCESSES}', '-inf', '(' .. now)
  if #dead == 0 then return end
  local gone = {{}}
  for _, process in ipairs(dead) do
    gone[process] = true
    redis.call('ZREM', '{PROCESSES}', process)
  end
  local room = redis.call('HGETALL', '{CLIENTS}')
  for i = 1, #room, 2 do
    if gone[string.match(room[i + 1], '^%S+')] then part(room[i]) end
  end
end
"""
PRELUDE = f"""{DEFINITIONS}
reap()
"""

# ARGV: run id, a new epoch's random part, grace (ms). Joins the epoch of this Redis run, or starts one.
BEGIN = f"""
local epoch = redis.call('GET', '{EPOCH}')
if epoch and string.sub(epoch, 1, #ARGV[1] + 1) == ARGV[1] .. '/' then return epoch end
redis.call('DEL', '{"', '".join(STATE)}')
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
epoch = ARGV[1] .. '/' .. ARGV[2]
redis.call('SET', '{EPOCH}', epoch)
redis.call('SET', '{READY}', now + tonumber(ARGV[3]))
return epoch
"""
# ARGV: epoch, process, ttl (ms), "1" for the first beat. "reaped" if the process was taken for dead.
BEAT = f"""{PRELUDE}
if ARGV[4] ~= '1' and not redis.call('ZSCORE', '{PROCESSES}', ARGV[2]) then return 'reaped' end
redis.call('ZADD', '{PROCESSES}', now + tonumber(ARGV[3]), ARGV[2])
return 'ok'
"""
# ARGV: epoch, process, token, since. {"wait", ms} while the epoch may not name anyone yet.
JOIN = f"""{PRELUDE}
if not redis.call('ZSCORE', '{PROCESSES}', ARGV[2]) then return redis.error_reply('{LOST} this process was reaped') end
local ready = tonumber(redis.call('GET', '{READY}') or '0')
if now < ready then return {{'wait', ready - now}} end
local name = 'Client ' .. redis.call('INCR', '{NAMES}')
redis.call('HSET', '{CLIENTS}', name, ARGV[2] .. ' ' .. ARGV[4])
emit({{kind = 'joined', name = name, token = ARGV[3]}})
return {{'ok', name}}
"""
# ARGV: epoch, process ids whose processes no longer listen: they are dead, whatever their deadline.
BURY = f"""{DEFINITIONS}
for i = 2, #ARGV do
  if redis.call('ZSCORE', '{PROCESSES}', ARGV[i]) then redis.call('ZADD', '{PROCESSES}', 0, ARGV[i]) end
end
reap()
return 1
"""
# ARGV: epoch, process, name. Only the process that holds the name parts it.
PART = f"""{PRELUDE}
local holder = redis.call('HGET', '{CLIENTS}', ARGV[3])
if holder and string.match(holder, '^%S+') == ARGV[2] then part(ARGV[3]) end
return 1
"""
# ARGV: epoch, sender, line.
SAY = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
unpage_unless(ARGV[2])
emit({{kind = 'said', sender = ARGV[2], line = ARGV[3], to = redis.call('HGET', '{PARTNERS}', ARGV[2]) or ''}})
return 1
"""
# ARGV: epoch, inviter, invitee. {code, partner}: code "ok" or a refusal's.
INVITE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return {{'absent', ''}} end
unpage_unless(ARGV[2])
if redis.call('HEXISTS', '{CLIENTS}', ARGV[3]) == 0 then return {{'absent', ''}} end
if ARGV[2] == ARGV[3] then return {{'self', ''}} end
local mine = redis.call('HGET', '{PARTNERS}', ARGV[2])
if mine then return {{'busy_inviter', mine}} end
if redis.call('HEXISTS', '{PARTNERS}', ARGV[3]) == 1 then return {{'busy_invitee', ''}} end
redis.call('HSET', '{PARTNERS}', ARGV[2], ARGV[3], ARGV[3], ARGV[2])
emit({{kind = 'paired', a = ARGV[2], b = ARGV[3]}})
return {{'ok', ''}}
"""
# ARGV: epoch, name. 1 if it was in a private chat, which has ended.
LEAVE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
unpage_unless(ARGV[2])
local partner = redis.call('HGET', '{PARTNERS}', ARGV[2])
if not partner then return 0 end
redis.call('HDEL', '{PARTNERS}', ARGV[2], partner)
emit({{kind = 'unpaired', a = ARGV[2], b = partner}})
return 1
"""
# ARGV: epoch, name.
PAGE = f"""{PRELUDE}
if redis.call('HEXISTS', '{CLIENTS}', ARGV[2]) == 0 then return 0 end
redis.call('SET', '{PAGER}', ARGV[2])
emit({{kind = 'paged', pager = ARGV[2]}})
return 1
"""
# ARGV: epoch, pager. 1 if it still pages and one page went out.
PAGING = f"""{PRELUDE}
if redis.call('GET', '{PAGER}') ~= ARGV[2] then return 0 end
emit({{kind = 'paging', pager = ARGV[2]}})
return 1
"""
# ARGV: epoch, text. How many clients the room has.
ANNOUNCE = f"""{PRELUDE}
emit({{kind = 'announced', text = ARGV[2]}})
return redis.call('HLEN', '{CLIENTS}')
"""
# ARGV: epoch. name, "process since", name, ...
ROSTER = f"""{PRELUDE}
return redis.call('HGETALL', '{CLIENTS}')
"""
# ARGV: epoch, process. The process leaves: its clients leave the room.
STOP = f"""{PRELUDE}
redis.call('ZREM', '{PROCESSES}', ARGV[2])
local room = redis.call('HGETALL', '{CLIENTS}')
for i = 1, #room, 2 do
  if string.match(room[i + 1], '^%S+') == ARGV[2] then part(room[i]) end
end
return 1
"""


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
                await asyncio.wait_for(self.beat(first=False, run_id=run_id), self.presence_ttl / 3)
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
