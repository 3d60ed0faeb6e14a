"""Measure what access control costs the audio library: signed-in reads, wrong passwords, and a flood of them.

1. Warm `GET /api/files` (100 files) on a private library with a user's credentials, once verified, next to
   the same on a library with no users: the key derivation must stay off this path (the cache).
2. One request with credentials the server has not verified yet, and requests with a wrong password, a new one
   each time: each costs one scrypt derivation (n=32768, r=8, p=1); next to them, one wrong password sent
   again, remembered as refused: no derivation. Measured with the back-off off, which would hold the wrong
   ones' answers for seconds.
3. Eight clients sending wrong passwords, a new one each time, as fast as they are answered, while one
   signed-in reader lists the library: its latency next to the same reader alone, and the server's peak RSS
   (at most two derivations run at once, 32 MiB each, one per address; the answers to wrong passwords are
   held back, growing; a check that cannot start within 3 s is told to retry, 503).
4. The right password sent at the start of a flood of wrong passwords (twenty threads, a new password each
   time, from 127.0.0.2; the user signs in once the flood's first check is logged, while the first request
   of every flooder waits and the back-off has hardly begun): from the flooders' own address, next to the
   same from another address (127.0.0.3), each on a fresh server (nothing verified or backed off yet).

The figures are written into docs/audio-library.md between the `bench:access` markers.
"""

import base64
import contextlib
import http.client
import os
import secrets
import socket
import statistics
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from audio_library.access.users import add_user

from bench.figures import measure_and_write, percentiles
from devtools.resources import peak_rss
from devtools.servers import LOOPBACK, RunningServer, audio_server
from devtools.wav import noise_wav


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
FILES = 100
REQUESTS = 200
WARM_UP = 10
WRONG_REQUESTS = 20
ATTACKERS = 8
FLOOD_SECONDS = 10.0
READER_PAUSE_S = 0.05
FLOODERS = 20
FLOODER_ADDRESS, OTHER_ADDRESS = "127.0.0.2", "127.0.0.3"
SIGN_INS = 5  # per address, alternating
LOG_POLL_S = 0.01
FIRST_CHECK_WAIT_S = 30.0
NAME, PASSWORD = "alice", "correct horse battery staple"


def authorization(name: str, password: str) -> dict[str, str]:
    """The Basic Authorization header of these credentials."""
    token = base64.b64encode(f"{name}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


RIGHT = authorization(NAME, PASSWORD)
WRONG = authorization(NAME, "wrong")


def guess() -> dict[str, str]:
    """The Authorization header of a wrong password not sent before."""
    return authorization(NAME, secrets.token_urlsafe(12))


def timed_get(connection: http.client.HTTPConnection, headers: dict[str, str], *statuses: int) -> tuple[float, int]:
    """One GET /api/files on a kept-alive connection: its time in ms, body read in full, and its status, which
    must be one of `statuses` (200 if none are given)."""
    started = time.perf_counter()
    connection.request("GET", "/api/files", headers=headers)
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status not in (statuses or (200,)):
        raise RuntimeError(f"GET /api/files answered {response.status}")
    return elapsed, response.status


def latency(server: RunningServer, headers: dict[str, str]) -> tuple[float, float]:
    """p50 and p99 in ms of REQUESTS listings after a warm-up."""
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
    try:
        for _ in range(WARM_UP):
            timed_get(connection, headers)
        return percentiles([timed_get(connection, headers)[0] for _ in range(REQUESTS)])
    finally:
        connection.close()


def reader_under_flood(server: RunningServer, attackers: int) -> tuple[float, float, dict[int, int]]:
    """A signed-in reader's (p50, p99) in ms while `attackers` clients send wrong passwords; and how many
    wrong-password requests were answered with each status (401 checked, 503 busy)."""
    stop = threading.Event()
    answers: dict[int, int] = {401: 0, 503: 0}
    lock = threading.Lock()

    def attack() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
        try:
            while not stop.is_set():
                _, status = timed_get(connection, guess(), 401, 503)
                with lock:
                    answers[status] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=attack) for _ in range(attackers)]
    for thread in threads:
        thread.start()
    samples: list[float] = []
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
    try:
        deadline = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < deadline:
            samples.append(timed_get(connection, RIGHT)[0])
            time.sleep(READER_PAUSE_S)
    finally:
        connection.close()
        stop.set()
        for thread in threads:
            thread.join()
    p50, p99 = percentiles(samples)
    return p50, p99, answers


