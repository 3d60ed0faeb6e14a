"""Drive the credentials service and wsgiref's single-threaded server with the same load, side by side.

Targets (issue 9): at 50 concurrent keep-alive connections one process answers at least 5x the requests per
second of the baseline, `wsgiref.simple_server.make_server(host, port, credentials.application)`, with a p99
latency of at most 5 ms, and `--workers auto` at least 10x; no errors. All three are also driven with 200
connections. The load comes from wrk with one thread or, where wrk is absent, from the small
thread-per-connection load generator below, whose own cost makes its figures lower. Each run's table is
printed and, all runs together, written into docs/credentials.md between its bench markers.
"""

import argparse
import dataclasses
import datetime
import http.client
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.figures import verdict, write_between_markers
from devtools.servers import LOOPBACK, REPO, RunningServer, credentials_server, free_port, running_command


TARGET = "/?species=Dalek"
CONNECTIONS = (50, 200)
SECONDS = 8.0
RUNS = 3
MAX_P99_MS = 5.0
BASELINE_NAME = "wsgiref.simple_server"
SERVICES = {"credentials.py": (), "credentials.py --workers auto": ("--workers", "auto")}
MIN_RATIOS = {"credentials.py": 5.0, "credentials.py --workers auto": 10.0}
P99_TARGETS = {"credentials.py"}  # the issue sets the p99 target for one process
DOC = REPO / "docs" / "credentials.md"

BASELINE = """
import sys
from wsgiref.simple_server import make_server
import credentials
make_server(sys.argv[1], int(sys.argv[2]), credentials.application).serve_forever()
"""

Drive = Callable[[str, int, float], "Measurement"]
WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
WRK_LATENCY = r"\s+(\d+(?:\.\d+)?)(us|ms|s|m|h)"


@dataclass
class Measurement:
    """What one load run saw."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    cpu_us_per_request: float = float("nan")  # the server's own CPU time; unlike req/s, little moved by other load

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


@contextmanager
def baseline_server() -> Iterator[RunningServer]:
    """wsgiref.simple_server serving the application, one request at a time."""
    port = free_port()
    with running_command([sys.executable, "-c", BASELINE, LOOPBACK, str(port)], port, cwd=REPO / "WSGI") as server:
        yield server


def drive_with_wrk(url: str, connections: int, seconds: float) -> Measurement:
    """Run wrk (one thread) against the URL and read its summary."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def latency_ms(percentile: str) -> float:
        match = re.search(rf"^\s+{percentile}%{WRK_LATENCY}", output, re.MULTILINE)
        return float(match[1]) * WRK_UNITS[match[2]] if match else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return Measurement(
        requests_per_second=float(rate[1]) if rate else 0.0,
        p50_ms=latency_ms("50"),
        p99_ms=latency_ms("99"),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(count) for count in socket_errors.groups()) if socket_errors else 0,
    )


