"""Measure the audio library server on real processes: a 20,000-file library, and a 400 MB upload.

1. Cold start: a server on 20,000 small WAVs it has never examined (no metadata cache). One listing, next to
   eight concurrent listings on another cold start (target: eight take <= 1.5x one), the time until every
   file is examined, and a download during that examination (target <= 1 s).
2. Warm: `GET /api/files` and `GET /` over REQUESTS requests after a warm-up (target: list p50 <= 100 ms),
   next to the same on a 100-file library (the scale baseline).
3. The page under change: eight readers reloading `GET /` while one upload arrives every 0.25 s (target page
   p50 <= 300 ms), next to the same readers with no uploads. The server's peak RSS over the whole run
   (target <= 250 MiB).
4. A 400 MB upload: time, throughput and the server's peak RSS, for waitress (production) and for Flask's
   development server (`--debug`), the alternative: it hands the body to the application as it arrives
   instead of spooling it first.

The figures are written into docs/audio-library.md between the `bench:library` markers.
"""

import argparse
import http.client
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from audio_library.library.metadata_cache import CACHE_FILE
from audio_library.web.api import UNEXAMINED_HEADER

from bench.figures import within, write_between_markers
from devtools.multipart import stream_upload
from devtools.resources import peak_rss
from devtools.servers import LOOPBACK, RunningServer, audio_server
from devtools.wav import noise_wav, write_silence


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
BIG_FILES = 20_000
SMALL_FILES = 100
REQUESTS = 50
WARM_UP = 5
READERS = 8
READ_SECONDS = 10.0  # how long the readers reload the page, each at most MAX_READS times
MAX_READS = 2000
UPLOAD_EVERY_S = 0.25
UPLOAD_BYTES = 400 * 1000 * 1000
UPLOAD_RUNS = 3
LIST_TARGET_MS = 100.0
PAGE_TARGET_MS = 300.0
CONCURRENT_TARGET = 1.5
DOWNLOAD_TARGET_MS = 1000.0
LIBRARY_RSS_TARGET = 250 * 1024 * 1024
RSS_TARGET = 150 * 1024 * 1024
EXAMINED_DEADLINE_S = 600.0


def fill_library(folder: Path, count: int) -> Path:
    """A library of `count` hard links to one small WAV under different names: real audio, made fast."""
    folder.mkdir(parents=True)
    source = folder.parent / f"{folder.name}-source.wav"
    source.write_bytes(noise_wav(7, seconds=0.5))
    for number in range(count):
        os.link(source, folder / f"track {number:05}.wav")
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


def get(server: RunningServer, path: str, timeout: float = 600) -> tuple[float, http.client.HTTPResponse]:
    """One GET on a new connection: (ms, the response, body read)."""
    connection = http.client.HTTPConnection(LOOPBACK, server.port, timeout=timeout)
    try:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed, response


@contextmanager
def cold_server(library: Path, peaks: list[int]) -> Iterator[RunningServer]:
    """A server started on the library with its metadata cache removed: every file is new to it."""
    (library / CACHE_FILE).unlink(missing_ok=True)
    with audio_server(library) as server:
        try:
            yield server
        finally:
            peaks.append(peak_rss(server.process.pid))


