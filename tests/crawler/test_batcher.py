"""The Batcher that turns the fetches' Redis calls into pipelines."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from FastAPI.server import Batcher
from tests.event_loop import run


async def doubled(keys: list[int], calls: list[list[int]]) -> list[int]:
    calls.append(keys)
    await asyncio.sleep(0.01)
    return [key * 2 for key in keys]


def test_calls_made_together_and_while_one_is_out_are_batched() -> None:
    async def scenario() -> list[list[int]]:
        calls: list[list[int]] = []
        batcher: Batcher[int, int] = Batcher(lambda keys: doubled(keys, calls), most=3)
        first = asyncio.gather(*(batcher(n) for n in range(5)))
        await asyncio.sleep(0.001)  # the first batch is out: these wait for the next
        later = asyncio.gather(batcher(10), batcher(11))
        assert await first == [0, 2, 4, 6, 8]
        assert list(await later) == [20, 22]
        return calls

    assert run(scenario()) == [[0, 1, 2], [3, 4, 10], [11]]


def test_each_caller_gets_the_error_and_a_cancelled_one_harms_none() -> None:
    async def failing(keys: list[int]) -> list[int]:
        raise RedisConnectionError("Redis went away")

    async def scenario() -> int:
        broken = Batcher(failing)
        results = await asyncio.gather(broken(1), broken(2), return_exceptions=True)
        assert all(isinstance(result, RedisConnectionError) for result in results)
        calls: list[list[int]] = []
        batcher: Batcher[int, int] = Batcher(lambda keys: doubled(keys, calls))
        gone, kept = asyncio.ensure_future(batcher(1)), asyncio.ensure_future(batcher(2))
        await asyncio.sleep(0.001)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert run(scenario()) == 4