def flood_from(port: int, stop: threading.Event, connections: list[http.client.HTTPConnection]) -> None:
    """Send wrong passwords, a new one each time, from FLOODER_ADDRESS on a kept-alive connection until `stop`."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60, source_address=(FLOODER_ADDRESS, 0))
    connections.append(connection)
    while not stop.is_set():
        try:
            timed_get(connection, guess(), 401, 503)
        except (OSError, http.client.HTTPException, RuntimeError):
            connection.close()  # cut short at the end; the next request reconnects


def sign_in_at_flood_start(library: Path, users: Path, log: Path, address: str) -> float:
    """Seconds the right password takes from `address`, sent once a fresh server has logged the first check of
    a flood of FLOODERS threads."""
    stop = threading.Event()
    connections: list[http.client.HTTPConnection] = []
    with (
        log.open("wb") as stderr,
        audio_server(library, "--users", str(users), "--private", stderr=stderr.fileno()) as server,
    ):
        threads = [threading.Thread(target=flood_from, args=(server.port, stop, connections)) for _ in range(FLOODERS)]
        for thread in threads:
            thread.start()
        try:
            deadline = time.monotonic() + FIRST_CHECK_WAIT_S
            while '" 401 ' not in log.read_text(errors="replace"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the flood's first check was not logged")
                time.sleep(LOG_POLL_S)
            connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60, source_address=(address, 0))
            try:
                seconds = timed_get(connection, RIGHT)[0] / 1000
            finally:
                connection.close()
        finally:
            stop.set()
            for flooder in list(connections):  # cut short the answers being held back
                if flooder.sock is not None:
                    with contextlib.suppress(OSError):
                        flooder.sock.shutdown(socket.SHUT_RDWR)
            for thread in threads:
                thread.join()
    return seconds


def fill_library(folder: Path) -> Path:
    folder.mkdir()
    for number in range(FILES):
        (folder / f"track {number:03}.wav").write_bytes(noise_wav(number, seconds=0.1))
    return folder


def measure(work: Path) -> list[str]:
    """Run the measurements; the Markdown that reports them."""
    library = fill_library(work / "library")
    users = work / "users"
    add_user(users, NAME, PASSWORD)
    load_before = os.getloadavg()[0]
    with audio_server(library) as server:
        open_p50, open_p99 = latency(server, {})
    with audio_server(library, "--users", str(users), "--private", "--password-backoff", "0") as server:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
        try:
            first, _ = timed_get(connection, RIGHT)
            wrong = [timed_get(connection, guess(), 401)[0] for _ in range(WRONG_REQUESTS)]
            again = [timed_get(connection, WRONG, 401)[0] for _ in range(WRONG_REQUESTS + 1)][1:]
        finally:
            connection.close()
    with audio_server(library, "--users", str(users), "--private") as server:
        signed_p50, signed_p99 = latency(server, RIGHT)
        rss_before = peak_rss(server.process.pid)
        alone_p50, alone_p99, _ = reader_under_flood(server, 0)
        flood_p50, flood_p99, answers = reader_under_flood(server, ATTACKERS)
        rss_after = peak_rss(server.process.pid)
    sign_ins: dict[str, list[float]] = {FLOODER_ADDRESS: [], OTHER_ADDRESS: []}
    for _ in range(SIGN_INS):
        for address, seconds in sign_ins.items():
            seconds.append(sign_in_at_flood_start(library, users, work / "stderr", address))
    load_after = os.getloadavg()[0]
    wrong_p50, again_p50 = statistics.median(wrong), statistics.median(again)

    def ms(value: float) -> str:
        return f"{value:,.1f} ms"

    same, other = (statistics.median(sign_ins[address]) for address in (FLOODER_ADDRESS, OTHER_ADDRESS))

    def spread(address: str) -> str:
        return f"median {statistics.median(sign_ins[address]):.2f} s, most {max(sign_ins[address]):.2f} s"

    return [
        f"Measured by `make bench` (`bench/bench_access.py`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load_before:.1f} at the start "
        f"and {load_after:.1f} at the end (a shared, noisy machine); real server processes on loopback, "
        f"{FILES} files, {REQUESTS} listings per latency after {WARM_UP} to warm up, a scrypt user "
        "(n=32768, r=8, p=1).",
        "",
        "| measured | figure | baseline in the same run | ratio |",
        "| --- | --- | --- | --- |",
        f"| warm `GET /api/files`, private library, a user's verified credentials | p50 {ms(signed_p50)}, "
        f"p99 {ms(signed_p99)} | no users: p50 {ms(open_p50)}, p99 {ms(open_p99)} | {signed_p50 / open_p50:.2f}x |",
        f"| first request with credentials not yet verified (one scrypt) | {ms(first)} | — | — |",
        f"| request with a wrong password (one scrypt each), median of {WRONG_REQUESTS} | {ms(wrong_p50)} | — | — |",
        f"| request with a wrong password sent before (remembered as refused), median of {WRONG_REQUESTS} | "
        f"{ms(again_p50)} | a new wrong password: {ms(wrong_p50)} | {again_p50 / wrong_p50:.3f}x |",
        f"| a signed-in reader while {ATTACKERS} clients send wrong passwords for {FLOOD_SECONDS:g} s "
        f"({answers[401] / FLOOD_SECONDS:.1f}/s checked and refused, 401; {answers[503] / FLOOD_SECONDS:,.0f}/s "
        f"told to retry, 503) | p50 {ms(flood_p50)}, p99 {ms(flood_p99)} | "
        f"the reader alone: p50 {ms(alone_p50)}, p99 {ms(alone_p99)} | {flood_p50 / alone_p50:.1f}x |",
        f"| server peak RSS | {rss_after / 2**20:.0f} MiB after the flood | {rss_before / 2**20:.0f} MiB before it "
        f"| +{(rss_after - rss_before) / 2**20:.0f} MiB |",
        f"| the right password at the start of a flood of {FLOODERS} threads of wrong passwords (its first check "
        f"done), sent from the flood's own address, {SIGN_INS} fresh servers | {spread(FLOODER_ADDRESS)} | "
        f"from another address: {spread(OTHER_ADDRESS)} | {same / other:.1f}x |",
    ]


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:access")


if __name__ == "__main__":
    sys.exit(main())
