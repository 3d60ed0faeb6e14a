"""Crawl 2,000 URLs on a local farm three ways, side by side, then from the cache, then hold 100,000 in flight.

Targets (issue 13): (b) this service end to end through crawl.py at least 0.8x the throughput of (c) a bare
asyncio gather with the same HTTP client and limits (no Redis, no tasks); (b) against (a) the published
solution's algorithm, one GET after another; the same 2,000 URLs again, from the cache, at 5,000 URLs/s or
more end to end; at most 200 MiB of server memory with 100,000 URLs in flight across tasks. The farm runs in
a process of its own on several loopback addresses, 50 ms latency per answer, with assorted statuses and a few
slow and failing targets. The figures are written into docs/crawler.md between the bench:crawler markers.
"""

import asyncio
import collections
import contextlib
import datetime
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.figures import verdict, write_between_markers
from FastAPI import crawl
from FastAPI.server import FetchError, Settings, StatusClient
from tests.crawler.farm import port_free_on_all
from tests.resources import peak_rss
from tests.servers import REPO, RunningServer, crawler_server, free_port


HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 10))
LATENCY = 0.05
URLS = 2_000
SEQUENTIAL_SAMPLE = 10  # (a) fetches every 10th URL: one after another, all 2,000 would take minutes
IN_FLIGHT_TASKS, IN_FLIGHT_PER_TASK = 10, 10_000
MIN_RATIO, MIN_CACHED_PER_S, MAX_MIB = 0.8, 5_000.0, 200.0
CODES = (200, 200, 200, 200, 201, 204, 301, 302, 304, 400, 403, 404, 404, 410, 429, 500, 502, 503)
DOC = REPO / "docs" / "crawler.md"


def farm_urls(port: int, count: int) -> list[str]:
    """Distinct URLs across the farm: mostly assorted statuses, 1% slow (0.5 s), 2% failing."""
    refused = free_port()
    urls = []
    for n in range(count):
        host = HOSTS[n % len(HOSTS)]
        if n % 100 == 7:
            urls.append(f"http://{host}:{port}/slow/0.5?n={n}")
        elif n % 100 == 13:
            urls.append(f"http://127.0.0.1:{refused}/?n={n}")
        elif n % 100 == 31:
            urls.append(f"http://{host}:{port}/garbage?n={n}")
        else:
            urls.append(f"http://{host}:{port}/status/{CODES[n % len(CODES)]}?n={n}")
    return urls


