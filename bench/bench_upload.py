"""Upload a 400 MB WAV with screwdriver and with `curl -F` to the same server, side by side.

Targets (issue 4): screwdriver takes at most 1.3x curl's time, and its peak RSS stays at or under 64 MB.
Rounds alternate which tool goes first, and the file is deleted between uploads so that every upload
stores it anew. `requests.post(files=...)`, the usual way, is measured once for reference.
"""

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.resources import run_with_peak_rss
from tests.servers import AUDIO_SERVER, REPO, audio_server
from tests.wav import write_silence


FILE_SIZE = 400 * 1000 * 1000
ROUNDS = 3
MAX_RATIO = 1.3
MAX_PEAK_RSS = 64 * 1000 * 1000
UPLOAD_NAME = "bench.wav"

REQUESTS_UPLOAD = """
import sys, requests
with open(sys.argv[2], "rb") as file:
    response = requests.post(sys.argv[1], files={"file": file})
sys.exit(response.status_code not in (200, 201))
"""


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


def report(tools: list[Tool]) -> None:
    print(f"{'tool':<16}{'median s':>10}{'MB/s':>9}{'peak RSS MB':>13}   runs (s)")
    for tool in tools:
        runs = " ".join(f"{seconds:.2f}" for seconds in tool.seconds)
        rate = (FILE_SIZE / 1e6) / tool.median
        print(f"{tool.name:<16}{tool.median:>10.2f}{rate:>9.0f}{max(tool.peak_rss) / 1e6:>13.1f}   {runs}")


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as temporary:
        folder = Path(temporary)
        library = folder / "library"
        library.mkdir()
        wav = write_silence(folder / UPLOAD_NAME, FILE_SIZE)
        with audio_server(library) as server:
            url = f"{server.url}/api/files"
            screwdriver = Tool("screwdriver", [sys.executable, str(REPO / "screwdriver.py"), "--server", server.url])
            screwdriver.command += ["--quiet", "upload", str(wav)]
            curl = Tool("curl -F", ["curl", "-sS", "--fail", "-o", "/dev/null", "-F", f"file=@{wav}", url])
            reference = Tool("requests files=", [sys.executable, "-c", REQUESTS_UPLOAD, url, str(wav)])
            for round_number in range(ROUNDS):
                for tool in (screwdriver, curl) if round_number % 2 == 0 else (curl, screwdriver):
                    tool.upload(server.url)
            reference.upload(server.url)

    print(f"Uploading a {FILE_SIZE / 1e6:.0f} MB WAV to {AUDIO_SERVER} on loopback, {ROUNDS} rounds, alternating:")
    report([screwdriver, curl, reference])
    ratio = screwdriver.median / curl.median
    peak = max(screwdriver.peak_rss)
    print(f"time ratio screwdriver/curl: {ratio:.2f}x (target <= {MAX_RATIO}x: {verdict(ratio <= MAX_RATIO)})")
    print(f"screwdriver peak RSS: {peak / 1e6:.1f} MB (target <= 64 MB: {verdict(peak <= MAX_PEAK_RSS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
