"""Measure the audio library server under 1,000 trickling connections, against the same server idle.

Each trickler sends one more byte of a request head every TRICKLE_EVERY seconds and, once the server closes
it (its head deadline, or the cap per address), connects again and starts over, as an attacker would. Two
attacks: 1,000 connections from one address, and 1,000 spread over 50 addresses (20 each, under the cap).
Meanwhile a normal client (another address) asks `GET /api/files` on a new connection every PROBE_EVERY
seconds; its latency is reported next to the same requests on the idle server (target: max <= 1 s).

The figures are written into docs/audio-library.md between the `bench:trickle` markers.
"""

import contextlib
import os
import platform
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from bench.figures import measure_and_write, verdict
from devtools.servers import LOOPBACK, RunningServer, audio_server


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
TRICKLERS = 1000
TRICKLE_EVERY = 2.0
PROBES = 30
PROBE_EVERY = 0.5
TARGET_S = 1.0
HEAD = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: " + b"a" * 4000 + b"\r\n\r\n"
PROBE = b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def probe(port: int) -> float:
    """One normal request on a new connection; its seconds, the whole answer read."""
    started = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock:
        sock.sendall(PROBE)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"the probe was answered {answer[:40]!r}")
    return time.perf_counter() - started


def probes(port: int) -> list[float]:
    """PROBES probe latencies, one every PROBE_EVERY seconds."""
    samples = []
    for _ in range(PROBES):
        samples.append(probe(port))
        time.sleep(PROBE_EVERY)  # the probe's pace
    return samples


class Tricklers:
    """TRICKLERS connections, each sending one more head byte every TRICKLE_EVERY seconds, reconnecting."""

    def __init__(self, port: int, addresses: list[str]) -> None:
        self.port = port
        self.addresses = addresses
        self.sockets: list[socket.socket | None] = [None] * TRICKLERS
        self.sent = [0] * TRICKLERS
        self.reconnects = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, number: int) -> None:
        address = self.addresses[number % len(self.addresses)]
        try:
            sock = socket.create_connection((LOOPBACK, self.port), timeout=5, source_address=(address, 0))
            sock.setblocking(False)
        except OSError:
            self.sockets[number] = None
            return
        self.sockets[number] = sock
        self.sent[number] = 0

    def step(self, number: int) -> None:
        """Send the next byte; when the server has closed the connection, connect again."""
        sock = self.sockets[number]
        if sock is not None:
            try:
                closed = sock.recv(1, socket.MSG_PEEK) is not None  # anything readable: an answer or the end
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if not closed:
                with contextlib.suppress(BlockingIOError):
                    sock.send(HEAD[self.sent[number] : self.sent[number] + 1])
                    self.sent[number] += 1
                return
            sock.close()
            self.reconnects += 1
        self.open(number)

    def run(self) -> None:
        while not self.stopping.is_set():
            round_started = time.monotonic()
            for number in range(TRICKLERS):
                if self.stopping.is_set():
                    return
                self.step(number)
            self.stopping.wait(max(0.0, TRICKLE_EVERY - (time.monotonic() - round_started)))

    def __enter__(self) -> "Tricklers":
        for number in range(TRICKLERS):
            self.open(number)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        for sock in self.sockets:
            if sock is not None:
                sock.close()


def summary(samples: list[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms"


def ratio(attacked: list[float], idle: list[float], statistic: Callable[[list[float]], float]) -> str:
    return f"{statistic(attacked) / statistic(idle):.1f}x idle"


def measure(server: RunningServer) -> list[str]:
    idle = probes(server.port)
    lines = [
        f"| attack (each trickler: one head byte every {TRICKLE_EVERY:.0f} s, reconnecting when closed) "
        f"| `GET /api/files` under attack | same, idle server | target max <= {TARGET_S:.0f} s |",
        "|---|---|---|---|",
    ]
    for label, addresses in (
        (f"{TRICKLERS:,} connections from one address", ["127.0.0.2"]),
        (f"{TRICKLERS:,} connections from 50 addresses", [f"127.0.1.{n}" for n in range(1, 51)]),
    ):
        with Tricklers(server.port, addresses) as tricklers:
            time.sleep(TRICKLE_EVERY)  # the attack under way
            attacked = probes(server.port)
            reconnects = tricklers.reconnects
        lines.append(
            f"| {label} ({reconnects:,} closed by the server and reopened) | {summary(attacked)} "
            f"| {summary(idle)} | {verdict(max(attacked) <= TARGET_S)}; "
            f"p50 {ratio(attacked, idle, statistics.median)}, max {ratio(attacked, idle, max)} |"
        )
    return lines


def measure_all(work: Path) -> list[str]:
    """The whole benchmark on a server in `work`: the lines for the doc."""
    with audio_server(work / "library") as server:
        table = measure(server)
    load = os.getloadavg()
    return [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} by `bench/bench_trickle.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load[0]:.1f} at the end "
        f"(a shared machine); {PROBES} probes, one every {PROBE_EVERY} s, each on a new connection; the server "
        "with its defaults (head deadline 10 s, 64 connections per address).",
        "",
        *table,
    ]


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure_all, DOC, "bench:trickle")


if __name__ == "__main__":
    sys.exit(main())
