"""Upload a 400 MB WAV with screwdriver and with `curl -F` to the same server, side by side.

Targets: screwdriver takes at most 1.1x curl's time (issue 21; 1.3x in issue 4), and its peak RSS stays at or
under 64 MB. Rounds alternate which tool goes first, and the file is deleted between uploads so that every upload
stores it anew. Each tool's CPU time (user and system) is measured too: on a shared machine it is the steadier
figure, and what the client controls. screwdriver runs as installed, from bytecode compiled once (pip compiles
at install; here into a cache of the benchmark's own, whatever PYTHONDONTWRITEBYTECODE says), and each tool
uploads a small file once before the rounds, untimed, so that neither pays for a cold start. In each round each
tool also uploads a 1 MiB file, which costs little besides the tool's start and exit: the big upload's time less
that one is the transfer's, compared apart.
`requests.post(files=...)`, the usual way, is measured once for reference. The server's rate (the file's size
over curl's median time) is set beside the loopback's: the same file sent over one loopback socket to a process
that reads and drops it, in the same run.
The figures are written into docs/screwdriver.md between the `bench:upload` markers.
"""

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench.figures import measure_and_write, verdict
from devtools.resources import Measured, run_with_peak_rss
from devtools.servers import AUDIO_SERVER, REPO, audio_server
from devtools.wav import write_silence


FILE_SIZE = 400 * 1000 * 1000
ROUNDS = 5  # the machine is shared: more rounds, steadier medians
MAX_RATIO = 1.1
MAX_PEAK_RSS = 64 * 1000 * 1000
UPLOAD_NAME = "bench.wav"
SMALL_NAME = "small.wav"
SMALL_SIZE = 1024 * 1024
DOC = REPO / "docs" / "screwdriver.md"

REQUESTS_UPLOAD = """
import sys, requests
with open(sys.argv[2], "rb") as file:
    response = requests.post(sys.argv[1], files={"file": file})
sys.exit(response.status_code not in (200, 201))
"""


# A process that accepts one connection, reads it to its end and drops every byte: the loopback's ceiling.
DROP_ALL = """
import socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
connection, _ = listener.accept()
buffer = bytearray(1024 * 1024)
while connection.recv_into(buffer):
    pass
"""


def loopback_seconds(path: Path) -> float:
    """Seconds to send the file over one loopback socket to a process that reads and drops it."""
    with subprocess.Popen([sys.executable, "-c", DROP_ALL], stdout=subprocess.PIPE, text=True) as reader:
        assert reader.stdout is not None
        port = int(reader.stdout.readline())
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as sock, path.open("rb") as file:
            sock.sendfile(file)
        reader.wait(timeout=600)
        return time.perf_counter() - started


@dataclass
class Tool:
    """One way of uploading the file, and what its runs measured."""

    name: str
    command: Callable[[Path], list[str]]  # the command that uploads a file
    env: Mapping[str, str] | None = None
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    small_seconds: list[float] = field(default_factory=list)

    def upload(self, server_url: str, wav: Path) -> None:
        """Upload the big file once and record its time, peak RSS and CPU."""
        elapsed, run = self.timed_upload(server_url, wav)
        self.seconds.append(elapsed)
        self.peak_rss.append(run.peak_rss)
        self.cpu.append(run.cpu_seconds)

    def upload_small(self, server_url: str, small: Path) -> None:
        """Upload the small file once and record its time: what a run costs besides its transfer."""
        self.small_seconds.append(self.timed_upload(server_url, small)[0])

    def timed_upload(self, server_url: str, path: Path) -> tuple[float, Measured]:
        """Upload once, check the file arrived whole, then delete it from the library; return the seconds taken."""
        started = time.perf_counter()
        run = run_with_peak_rss(self.command(path), env=self.env)
        elapsed = time.perf_counter() - started
        listed = requests.get(f"{server_url}/api/files", timeout=30).json()
        if run.returncode != 0 or [entry["size"] for entry in listed] != [path.stat().st_size]:
            raise SystemExit(f"{self.name} upload failed (status {run.returncode}): {run.stderr.strip()}")
        requests.delete(f"{server_url}/api/files/{path.name}", timeout=30).raise_for_status()
        return elapsed, run

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def small_median(self) -> float:
        return statistics.median(self.small_seconds)


