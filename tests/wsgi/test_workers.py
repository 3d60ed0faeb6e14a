"""The credentials service with pre-forked workers: answers, signals, dying workers and a dying supervisor."""

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import credentials
import pytest

from devtools.rawhttp import exchange
from devtools.servers import CREDENTIALS_SERVER, REPO, RunningServer, children, credentials_server
from tests.polling import wait_until
from tests.wsgi import test_server
from tests.wsgi.credentials_checks import ACCESS_LINE, assert_serves_credentials


WORKERS = 2
DEADLINE = 10.0  # seconds to wait for processes to appear or go; workers look for their supervisor every second


def workers_of(server: RunningServer, count: int = WORKERS, other_than: frozenset[int] = frozenset()) -> set[int]:
    """Wait for the supervisor to have this many workers, none of them in other_than; their ids."""
    seen: set[int] = set()

    def ready() -> bool:
        seen.clear()
        seen.update(children(server.process.pid))
        return len(seen) == count and not seen & other_than

    wait_until(ready, f"the supervisor has {count} new workers", timeout=DEADLINE)
    return seen


def gone(pid: int) -> bool:
    """True when the process has exited (reaped, or a zombie nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def wait_until_gone(pids: set[int]) -> None:
    """Poll until every process has exited, or fail at the deadline."""
    wait_until(lambda: all(gone(pid) for pid in pids), f"processes {sorted(pids)} exited", timeout=DEADLINE)


def ask(port: int, species: str) -> bytes:
    """The body of the answer for a species, on a fresh connection."""
    return exchange(port, f"GET /?species={species} HTTP/1.1\r\nHost: x\r\n\r\n".encode()).body


@pytest.fixture(scope="module")
def service() -> Iterator[RunningServer]:
    """The service with two workers; also the server for the load tests borrowed from test_server."""
    with credentials_server("--workers", str(WORKERS)) as server:
        yield server


def test_workers_answer_correctly(service: RunningServer) -> None:
    assert len(workers_of(service)) == WORKERS
    assert_serves_credentials(service.port)


def test_a_burst_of_concurrent_connections_is_answered(service: RunningServer) -> None:
    species = list(credentials.CREDENTIALS) * 20
    with ThreadPoolExecutor(max_workers=100) as pool:
        bodies = list(pool.map(lambda name: ask(service.port, name.replace(" ", "%20")), species))
    assert bodies == [credentials.CREDENTIALS_BODIES[name] for name in species]


test_200_stalled_clients_do_not_delay_another = test_server.test_200_stalled_clients_do_not_delay_another
test_a_client_that_never_reads_does_not_delay_another = (
    test_server.test_a_client_that_never_reads_does_not_delay_another
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_worker(sig: signal.Signals) -> None:
    with tempfile.TemporaryFile() as log, credentials_server("--workers", "2", stderr=log.fileno()) as server:
        pids = workers_of(server)
        assert ask(server.port, "Dalek") == b'{"credentials": "Davros"}'
        assert server.stop(sig) == 0
        log.seek(0)
        text = log.read().decode()
    wait_until_gone(pids)
    assert "Traceback" not in text
    assert text.rstrip().endswith("credentials: shut down")


def test_a_killed_worker_is_replaced(service: RunningServer) -> None:
    pids = workers_of(service)
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    replaced = workers_of(service, other_than=frozenset({victim}))
    assert pids - {victim} < replaced
    for name in credentials.CREDENTIALS:
        assert ask(service.port, name.replace(" ", "%20")) == credentials.CREDENTIALS_BODIES[name]


def test_workers_that_keep_dying_make_the_supervisor_give_up() -> None:
    with tempfile.TemporaryFile() as log, credentials_server("--workers", "2", stderr=log.fileno()) as server:
        killed: set[int] = set()
        for _ in range(credentials.RAPID_DEATHS):
            victim = min(workers_of(server, other_than=frozenset(killed)))
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
        assert server.process.wait(timeout=DEADLINE) == 1
        log.seek(0)
        lines = log.read().decode().splitlines()
    wait_until_gone(killed)
    assert lines[-1] == (
        f"credentials: {credentials.RAPID_DEATHS} workers died within {credentials.RAPID_WINDOW:g} s; giving up"
    )


def test_workers_exit_when_the_supervisor_is_killed() -> None:
    with credentials_server("--workers", "2") as server:
        pids = workers_of(server)
        server.stop(signal.SIGKILL)
        wait_until_gone(pids)


def test_one_access_log_line_per_request_from_every_worker() -> None:
    with tempfile.TemporaryFile() as log:
        with credentials_server("--workers", "2", stderr=log.fileno()) as server:
            species = list(credentials.CREDENTIALS) * 10
            with ThreadPoolExecutor(max_workers=20) as pool:
                list(pool.map(lambda name: ask(server.port, name.replace(" ", "%20")), species))
        log.seek(0)
        lines = log.read().decode().splitlines()
    access = [match.groups() for line in lines if (match := ACCESS_LINE.fullmatch(line))]
    expected = [
        (f"GET /?species={name.replace(' ', '%20')} HTTP/1.1", "200", str(len(credentials.CREDENTIALS_BODIES[name])))
        for name in species
    ]
    assert sorted(access) == sorted(expected)
    assert len(lines) == len(access) + 2  # plus "Serving credentials on ..." and "shut down"


@pytest.mark.parametrize("value", ["0", "-1", "two", ""])
def test_bad_worker_counts_are_refused(value: str) -> None:
    result = subprocess.run(
        [sys.executable, CREDENTIALS_SERVER, "--workers", value], cwd=REPO, capture_output=True, timeout=10, check=False
    )
    assert result.returncode == 2
    message = result.stderr.decode().splitlines()[-1]
    assert message.endswith(
        f"""error: --workers must be a whole number of processes, at least 1, or "auto"; '{value}' is invalid"""
    )


def test_workers_need_fork() -> None:
    probe = "import os, sys; del os.fork; sys.path.insert(0, 'WSGI'); import credentials; credentials.main()"
    result = subprocess.run(
        [sys.executable, "-c", probe, "--workers", "2"], cwd=REPO, capture_output=True, timeout=10, check=False
    )
    assert result.returncode == 2
    message = result.stderr.decode().splitlines()[-1]
    assert message.endswith("error: --workers above 1 needs os.fork, which this platform lacks")