def drive_with_threads(url: str, connections: int, seconds: float) -> Measurement:
    """The fallback load: one thread per keep-alive connection, each sending a request at a time."""
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    non_2xx = [0] * connections
    socket_errors = [0] * connections

    def client(index: int) -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("GET", TARGET)  # reconnects by itself after a server closes
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                socket_errors[index] += 1
                connection.close()
                continue
            latencies[index].append(time.perf_counter() - started)
            non_2xx[index] += not 200 <= response.status < 300
        connection.close()

    threads = [threading.Thread(target=client, args=(index,)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = sorted(latency for per_client in latencies for latency in per_client)
    percentiles = statistics.quantiles(answered, n=100) if len(answered) > 1 else [float("nan")] * 99
    return Measurement(
        len(answered) / seconds, percentiles[49] * 1e3, percentiles[98] * 1e3, sum(non_2xx), sum(socket_errors)
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its live children (workers) have used so far (Linux /proc).

    NaN elsewhere.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return float("nan")
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def measure(server: RunningServer, drive: Drive, connections: int, seconds: float, target: str = TARGET) -> Measurement:
    """Drive one server and note how much CPU it spent per answered request."""
    before = cpu_seconds(server.process.pid)
    measured = drive(f"{server.url}{target}", connections, seconds)
    spent = cpu_seconds(server.process.pid) - before
    answered = measured.requests_per_second * seconds
    return dataclasses.replace(measured, cpu_us_per_request=spent / answered * 1e6 if answered else float("nan"))


def row(connections: str, name: str, measured: Measurement) -> str:
    return (
        f"{connections:>11}  {name:<30}{measured.requests_per_second:>10,.0f}{measured.p50_ms:>9.1f}"
        f"{measured.p99_ms:>10.1f}{measured.errors:>8}{measured.cpu_us_per_request:>13.0f}"
    )


def run_once(drive: Drive, seconds: float) -> dict[int, dict[str, Measurement]]:
    """Start the three servers and drive each at every connection count."""
    results: dict[int, dict[str, Measurement]] = {}
    with ExitStack() as stack:
        servers = {BASELINE_NAME: stack.enter_context(baseline_server())}
        for name, options in SERVICES.items():
            servers[name] = stack.enter_context(credentials_server(*options))
        for connections in CONNECTIONS:
            results[connections] = {}
            # Alternate which server goes first, so drift in the shared machine's load hits both alike.
            for name in sorted(servers, reverse=connections != CONNECTIONS[0]):
                results[connections][name] = measure(servers[name], drive, connections, seconds)
    return results


def table(results: dict[int, dict[str, Measurement]], heading: str) -> list[str]:
    """One run's figures side by side, with ratios and the verdict on each target."""
    lines = [heading]
    lines.append(
        f"{'connections':>11}  {'server':<30}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>10}{'errors':>8}{'CPU us/req':>13}"
    )
    for connections, measured in results.items():
        baseline_result = measured[BASELINE_NAME]
        lines.append(row(str(connections), BASELINE_NAME, baseline_result))
        for name in SERVICES:
            service_result = measured[name]
            lines.append(row("", name, service_result))
            ratio = service_result.requests_per_second / max(baseline_result.requests_per_second, 1e-9)
            cpu_ratio = baseline_result.cpu_us_per_request / service_result.cpu_us_per_request
            lines.append(f"{'':>11}  {'  ratio':<30}{ratio:>9.1f}x{'':>27}{cpu_ratio:>12.1f}x")
    at_50 = results[CONNECTIONS[0]]
    for name in SERVICES:
        ratio = at_50[name].requests_per_second / max(at_50[BASELINE_NAME].requests_per_second, 1e-9)
        p99 = at_50[name].p99_ms
        errors = sum(measured[name].errors for measured in results.values())
        p99_verdict = (
            f"p99 at 50 connections {p99:.1f} ms (target <= {MAX_P99_MS:g} ms: {verdict(p99 <= MAX_P99_MS)}); "
            if name in P99_TARGETS
            else f"p99 at 50 connections {p99:.1f} ms; "
        )
        lines.append(
            f"{name}: req/s ratio at 50 connections {ratio:.1f}x (target >= {MIN_RATIOS[name]:g}x: "
            f"{verdict(ratio >= MIN_RATIOS[name])}); {p99_verdict}"
            f"errors, all runs {errors} (target 0: {verdict(errors == 0)})"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help=f"length of each run (default {SECONDS:g})")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs, one after another (default {RUNS})")
    parser.add_argument(
        "--load",
        choices=("wrk", "threads"),
        default="wrk" if shutil.which("wrk") else "threads",
        help="load generator (default: wrk when installed)",
    )
    parser.add_argument(
        "--no-write", "--no-doc", action="store_true", help="print only; leave docs/credentials.md alone"
    )
    args = parser.parse_args()
    drive = drive_with_wrk if args.load == "wrk" else drive_with_threads
    load = "wrk -t1 --latency" if args.load == "wrk" else "thread-per-connection load generator"

    written: list[str] = []
    for run in range(1, args.runs + 1):
        load_average = os.getloadavg()[0]  # a busy machine shrinks both figures; the ratio is what compares
        results = run_once(drive, args.seconds)
        heading = (
            f"run {run} of {args.runs}: GET {TARGET} on loopback, {args.seconds:g} s per run, keep-alive, {load}; "
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
            f"Python {sys.version.split()[0]}, load average {load_average:.1f} at start"
        )
        lines = table(results, heading)
        print("\n".join(lines), flush=True)
        written += [*lines, ""]
    if not args.no_write:
        write_between_markers(DOC, "bench:credentials", ["```", *"\n".join(written).rstrip("\n").split("\n"), "```"])
        print(f"(written to {DOC.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
