"""Drive the sync and async servers with wrk, each next to its baseline in the same run, and report ratios.

Targets (issue 20):
1. sync /hello at 50 connections: at least 5x `http.server.ThreadingHTTPServer` answering the same route;
2. async /hello at 50 connections: at least 0.8x a minimal aiohttp app (no middleware, no signals);
3. /io_task?seconds=0.1 at 100 connections: async at least 0.8 of the ideal 1000 req/s (100 / 0.1 s); sync what
   its pool of 64 threads allows (at most 640 req/s);
4. /weather served from the cache: req/s, with the upstream's hit count (one per server);
5. async /hello's p99 with /cpu_task requests running at the same time: within 10x its idle p99.

The figures are written into docs/sync-async.md between the `bench:sync-async` markers.
"""

import dataclasses
import os
import statistics
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from bench.bench_credentials import Measurement, drive_with_wrk
from bench.bench_credentials import measure as measure_server
from bench.figures import measure_and_write, verdict, within
from devtools.servers import LOOPBACK, RunningServer, free_port, running_command
from devtools.syncasync_server import syncasync_server
from SyncAsync.fake_open_meteo import running_fake


DOC = Path(__file__).resolve().parent.parent / "docs" / "sync-async.md"
SECONDS = 4.0
ROUNDS = 5  # alternating rounds per server pair: the medians of five ride out the shared machine's swings
HELLO_CONNECTIONS = 50
IO_CONNECTIONS = 100
IO_SECONDS = 0.1
CPU_CLIENTS = 4
MIN_SYNC_RATIO = 5.0
MIN_ASYNC_RATIO = 0.8
MIN_IO_SHARE = 0.8
MAX_P99_GROWTH = 10.0
WEATHER = "/weather?latitude=52.52&longitude=13.41"

THREADING_BASELINE = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"Hello, World!"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Hello).serve_forever()
"""

AIOHTTP_BASELINE = """
import sys
from aiohttp import web

async def hello(request):
    return web.Response(text="Hello, World!")

