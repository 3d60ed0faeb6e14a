"""Upload a 400 MB WAV with screwdriver and with `curl -F` to the same server, side by side.

Targets: screwdriver takes at most 1.1x curl's time (issue 21; 1.3x in issue 4), and its peak RSS stays at or
under 64 MB. Rounds alternate which tool goes first, and the file is deleted between uploads so that every upload
stores it anew. `requests.post(files=...)`, the usual way, is measured once for reference. The server's rate
(the file's size over curl's median time) is set beside the loopback's: the same file sent over one loopback
socket to a process that reads and drops it, in the same run.
The figures are written into docs/screwdriver.md between the `bench:upload` markers.
"""

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench.figures import measure_and_write, verdict
from devtools.resources import run_with_peak_rss
from devtools.servers import AUDIO_SERVER, REPO, audio_server
from devtools.wav import write_silence


FILE_SIZE = 400 * 1000 * 1000
ROUNDS = 5  # the machine is shared: more rounds, steadier medians
MAX_RATIO = 1.1
MAX_PEAK_RSS = 64 * 1000 * 1000
UPLOAD_NAME = "bench.wav"
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
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    peak_rss: list[int] = field(default_factory=list)

    def upload(self, server_url: str) -> None:
        """Upload once, check the file arrived, record time and peak RSS, then delete it from the library."""
        started = time.perf_counter()
        run = run_with_peak_rss(self.command)
        elapsed = time.perf_counter() - started
        listed = requests.get(f"{server_url}/api/files", timeout=30).json()
        if run.returncode != 0 or [entry["size"] for entry in listed] != [FILE_SIZE + 44]:
            raise SystemExit(f"{self.name} upload failed (status {run.returncode}): {run.stderr.strip()}")
        self.seconds.append(elapsed)
        self.peak_rss.append(run.peak_rss)
        requests.delete(f"{server_url}/api/files/{UPLOAD_NAME}", timeout=30).raise_for_status()

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(folder: Path) -> list[str]:
    """Upload with each tool in alternating rounds; return the figures as the doc's lines."""
    load_before = os.getloadavg()[0]
    library = folder / "library"
    library.mkdir()
    wav = write_silence(folder / UPLOAD_NAME, FILE_SIZE)
    with audio_server(library) as server:
        url = f"{server.url}/api/files"
        screwdriver = Tool("screwdriver", [sys.executable, str(REPO / "screwdriver.py"), "--server", server.url])
        screwdriver.command += ["--quiet", "upload", str(wav)]
        curl = Tool("`curl -F`", ["curl", "-sS", "--fail", "-o", "/dev/null", "-F", f"file=@{wav}", url])
        reference = Tool(
            "`requests.post(files=...)`, for reference (1 run)", [sys.executable, "-c", REQUESTS_UPLOAD, url, str(wav)]
        )
        for round_number in range(ROUNDS):
            for tool in (screwdriver, curl) if round_number % 2 == 0 else (curl, screwdriver):
                tool.upload(server.url)
        reference.upload(server.url)
    loopback = statistics.median(loopback_seconds(wav) for _ in range(ROUNDS))
    load_after = os.getloadavg()[0]
    ratio = screwdriver.median / curl.median
    peak = max(screwdriver.peak_rss)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured by `make bench` on {when}: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, load average {load_before:.1f} at the start and {load_after:.1f} at the end "
        f"(a shared, noisy machine). A {FILE_SIZE / 1e6:.0f} MB WAV uploaded to `{AUDIO_SERVER}` on loopback, "
        f"screwdriver and `curl -F` alternating over {ROUNDS} rounds on the same server, medians:",
        "",
        "| tool | median time | throughput | peak RSS | runs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tool in (screwdriver, curl, reference):
        runs = ", ".join(f"{seconds:.2f} s" for seconds in tool.seconds)
        rate = (FILE_SIZE / 1e6) / tool.median
        lines.append(
            f"| {tool.name} | {tool.median:.2f} s | {rate:.0f} MB/s | {max(tool.peak_rss) / 1e6:.1f} MB | {runs} |"
        )
    lines += [
        "",
        f"screwdriver takes {ratio:.2f}x curl's time (target <= {MAX_RATIO}x: {verdict(ratio <= MAX_RATIO)}) "
        f"with a peak RSS of {peak / 1e6:.1f} MB (target <= {MAX_PEAK_RSS / 1e6:.0f} MB: "
        f"{verdict(peak <= MAX_PEAK_RSS)}).",
        f"The server takes the upload at {FILE_SIZE / 1e6 / curl.median:.0f} MB/s (curl's median); the loopback "
        f"carries the same file at {FILE_SIZE / 1e6 / loopback:.0f} MB/s to a reader that drops it (median of "
        f"{ROUNDS}): the server runs at {loopback / curl.median:.2f}x the loopback's rate.",
    ]
    return lines


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:upload")


if __name__ == "__main__":
    sys.exit(main())