def installed_python(folder: Path) -> dict[str, str]:
    """This environment for a Python tool run as installed: bytecode written once and read after, in `folder`."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def measure(folder: Path) -> list[str]:
    """Upload with each tool in alternating rounds; return the figures as the doc's lines."""
    load_before = os.getloadavg()[0]
    library = folder / "library"
    library.mkdir()
    wav = write_silence(folder / UPLOAD_NAME, FILE_SIZE)
    small = write_silence(folder / SMALL_NAME, SMALL_SIZE - 44)
    with audio_server(library) as server:
        url = f"{server.url}/api/files"
        python = installed_python(folder / "bytecode")
        client = [sys.executable, str(REPO / "screwdriver.py"), "--server", server.url, "--quiet"]
        screwdriver = Tool(
            "screwdriver",
            lambda path: [*client, "upload", str(path)],
            python,
        )
        curl = Tool("`curl -F`", lambda path: ["curl", "-sS", "--fail", "-o", "/dev/null", "-F", f"file=@{path}", url])
        reference = Tool(
            "`requests.post(files=...)`, for reference (1 run)",
            lambda path: [sys.executable, "-c", REQUESTS_UPLOAD, url, str(path)],
            python,
        )
        for tool in (screwdriver, curl):
            tool.timed_upload(server.url, small)  # the warm-up
        for round_number in range(ROUNDS):
            for tool in (screwdriver, curl) if round_number % 2 == 0 else (curl, screwdriver):
                tool.upload_small(server.url, small)
                tool.upload(server.url, wav)
        reference.upload(server.url, wav)
    loopback = statistics.median(loopback_seconds(wav) for _ in range(ROUNDS))
    load_after = os.getloadavg()[0]
    ratio = screwdriver.median / curl.median
    cpu_ratio = statistics.median(screwdriver.cpu) / statistics.median(curl.cpu)
    transfer_ratio = (screwdriver.median - screwdriver.small_median) / (curl.median - curl.small_median)
    peak = max(screwdriver.peak_rss)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured by `make bench` on {when}: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, load average {load_before:.1f} at the start and {load_after:.1f} at the end "
        f"(a shared, noisy machine). A {FILE_SIZE / 1e6:.0f} MB WAV uploaded to `{AUDIO_SERVER}` on loopback, "
        f"screwdriver and `curl -F` alternating over {ROUNDS} rounds on the same server, medians:",
        "",
        "| tool | median time | throughput | median CPU | peak RSS | runs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tool in (screwdriver, curl, reference):
        runs = ", ".join(f"{seconds:.2f} s" for seconds in tool.seconds)
        rate = (FILE_SIZE / 1e6) / tool.median
        lines.append(
            f"| {tool.name} | {tool.median:.2f} s | {rate:.0f} MB/s | {statistics.median(tool.cpu):.2f} s "
            f"| {max(tool.peak_rss) / 1e6:.1f} MB | {runs} |"
        )
    lines += [
        "",
        f"screwdriver takes {ratio:.2f}x curl's time (target <= {MAX_RATIO}x: {verdict(ratio <= MAX_RATIO)}) "
        f"with a peak RSS of {peak / 1e6:.1f} MB (target <= {MAX_PEAK_RSS / 1e6:.0f} MB: "
        f"{verdict(peak <= MAX_PEAK_RSS)}), and {cpu_ratio:.2f}x curl's CPU time (user and system, medians).",
        f"A {SMALL_SIZE / 2**20:.0f} MiB upload, timed in each round too, is mostly a run's start and exit: "
        f"screwdriver {screwdriver.small_median:.2f} s, curl {curl.small_median:.2f} s (medians). The difference "
        f"is {(screwdriver.small_median - curl.small_median) / curl.median:.0%} of curl's time on the big file; "
        f"without each tool's, the transfers compare as {transfer_ratio:.2f}x.",
        f"The server takes the upload at {FILE_SIZE / 1e6 / curl.median:.0f} MB/s (curl's median); the loopback "
        f"carries the same file at {FILE_SIZE / 1e6 / loopback:.0f} MB/s to a reader that drops it (median of "
        f"{ROUNDS}): the server runs at {loopback / curl.median:.2f}x the loopback's rate.",
    ]
    return lines


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:upload")


if __name__ == "__main__":
    sys.exit(main())