app = web.Application()
app.router.add_get("/hello", hello)
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), access_log=None, print=None)
"""


@contextmanager
def baseline(script: str) -> Iterator[RunningServer]:
    port = free_port()
    with running_command([sys.executable, "-c", script, LOOPBACK, str(port)], port) as server:
        yield server


def wrk(server: RunningServer, target: str, connections: int) -> Measurement:
    """wrk against the server, and the CPU time the server (and its workers) spent per answered request."""
    return measure_server(server, drive_with_wrk, connections, SECONDS, target)


def row(name: str, measured: Measurement) -> str:
    return (
        f"| {name} | {measured.requests_per_second:,.0f} | {measured.p50_ms:.1f} | {measured.p99_ms:.1f} "
        f"| {measured.errors} | {measured.cpu_us_per_request:.0f} |"
    )


def median_run(runs: list[Measurement]) -> Measurement:
    """The run of median req/s, with the median CPU time per request of all the runs."""
    median = sorted(runs, key=lambda run: run.requests_per_second)[len(runs) // 2]
    return dataclasses.replace(median, cpu_us_per_request=statistics.median(run.cpu_us_per_request for run in runs))


def hello_figures(kind: str, baseline_script: str, baseline_name: str, target: float) -> list[str]:
    """One server's /hello next to its baseline, in alternating rounds, each going first in turn, so that drift
    hits both alike; the median round of each, and the ratio of their median CPU time per request, which other
    load on the machine moves far less than it moves req/s."""
    theirs: list[Measurement] = []
    ours: list[Measurement] = []
    with baseline(baseline_script) as base, syncasync_server(kind) as server:
        for round_number in range(ROUNDS):
            pairs = [(base, theirs), (server, ours)]
            for running, runs in pairs if round_number % 2 == 0 else reversed(pairs):
                runs.append(wrk(running, "/hello", HELLO_CONNECTIONS))
    reference, measured = median_run(theirs), median_run(ours)
    ratio = measured.requests_per_second / max(reference.requests_per_second, 1e-9)
    cpu_ratio = reference.cpu_us_per_request / measured.cpu_us_per_request
    return [
        row(f"{baseline_name}, /hello (median of {ROUNDS})", reference),
        row(f"{kind} server, /hello (median of {ROUNDS})", measured),
        f"| **ratio** | **{ratio:.2f}x** (target >= {target:g}x: {verdict(ratio >= target)}) | | | "
        f"| {cpu_ratio:.2f}x (theirs / ours) |",
    ]


def io_figures() -> list[str]:
    ideal = IO_CONNECTIONS / IO_SECONDS
    lines = []
    for kind in ("sync", "async"):
        with syncasync_server(kind) as server:
            measured = wrk(server, f"/io_task?seconds={IO_SECONDS:g}", IO_CONNECTIONS)
        share = measured.requests_per_second / ideal
        target = (
            f"target >= {MIN_IO_SHARE:g}: {verdict(share >= MIN_IO_SHARE)}"
            if kind == "async"
            else "what 64 worker threads allow: at most 0.64"
        )
        lines += [
            row(f"{kind} server, /io_task 100 ms", measured),
            f"| share of the ideal | {share:.2f} ({target}) | | | | |",
        ]
    return lines


def weather_figures() -> list[str]:
    lines = []
    with running_fake() as upstream:
        for kind in ("sync", "async"):
            before = upstream.fake.hits()
            with syncasync_server(kind, upstream.url) as server:
                urllib.request.urlopen(f"{server.url}{WEATHER}", timeout=30).read()  # the one call that fills the cache
                measured = wrk(server, WEATHER, HELLO_CONNECTIONS)
            hits = upstream.fake.hits() - before
            lines += [row(f"{kind} server, /weather from the cache", measured), f"| upstream hits | {hits} | | | | |"]
    return lines


def cpu_load(url: str, stop: threading.Event) -> None:
    """A client sending /cpu_task requests one after another until told to stop."""
    while not stop.is_set():
        with urllib.request.urlopen(f"{url}/cpu_task?n=300000", timeout=30) as response:  # loopback
            response.read()


def loop_figures() -> list[str]:
    with syncasync_server("async", "http://127.0.0.1:9", "--cpu-workers", "2") as server:
        idle = wrk(server, "/hello", 10)
        stop = threading.Event()
        clients = [threading.Thread(target=cpu_load, args=(server.url, stop)) for _ in range(CPU_CLIENTS)]
        for client in clients:
            client.start()
        try:
            loaded = wrk(server, "/hello", 10)
        finally:
            stop.set()
            for client in clients:
                client.join(timeout=60)
    growth = loaded.p99_ms / max(idle.p99_ms, 1e-9)
    return [
        row("async server, /hello idle (10 connections)", idle),
        row(f"async server, /hello with {CPU_CLIENTS} clients on /cpu_task", loaded),
        f"| p99 growth | {growth:.1f}x (target <= {MAX_P99_GROWTH:g}x: {within(growth, MAX_P99_GROWTH)}) | | | | |",
    ]


def measure(_: Path) -> list[str]:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    return [
        f"wrk -t1, keep-alive, {SECONDS:g} s per run; {when} UTC, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} at start (a shared machine: "
        "compare the ratios, not the absolute figures).",
        "",
        "| run | req/s | p50 ms | p99 ms | errors | server CPU µs/request |",
        "|---|---|---|---|---|---|",
        *hello_figures("sync", THREADING_BASELINE, "ThreadingHTTPServer", MIN_SYNC_RATIO),
        *hello_figures("async", AIOHTTP_BASELINE, "minimal aiohttp app", MIN_ASYNC_RATIO),
        *io_figures(),
        *weather_figures(),
        *loop_figures(),
    ]


if __name__ == "__main__":
    sys.exit(measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:sync-async"))
