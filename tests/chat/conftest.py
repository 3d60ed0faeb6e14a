"""A fresh chat server per test module, on a free port."""

from collections.abc import Iterator

import pytest

from devtools.servers import RunningServer, chat_server


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with chat_server("--rate", "200", "--burst", "400") as running:
        yield running
