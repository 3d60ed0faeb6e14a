"""A real redis-server on a free loopback port, for tests that share one Redis between processes."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from private_redis import RedisUnavailableError, find_redis_server
from tests.servers import LOOPBACK, RunningServer, free_port, running_command


@contextmanager
def redis_server(folder: Path, port: int | None = None) -> Iterator[RunningServer]:
    """Run redis-server (the one private_redis would run) on the port, persistence off; its `url` is redis://."""
    try:
        binary = find_redis_server()
    except RedisUnavailableError as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    port = port if port is not None else free_port()
    command = [str(binary), "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    with running_command([*command, "--dir", str(folder)], port) as server:
        server.url = f"redis://{LOOPBACK}:{port}/0"
        yield server