@contextlib.contextmanager
def running_farm_process(latency: float) -> Iterator[int]:
    """The farm in a process of its own; its port."""
    port = port_free_on_all(HOSTS)
    command = [sys.executable, "-m", "tests.crawler.farm", "--hosts", ",".join(HOSTS), "--port", str(port)]
    process = subprocess.Popen([*command, "--latency", str(latency)], cwd=REPO)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection((HOSTS[-1], port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the farm did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def one_after_another(urls: list[str]) -> list[int | str]:
    """(a) The published solution's algorithm: one GET after another, waiting for each."""
    codes: list[int | str] = []
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        for url in urls:
            try:
                codes.append((await client.get(url)).status_code)
            except httpx.HTTPError:
                codes.append("error")
    return codes


async def bare_gather(urls: list[str], settings: Settings) -> list[int | str]:
    """(c) The limit: the service's HTTP client and limits in a plain gather, nothing else."""
    everywhere = asyncio.Semaphore(settings.concurrency)
    hosts: dict[str, asyncio.Semaphore] = collections.defaultdict(lambda: asyncio.Semaphore(settings.per_host))
    client = StatusClient(settings)

    async def one(url: str) -> int | str:
        async with everywhere, hosts[httpx.URL(url).host]:
            try:
                return await client.status(url)
            except FetchError as error:
                return error.label

    return list(await asyncio.gather(*(one(url) for url in urls)))


def through_crawl_py(server: RunningServer, urls: list[str]) -> tuple[float, list[str]]:
    """(b) crawl.py's main() end to end, in this process; seconds and its output lines."""
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    status = crawl.main(["--server", server.url, "--timeout", "120", *urls], out, err)
    elapsed = time.perf_counter() - started
    if status not in (0, 1) or len(out.getvalue().splitlines()) != len(urls):
        raise RuntimeError(f"crawl.py failed ({status}): {err.getvalue()[-500:]}")
    return elapsed, out.getvalue().splitlines()


def timed(coroutine: Coroutine[Any, Any, list[int | str]]) -> float:
    started = time.perf_counter()
    asyncio.run(coroutine)
    return time.perf_counter() - started


def memory_in_flight(port: int) -> tuple[float, float]:
    """Server RSS and peak (MiB) once 100,000 URLs are in flight across tasks: each target answers in 60 s."""
    with crawler_server("--allow-private", "--task-deadline", "600", "--read-timeout", "120") as server:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            for task in range(IN_FLIGHT_TASKS):
                urls = [
                    f"http://{HOSTS[n % len(HOSTS)]}:{port}/slow/60?t={task}&n={n}" for n in range(IN_FLIGHT_PER_TASK)
                ]
                answer = client.post("/api/v1/tasks/", json=urls)
                if answer.status_code != 201:
                    raise RuntimeError(f"task refused: {answer.status_code} {answer.text[:200]}")
            time.sleep(2)  # let every task start its queues
            status = client.get("/healthz")
        status_lines = Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
        rss = int(next(line for line in status_lines if line.startswith("VmRSS:")).split()[1])
        peak = peak_rss(server.process.pid)
        if status.status_code != 200:
            raise RuntimeError("the server was not healthy with 100,000 URLs in flight")
    return rss / 1024, peak / 2**20


def main() -> int:
    load_before = os.getloadavg()
    settings = Settings(allow_private=True)
    with running_farm_process(LATENCY) as port:
        urls = farm_urls(port, URLS)
        sample = urls[::SEQUENTIAL_SAMPLE]
        seconds_a = timed(one_after_another(sample))
        seconds_c = timed(bare_gather(urls, settings))
        with crawler_server("--allow-private") as server:
            seconds_b, lines = through_crawl_py(server, urls)
            seconds_cached, cached_lines = through_crawl_py(server, urls)
        if cached_lines != lines:
            raise RuntimeError("the cached run printed other lines than the first")
        rss_mib, peak_mib = memory_in_flight(port)
    load_after = os.getloadavg()
    rate_a, rate_b, rate_c = len(sample) / seconds_a, URLS / seconds_b, URLS / seconds_c
    rate_cached = URLS / seconds_cached
    failed = sum(1 for line in lines if line.startswith("error:"))
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    text = "\n".join(
        [
            f"Measured {when} on {os.cpu_count()} cores shared with other work: load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after. Farm: {len(HOSTS)} loopback addresses, "
            f"{LATENCY * 1000:g} ms per answer, {URLS:,} distinct URLs ({failed} failing, 1% taking 0.5 s); "
            f"limits {settings.concurrency} at once, {settings.per_host} per host.",
            "",
            "| run | URLs | seconds | URLs/s |",
            "|---|---|---|---|",
            f"| (a) one GET after another (published algorithm) | {len(sample):,} | {seconds_a:.2f} | {rate_a:,.0f} |",
            f"| (b) this service through crawl.py | {URLS:,} | {seconds_b:.2f} | {rate_b:,.0f} |",
            f"| (c) bare asyncio gather, same client and limits | {URLS:,} | {seconds_c:.2f} | {rate_c:,.0f} |",
            f"| (b) again, from the cache | {URLS:,} | {seconds_cached:.3f} | {rate_cached:,.0f} |",
            "",
            f"- (b)/(c): {rate_b / rate_c:.2f}x (target >= {MIN_RATIO}x): {verdict(rate_b / rate_c >= MIN_RATIO)}",
            f"- (b)/(a): {rate_b / rate_a:.1f}x",
            f"- from the cache: {rate_cached:,.0f} URLs/s end to end (target >= {MIN_CACHED_PER_S:,.0f}): "
            f"{verdict(rate_cached >= MIN_CACHED_PER_S)}",
            f"- server memory with {IN_FLIGHT_TASKS * IN_FLIGHT_PER_TASK:,} URLs in flight across "
            f"{IN_FLIGHT_TASKS} tasks: {rss_mib:.0f} MiB resident, {peak_mib:.0f} MiB peak (target <= "
            f"{MAX_MIB:g}): {verdict(peak_mib <= MAX_MIB)}",
        ]
    )
    print(text)
    write_between_markers(DOC, "bench:crawler", text.split("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
