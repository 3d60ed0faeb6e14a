"""Measure the audio library server on real processes: a 10,000-file library, and a 400 MB upload.

1. Listing and page latency. `GET /api/files` and `GET /` are timed over REQUESTS requests each after a
   warm-up, on a library of 10,000 small audio files (targets: list p50 <= 100 ms, page p50 <= 300 ms), next
   to the same requests on a 100-file library (the scale baseline: how far from flat the cost grows), and
   next to a naive listing that runs the detection and the duration probe over every file on every request
   (what the metadata cache saves; timed in-process, without HTTP, so its ratio understates the saving).
2. The first listing after start-up: with no cache yet (every file examined) and after a restart that finds
   the persisted cache.
3. A 400 MB upload: time, throughput and the server's peak RSS, for waitress (production) and for Flask's
   development server (`--debug`), the alternative: it hands the body to the application as it arrives
   instead of spooling it first.
"""

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "Flask"))

from audio_library.audio import detect_audio_type, probe_duration
from audio_library.catalog import CACHE_FILE

from tests.audio.conftest import FIXTURES
from tests.audio.streaming import peak_rss, stream_upload
from tests.servers import LOOPBACK, RunningServer, audio_server
from tests.wav import write_silence


FIXTURE = FIXTURES / "mp3-plain.mp3"
BIG_FILES = 10_000
SMALL_FILES = 100
REQUESTS = 50
WARM_UP = 5
NAIVE_RUNS = 3
UPLOAD_BYTES = 400 * 1000 * 1000
UPLOAD_RUNS = 3
LIST_TARGET_MS = 100.0
PAGE_TARGET_MS = 300.0
RSS_TARGET = 150 * 1024 * 1024


def fill_library(folder: Path, count: int) -> Path:
    """A library of `count` copies of one small MP3 under different names."""
    folder.mkdir(parents=True)
    for number in range(count):
        shutil.copyfile(FIXTURE, folder / f"track {number:05}.mp3")
    return folder


def timed_get(connection: http.client.HTTPConnection, path: str) -> float:
    """One GET on a kept-alive connection; its time in ms, body read in full."""
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of the samples."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


def latency(server: RunningServer, path: str, requests: int) -> tuple[float, float]:
    """p50 and p99 in ms of `requests` GETs of `path` after a warm-up."""
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=60)
    try:
        for _ in range(WARM_UP):
            timed_get(connection, path)
        return percentiles([timed_get(connection, path) for _ in range(requests)])
    finally:
        connection.close()


def first_listing_ms(library: Path) -> float:
    """Start a server on the library and time its very first `GET /api/files`."""
    with audio_server(library) as server:
        connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=600)
        try:
            return timed_get(connection, "/api/files")
        finally:
            connection.close()


def naive_listing(folder: Path) -> bytes:
    """What a listing costs without the cache: detect and probe every file, then encode."""
    entries = []
    with os.scandir(folder) as scan:
        for item in scan:
            if item.name.startswith(".") or not item.is_file(follow_symlinks=False):
                continue
            path = Path(item.path)
            mime = detect_audio_type(path)
            if mime is not None:
                info = item.stat()
                duration = probe_duration(path, mime)
                entries.append({"name": item.name, "size": info.st_size, "type": mime, "duration": duration})
    entries.sort(key=lambda entry: str(entry["name"]))
    return json.dumps(entries).encode()


