"""The Batcher that turns the fetches' Redis calls into pipelines."""

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from FastAPI.server import Batcher
from tests.event_loop import run


class Doubler:
    """A batch call that records its keys and answers only once the test lets it: a call stays out until then."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.out = asyncio.Event()  # a call has been made
        self.answer = asyncio.Event()

    async def __call__(self, keys: list[int]) -> list[int]:
        self.calls.append(keys)
        self.out.set()
        await self.answer.wait()
        return [key * 2 for key in keys]


def test_calls_made_together_and_while_one_is_out_are_batched() -> None:
    async def scenario() -> list[list[int]]:
        doubler = Doubler()
        batcher: Batcher[int, int] = Batcher(doubler, most=3)
        first = asyncio.gather(*(batcher(n) for n in range(5)))
        await doubler.out.wait()  # the first batch is out: these wait for the next
        later = asyncio.gather(batcher.submit(10), batcher.submit(11))
        doubler.answer.set()
        assert await first == [0, 2, 4, 6, 8]
        assert list(await later) == [20, 22]
        return doubler.calls

    assert run(scenario()) == [[0, 1, 2], [3, 4, 10], [11]]


def test_each_caller_gets_the_error_and_a_cancelled_one_harms_none() -> None:
    async def failing(keys: list[int]) -> list[int]:
        raise RedisConnectionError("Redis went away")

    async def scenario() -> int:
        broken = Batcher(failing)
        results = await asyncio.gather(broken(1), broken(2), return_exceptions=True)
        assert all(isinstance(result, RedisConnectionError) for result in results)
        doubler = Doubler()
        batcher: Batcher[int, int] = Batcher(doubler)
        gone, kept = asyncio.ensure_future(batcher(1)), asyncio.ensure_future(batcher(2))
        await doubler.out.wait()
        gone.cancel()  # while its call is out
        with pytest.raises(asyncio.CancelledError):
            await gone
        doubler.answer.set()
        return await kept

    assert run(scenario()) == 4
