"""Fixtures for the credentials service: a real server subprocess on a free loopback port."""

from collections.abc import Iterator

import pytest

from devtools.servers import RunningServer, credentials_server


@pytest.fixture(scope="module")
def service() -> Iterator[RunningServer]:
    """The credentials service, shared by a module's tests."""
    with credentials_server() as server:
        yield server


@pytest.fixture
def impatient_service() -> Iterator[RunningServer]:
    """A credentials service that closes idle and unfinished connections after one second."""
    with credentials_server("--timeout", "1") as server:
        yield server
