"""A flood of wrong passwords against a live server: the right password still gets in within 2 s.

Twenty threads send wrong passwords for the user's own name, as fast as they are answered, from one loopback
address (127.0.0.2); at the flood's start (its first check done, the first request of every flooder waiting
behind it, the back-off hardly begun) or once it is under way, the user signs in with the right password, from
another address (127.0.0.3) or from the flooders' own. The passwords are real scrypt hashes, as `add-user`
writes: the cost of a check is what makes a flood hurt.
"""

import base64
import contextlib
import http.client
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from devtools.servers import LOOPBACK, RunningServer, audio_server
from tests.polling import wait_until
from tests.reliability.ledger import Ledger


SCENARIO = "password flood"
FLOODERS = 20
FLOODER_ADDRESS = "127.0.0.2"
OTHER_ADDRESS = "127.0.0.3"
# Checks the flood has had before the user signs in, counted in the server's access log (a check's line is
# written before its answer is held back): its very first, when every flooder's first request is queued and
# the back-off has hardly begun; or the first of every flooder and a few more, once it is under way.
AT_ITS_START = 1
UNDER_WAY = FLOODERS + 5
SIGN_IN_BOUND = 2.0  # seconds
# The flood's checks, one client's, run one after another: twenty-five scrypt checks may take a loaded machine
# well past tests.polling's deadline before the user even begins.
FLOOD_DEADLINE = 60.0
NAME, PASSWORD = "alice", "correct horse battery staple"


def basic(name: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get_files(port: int, source: str, headers: dict[str, str]) -> int:
    """GET /api/files from `source` on a new connection; the status."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30, source_address=(source, 0))
    try:
        connection.request("GET", "/api/files", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@dataclass
class Flood:
    """Threads sending wrong passwords for NAME from one address, each on a kept-alive connection."""

    port: int
    stop: threading.Event = field(default_factory=threading.Event)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    connections: list[http.client.HTTPConnection] = field(default_factory=list)

    def run(self) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=30, source_address=(FLOODER_ADDRESS, 0))
        with self.lock:
            self.connections.append(connection)
        while not self.stop.is_set():
            try:
                connection.request("GET", "/api/files", headers=basic(NAME, secrets.token_urlsafe(12)))
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()  # the next request reconnects
                status = 0
            with self.lock:
                if not self.stop.is_set():  # not one cut short by the end
                    self.statuses[status] += 1
        connection.close()

    def end(self) -> None:
        """Stop, cutting short the answers being held back (a flooder's thread then ends at once)."""
        self.stop.set()
        with self.lock:
            for connection in self.connections:
                if connection.sock is not None:
                    with contextlib.suppress(OSError):
                        connection.sock.shutdown(socket.SHUT_RDWR)

    def answers(self) -> int:
        with self.lock:
            return sum(self.statuses.values())


@dataclass
class LoggedServer:
    """A running server and its stderr, where the access log goes."""

    server: RunningServer
    log: Path

    def refusals(self) -> int:
        """The wrong passwords checked so far: the 401 lines of the access log."""
        return sum('" 401 ' in line for line in self.log.read_text(errors="replace").splitlines())


@pytest.fixture
def logged_server(tmp_path: Path) -> Iterator[LoggedServer]:
    users = tmp_path / "users"
    users.write_text(f"{NAME}:{generate_password_hash(PASSWORD, method='scrypt')}\n")
    log = tmp_path / "stderr"
    with (
        log.open("wb") as stderr,
        audio_server(tmp_path / "library", "--users", str(users), "--private", stderr=stderr.fileno()) as running,
    ):
        yield LoggedServer(running, log)


@pytest.mark.parametrize("flood_checks", [AT_ITS_START, UNDER_WAY], ids=["at its start", "under way"])
@pytest.mark.parametrize("user_address", [OTHER_ADDRESS, FLOODER_ADDRESS], ids=["another address", "the same"])
def test_the_right_password_gets_in_within_2_s_during_a_flood(
    logged_server: LoggedServer, user_address: str, flood_checks: int, ledger: Ledger
) -> None:
    server = logged_server.server
    flood = Flood(server.port)
    threads = [threading.Thread(target=flood.run) for _ in range(FLOODERS)]
    for thread in threads:
        thread.start()
    try:
        wait_until(
            lambda: logged_server.refusals() >= flood_checks, f"{flood_checks} checks of the flood", FLOOD_DEADLINE
        )
        started = time.monotonic()
        status = get_files(server.port, user_address, basic(NAME, PASSWORD))
        seconds = time.monotonic() - started
    finally:
        flood.end()
        for thread in threads:
            thread.join(60)
    ledger.record(SCENARIO, requests=flood.answers() + 1, errors=flood.answers() - flood.statuses[401])
    print(f"signed in from {user_address} in {seconds:.2f} s; the flood's answers: {dict(flood.statuses)}")
    assert status == 200
    assert seconds < SIGN_IN_BOUND
    assert set(flood.statuses) <= {401, 503}, flood.statuses  # the flood only ever failed, never broke anything
