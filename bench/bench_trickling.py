"""Measure what trickling clients cost the audio library's other users: a visitor's request, side by side.

1,000 connections each send one more byte of a request head that never ends every few seconds (a slowloris),
reopening whenever the server closes them. A visitor from another address opens a fresh connection and lists
the library (`GET /api/files`, 100 files) every REQUEST_PAUSE seconds; its latency is compared with the same
visitor on the same server with no tricklers. Two attacks: the tricklers spread over 25 addresses (40 each,
under the per-address cap, together the whole connection limit), and all from one address (the cap holds
them to 64, the rest are refused); and, third, 1,000 kept-alive connections left idle after one request
each. Target: every visitor request answered within 1 s (issue 10).

The figures are written into docs/audio-library.md between the `bench:trickling` markers.
"""

import os
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from audio_library.serving import DESCRIPTORS_WANTED, raise_descriptor_limit

from bench.figures import measure_and_write, percentiles, verdict
from tests.rawhttp import read_response
from tests.servers import LOOPBACK, RunningServer, audio_server
from tests.trickling import closed_ones, kept_alive, trickling
from tests.wav import noise_wav


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
FILES = 100
TRICKLERS = 1000
TRICKLE_PAUSE = 3.0  # seconds between a trickler's bytes
ATTACK_SECONDS = 25.0  # long enough for the tricklers to meet the 10 s head deadline twice
REQUEST_PAUSE = 0.1
TARGET_S = 1.0


def visit(port: int) -> float:
    """One visitor request on a fresh connection: seconds until its whole answer arrived."""
    request = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode()
    started = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        response = read_response(stream)
    if response.status != 200:
        raise RuntimeError(f"the visitor got {response.status}")
    return time.perf_counter() - started


def visits(port: int, seconds: float) -> list[float]:
    """Visitor requests, one every REQUEST_PAUSE, for `seconds`: their latencies."""
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(visit(port))
        time.sleep(REQUEST_PAUSE)
    return samples


def under_attack(server: RunningServer, addresses: int) -> tuple[list[float], int]:
    """The visitor's latencies while TRICKLERS trickle from `addresses` addresses; and how many times the
    server closed a trickler (the deadline, the per-address cap, or making room at the connection limit)."""
    with trickling(server.port, TRICKLERS, addresses) as tricklers:
        stop = threading.Event()

        def trickle() -> None:
            while not stop.wait(TRICKLE_PAUSE):
                tricklers.step()

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        try:
            samples = visits(server.port, ATTACK_SECONDS)
        finally:
            stop.set()
            thread.join(60)
        return samples, tricklers.reopened


def beside_idle_connections(server: RunningServer) -> tuple[list[float], int]:
    """The visitor's latencies while TRICKLERS kept-alive connections from 25 addresses sit idle after one
    request each; and how many of them the server closed to make room."""
    with kept_alive(server.port, TRICKLERS, addresses=25) as idle:
        samples = visits(server.port, ATTACK_SECONDS / 2)
        return samples, closed_ones(idle)


def measure(work: Path) -> list[str]:
    """Run the measurements; the Markdown that reports them."""
    raise_descriptor_limit(DESCRIPTORS_WANTED)  # this process holds the tricklers' sockets
    library = work / "library"
    library.mkdir()
    for number in range(FILES):
        (library / f"track {number:03}.wav").write_bytes(noise_wav(number, seconds=0.1))
    load_before = os.getloadavg()[0]
    with audio_server(library) as server:
        visits(server.port, 2.0)  # warm up: the catalog examined, the code paths hot
        idle = visits(server.port, ATTACK_SECONDS / 2)
        spread, spread_closed = under_attack(server, addresses=25)
        single, single_closed = under_attack(server, addresses=1)
        held, held_closed = beside_idle_connections(server)
        alive = server.process.poll() is None
    load_after = os.getloadavg()[0]

    def row(what: str, samples: list[float], closed: int | None) -> str:
        p50, p99 = percentiles(samples)
        idle_p50 = percentiles(idle)[0]
        worst = max(samples)
        met = verdict(worst <= TARGET_S) if closed is not None else "—"
        closes = f"{closed:,}" if closed is not None else "—"
        return (
            f"| {what} | {len(samples)} | {p50 * 1000:,.1f} ms | {p99 * 1000:,.1f} ms | {worst * 1000:,.1f} ms "
            f"| {p50 / idle_p50:.1f}x | {closes} | {met} |"
        )

    return [
        f"Measured by `make bench` (`bench/bench_trickling.py`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load_before:.1f} at the start "
        f"and {load_after:.1f} at the end (a shared, noisy machine); one real server process on loopback with "
        f"its defaults (head deadline 10 s, 64 connections per address, 1,000 in all), {FILES} files. "
        f"{TRICKLERS:,} tricklers each send one more head byte every {TRICKLE_PAUSE:g} s for "
        f"{ATTACK_SECONDS:g} s, reopening when closed; a visitor on a fresh connection from 127.0.0.1 lists "
        f"the library every {REQUEST_PAUSE:g} s. Target: every visitor request within {TARGET_S:g} s. "
        f"Server alive afterwards: {'yes' if alive else '**no**'}.",
        "",
        "| visitor's `GET /api/files` | requests | p50 | p99 | slowest | p50 vs idle | slow connections closed by the "
        "server | slowest <= 1 s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        row("idle server (baseline)", idle, None),
        row(f"{TRICKLERS:,} tricklers from 25 addresses (the whole connection limit)", spread, spread_closed),
        row(f"{TRICKLERS:,} tricklers from one address (held to its cap)", single, single_closed),
        row(
            f"{TRICKLERS:,} idle kept-alive connections from 25 addresses, for {ATTACK_SECONDS / 2:g} s",
            held,
            held_closed,
        ),
    ]


if __name__ == "__main__":
    sys.exit(measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:trickling"))
