"""Fixtures of the SyncAsync suites: the open-meteo stand-in, and each server in turn pointed at it."""

from collections.abc import Iterator

import pytest

from devtools.servers import RunningServer
from devtools.syncasync_server import KINDS, syncasync_server
from SyncAsync.fake_open_meteo import FakeServer, running_fake


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeServer]:
    """The stand-in for open-meteo, shared by a module's tests; back to answering normally before each test."""
    with running_fake() as fake:
        yield fake


@pytest.fixture(autouse=True)
def upstream_answers_normally(request: pytest.FixtureRequest) -> None:
    if "upstream" in request.fixturenames:
        fake: FakeServer = request.getfixturevalue("upstream")
        fake.fake.mode = "ok"


@pytest.fixture(scope="module", params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    """ "sync" or "async": which server a test runs against."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def server(kind: str, upstream: FakeServer) -> Iterator[RunningServer]:
    """The server of this kind, its upstream timeout short so that a hang costs the suite little."""
    with syncasync_server(kind, upstream.url, "--upstream-timeout", "1.5") as running:
        yield running