def concurrent_listings(server: RunningServer, count: int) -> tuple[float, int]:
    """`count` listings at once, each on its own connection: (wall ms until all answered, most unexamined)."""
    answers: list[tuple[float, http.client.HTTPResponse]] = []
    threads = [threading.Thread(target=lambda: answers.append(get(server, "/api/files"))) for _ in range(count)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = (time.perf_counter() - started) * 1000
    if len(answers) != count:
        raise RuntimeError("a listing failed")
    return elapsed, max(int(response.headers[UNEXAMINED_HEADER]) for _, response in answers)


def seconds_until_examined(server: RunningServer, since: float) -> float:
    """Poll the listing until no file is left unexamined; seconds from `since` (a perf_counter reading)."""
    deadline = time.monotonic() + EXAMINED_DEADLINE_S
    while time.monotonic() < deadline:
        _, response = get(server, "/api/files")
        if response.headers[UNEXAMINED_HEADER] == "0":
            return time.perf_counter() - since
        time.sleep(0.2)
    raise TimeoutError("the library was not examined in time")


def page_under_uploads(server: RunningServer, work: Path, uploading: bool) -> tuple[float, float, int]:
    """READERS clients reload the page for READ_SECONDS, with or without one upload every 0.25 s.

    Returns the page's (p50, p99) in ms and the number of uploads stored meanwhile.
    """
    samples: list[float] = []
    done = threading.Event()
    stored = 0

    stop_at = time.monotonic() + READ_SECONDS

    def read() -> None:
        for _ in range(MAX_READS):
            samples.append(get(server, "/")[0])
            if time.monotonic() >= stop_at:
                return

    def upload() -> None:
        nonlocal stored
        while not done.is_set():
            song = work / f"upload {stored:05}.wav"
            song.write_bytes(noise_wav(100_000 + stored, seconds=0.1))
            status, body = stream_upload(server.port, song)
            if status != 201:
                raise RuntimeError(f"an upload answered {status}: {body}")
            stored += 1
            done.wait(UPLOAD_EVERY_S)

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    uploader = threading.Thread(target=upload)
    if uploading:
        uploader.start()
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    done.set()
    if uploading:
        uploader.join()
    p50, p99 = percentiles(samples)
    return p50, p99, stored


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


def library_figures(work: Path) -> list[str]:
    """Run the listing, page and memory measurements; the Markdown that reports them."""
    big_library = fill_library(work / "big", BIG_FILES)
    small_library = fill_library(work / "small", SMALL_FILES)
    peaks: list[int] = []

    with cold_server(big_library, peaks) as server:
        started = time.perf_counter()
        one_ms, one_unexamined = concurrent_listings(server, 1)
        download_ms = get(server, "/files/track%2019999.wav")[0]
        examined_s = seconds_until_examined(server, started)
    with cold_server(big_library, peaks) as server:
        eight_ms, eight_unexamined = concurrent_listings(server, READERS)
        seconds_until_examined(server, time.perf_counter())
        list_big = latency(server, "/api/files", REQUESTS)
        page_big = latency(server, "/", REQUESTS)
        quiet = page_under_uploads(server, work, uploading=False)
        busy = page_under_uploads(server, work, uploading=True)
        peaks.append(peak_rss(server.process.pid))
    with audio_server(small_library) as server:
        list_small = latency(server, "/api/files", REQUESTS)
        page_small = latency(server, "/", REQUESTS)
    peak = max(peaks)

    def ms(value: float) -> str:
        return f"{value:,.1f} ms"

    load = os.getloadavg()
    return [
        f"Measured by `make bench` (`bench/bench_library.py`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load[0]:.1f} at the end;",
        f"real server processes on loopback, {BIG_FILES:,} hard-linked 0.5 s WAVs, {REQUESTS} requests per",
        f"latency after {WARM_UP} to warm up; {READERS} readers reload the page for {READ_SECONDS:.0f} s under change.",
        "",
        "| measured | figure | baseline in the same run | ratio / target |",
        "| --- | --- | --- | --- |",
        f"| cold start, {READERS} concurrent `GET /api/files` | all answered in {ms(eight_ms)} "
        f"({eight_unexamined:,} still unexamined) | one alone: {ms(one_ms)} ({one_unexamined:,} unexamined) | "
        f"{eight_ms / one_ms:.2f}x, target <= {CONCURRENT_TARGET}x: {within(eight_ms / one_ms, CONCURRENT_TARGET)} |",
        f"| cold start, a download during the examination | {ms(download_ms)} | — | "
        f"target <= {DOWNLOAD_TARGET_MS:.0f} ms: {within(download_ms, DOWNLOAD_TARGET_MS)} |",
        f"| cold start, until every file is examined (in the background) | {examined_s:.1f} s | — | — |",
        f"| warm `GET /api/files`, {BIG_FILES:,} files | p50 {ms(list_big[0])}, p99 {ms(list_big[1])} | "
        f"{SMALL_FILES} files: p50 {ms(list_small[0])} | {list_big[0] / list_small[0]:.1f}x; target p50 <= "
        f"{LIST_TARGET_MS:.0f} ms: {within(list_big[0], LIST_TARGET_MS)} |",
        f"| warm `GET /`, {BIG_FILES:,} files (first 500 rows) | p50 {ms(page_big[0])}, p99 {ms(page_big[1])} | "
        f"{SMALL_FILES} files: p50 {ms(page_small[0])} | {page_big[0] / page_small[0]:.1f}x |",
        f"| `GET /` by {READERS} readers, one upload every {UPLOAD_EVERY_S} s ({busy[2]} stored) | "
        f"p50 {ms(busy[0])}, p99 {ms(busy[1])} | no uploads: p50 {ms(quiet[0])}, p99 {ms(quiet[1])} | "
        f"{busy[0] / quiet[0]:.1f}x; target p50 <= {PAGE_TARGET_MS:.0f} ms: {within(busy[0], PAGE_TARGET_MS)} |",
        f"| server peak RSS over all of the above | {peak / 2**20:.0f} MiB | — | target <= "
        f"{LIBRARY_RSS_TARGET / 2**20:.0f} MiB: {within(peak, LIBRARY_RSS_TARGET)} |",
    ]


def upload_figures(work: Path) -> list[str]:
    """Upload 400 MB to waitress and to Flask's development server; the Markdown that reports it."""
    big = write_silence(work / "upload.wav", UPLOAD_BYTES)
    megabytes = UPLOAD_BYTES / 1e6
    waitress_s, waitress_rss = median_upload(work, big, debug=False)
    debug_s, debug_rss = median_upload(work, big, debug=True)
    return [
        "",
        "| upload of 400 MB as one multipart part, median of 3 | waitress (production) | Flask dev server | ratio |",
        "| --- | --- | --- | --- |",
        f"| time, throughput | {waitress_s:.2f} s, {megabytes / waitress_s:.1f} MB/s | {debug_s:.2f} s, "
        f"{megabytes / debug_s:.1f} MB/s | waitress takes {waitress_s / debug_s:.2f}x the time |",
        f"| server peak RSS | {waitress_rss / 2**20:.1f} MiB (target < {RSS_TARGET / 2**20:.0f} MiB: "
        f"{within(waitress_rss, RSS_TARGET)}) | {debug_rss / 2**20:.1f} MiB | — |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-upload", action="store_true", help="only the listing and page figures")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the docs alone")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-library-") as temporary:
        work = Path(temporary)
        lines = library_figures(work)
        if not arguments.skip_upload:
            lines += upload_figures(work)
    print("\n".join(lines))
    if not arguments.no_write and not arguments.skip_upload:  # only a complete run replaces the docs' figures
        write_between_markers(DOC, "bench:library", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
