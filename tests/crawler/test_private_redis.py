"""The crawler's private redis-server (FastAPI/server.py's private_redis, used without --redis): a real
redis-server starts, answers, and leaves nothing behind."""

import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from FastAPI.server import RedisUnavailableError, private_redis
from tests.event_loop import run


async def _use_once() -> tuple[str, bool]:
    async with private_redis() as url:
        client = aioredis.from_url(url)
        try:
            await client.set("k", "v")
            answered = await client.get("k") == b"v"
        finally:
            await client.aclose()
    return url, answered


def test_starts_answers_and_cleans_up() -> None:
    url, answered = run(_use_once())
    assert answered
    socket_path = Path(url.removeprefix("unix://"))
    assert not socket_path.parent.exists()


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    absent = tmp_path / "no-redis-server"

    async def start() -> None:
        async with private_redis(absent):
            pass

    with pytest.raises((RedisUnavailableError, OSError)):
        run(start())
    assert os.listdir(tmp_path) == []