def time_ms(action: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls, in ms."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure_upload(work: Path, big: Path, debug: bool) -> tuple[float, int]:
    """Upload the big file to a fresh server; (seconds, server peak RSS in bytes)."""
    library = work / ("upload-debug" if debug else "upload-waitress")
    with audio_server(library, *(["--debug"] if debug else [])) as server:
        started = time.perf_counter()
        status, body = stream_upload(server.port, big)
        seconds = time.perf_counter() - started
        peak = peak_rss(server.process.pid)
    if status != 201:
        raise RuntimeError(f"the upload answered {status}: {body}")
    shutil.rmtree(library)
    return seconds, peak


def median_upload(work: Path, big: Path, debug: bool) -> tuple[float, int]:
    """The median time of UPLOAD_RUNS uploads and the highest peak RSS seen."""
    runs = [measure_upload(work, big, debug) for _ in range(UPLOAD_RUNS)]
    return statistics.median(seconds for seconds, _ in runs), max(peak for _, peak in runs)


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-upload", action="store_true", help="only the listing and page figures")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-library-") as temporary:
        work = Path(temporary)
        big_library = fill_library(work / "big", BIG_FILES)
        small_library = fill_library(work / "small", SMALL_FILES)

        cold_ms = first_listing_ms(big_library)
        assert (big_library / CACHE_FILE).is_file()
        restarted_ms = first_listing_ms(big_library)

        with audio_server(big_library) as server:
            list_big = latency(server, "/api/files", REQUESTS)
            page_big = latency(server, "/", REQUESTS)
        with audio_server(small_library) as server:
            list_small = latency(server, "/api/files", REQUESTS)
            page_small = latency(server, "/", REQUESTS)
        naive_ms = time_ms(lambda: naive_listing(big_library), NAIVE_RUNS)

        print(f"Audio library with {BIG_FILES} files ({REQUESTS} requests each after {WARM_UP} to warm up)")
        print(f"  GET /api/files  p50 {list_big[0]:7.1f} ms  p99 {list_big[1]:7.1f} ms", end="")
        print(f"   target p50 <= {LIST_TARGET_MS:.0f} ms: {verdict(list_big[0], LIST_TARGET_MS)}")
        print(f"  GET /           p50 {page_big[0]:7.1f} ms  p99 {page_big[1]:7.1f} ms", end="")
        print(f"   target p50 <= {PAGE_TARGET_MS:.0f} ms: {verdict(page_big[0], PAGE_TARGET_MS)}")
        print(f"Baseline: the same server with {SMALL_FILES} files")
        print(f"  GET /api/files  p50 {list_small[0]:7.1f} ms  p99 {list_small[1]:7.1f} ms", end="")
        print(f"   {BIG_FILES} files cost {list_big[0] / list_small[0]:.1f}x")
        print(f"  GET /           p50 {page_small[0]:7.1f} ms  p99 {page_small[1]:7.1f} ms", end="")
        print(f"   {BIG_FILES} files cost {page_big[0] / page_small[0]:.1f}x")
        print(f"Baseline: a naive listing that examines all {BIG_FILES} files per request (in-process, median of 3)")
        print(f"  {naive_ms:7.1f} ms per listing   the cached listing is {naive_ms / list_big[0]:.0f}x faster")
        print(f"First GET /api/files after start-up, {BIG_FILES} files")
        print(f"  no cache yet {cold_ms:8.1f} ms   persisted cache {restarted_ms:7.1f} ms", end="")
        print(f"   {cold_ms / restarted_ms:.0f}x faster")

        if arguments.skip_upload:
            return 0
        big = write_silence(work / "upload.wav", UPLOAD_BYTES)
        megabytes = UPLOAD_BYTES / 1e6
        waitress_s, waitress_rss = median_upload(work, big, debug=False)
        debug_s, debug_rss = median_upload(work, big, debug=True)
        print(
            f"Uploading {megabytes:.0f} MB as one multipart part, median of {UPLOAD_RUNS} "
            f"(peak RSS target < {RSS_TARGET / 2**20:.0f} MiB)"
        )
        print(
            f"  waitress (production)  {waitress_s:5.2f} s  {megabytes / waitress_s:6.1f} MB/s  "
            f"peak RSS {waitress_rss / 2**20:5.1f} MiB: {verdict(waitress_rss, RSS_TARGET)}"
        )
        print(
            f"  Flask dev server       {debug_s:5.2f} s  {megabytes / debug_s:6.1f} MB/s  "
            f"peak RSS {debug_rss / 2**20:5.1f} MiB   waitress takes {waitress_s / debug_s:.2f}x its time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
