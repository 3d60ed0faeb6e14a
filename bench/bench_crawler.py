"""Measure the crawler against the farm's ideal, its CPU per URL, its waiters and its memory under a flood.

1. Throughput (issue 22): 4,000 distinct URLs on a farm of 8 loopback addresses answering in 50 ms, with the
   default limits (200 at once, 20 per host), so that the ideal is 8 x 20 / 0.05 s = 3,200 URLs/s. (b) this
   service end to end through crawl.py; (c) the service's status-line client in a bare asyncio gather with the
   same limits (no Redis, no tasks); (d) the same gather with httpx, the client the service used before, on
   1,000 URLs. All on uvloop, the loop uvicorn runs the service on. Each as a fraction of the ideal (target
   >= 0.8, floor 0.5), with the client's CPU per URL: the server process's for (b), this process's for (c)
   and (d). (b) and (c) run five times each, taking turns, on fresh URLs each time: on cores shared with
   other work one run says more about the other work than about the crawler, so the median run is shown and
   the range is said. Then (b) again, from the cache.
2. Waiters: 10,000 GETs with `?wait=30` on one task, held open until it is ready, through the server running
   it and through another server on the same Redis; then 1,000 POSTs at once. Every answer must be 200 (201):
   a 503 there is false, Redis being up throughout.
3. Memory: 1,000,000 URLs offered in 100 tasks of 10,000 hanging URLs; past --max-in-flight (100,000) a task
   gets 503 with Retry-After; the server's resident and peak memory.

The farm runs in a process of its own. The figures are written into docs/crawler.md between the
bench:crawler markers, unless --no-write is given.
"""

import asyncio
import collections
import contextlib
import datetime
import functools
import io
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvloop

from bench.figures import measure_and_write, verdict
from devtools.crowd import crowd, get_request, post_request
from devtools.farm import port_free_on_all
from devtools.redis_server import redis_server
from devtools.resources import peak_rss
from devtools.servers import REPO, RunningServer, crawler_server
from FastAPI import crawl
from FastAPI.server import FetchError, Settings, StatusClient


HOSTS = tuple(f"127.0.0.{n}" for n in range(2, 10))
LATENCY = 0.05
URLS = 4_000
HTTPX_URLS = 1_000  # (d) is slow enough that fewer URLs measure it as well
CODES = (200, 200, 200, 200, 201, 204, 301, 302, 304, 400, 403, 404, 404, 410, 429, 500, 502, 503)
WAITERS, POSTS = 10_000, 1_000
OFFERED_TASKS, URLS_PER_TASK = 100, 10_000
TARGET, FLOOR, MAX_MIB = 0.8, 0.5, 200.0
ROUNDS = 5  # runs of (b) and of (c), taking turns; the median is shown
DOC = REPO / "docs" / "crawler.md"


def farm_urls(port: int, count: int, tag: str) -> list[str]:
    """Distinct URLs spread evenly across the farm's hosts, with assorted statuses, all answered after LATENCY."""
    return [f"http://{HOSTS[n % len(HOSTS)]}:{port}/status/{CODES[n % len(CODES)]}?{tag}={n}" for n in range(count)]


@contextlib.contextmanager
def running_farm_process(latency: float) -> Iterator[tuple[int, int]]:
    """The farm in a process of its own; its port and process id."""
    port = port_free_on_all(HOSTS)
    command = [sys.executable, "-m", "devtools.farm", "--hosts", ",".join(HOSTS), "--port", str(port)]
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
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def gather_limited(urls: list[str], settings: Settings, fetch: Callable[[str], Awaitable[int | str]]) -> None:
    everywhere = asyncio.Semaphore(settings.concurrency)
    hosts: dict[str, asyncio.Semaphore] = collections.defaultdict(lambda: asyncio.Semaphore(settings.per_host))

    async def one(url: str) -> int | str:
        async with everywhere, hosts[urlsplit(url).netloc]:
            return await fetch(url)

    await asyncio.gather(*(one(url) for url in urls))


async def with_status_client(urls: list[str], settings: Settings) -> None:
    """(c) The service's own client, bare."""
    client = StatusClient(settings)

    async def fetch(url: str) -> int | str:
        try:
            return await client.status(url)
        except FetchError as error:
            return error.label

    await gather_limited(urls, settings, fetch)
    client.close()  # not left open on the farm while the runs after this one are measured


async def with_httpx(urls: list[str], settings: Settings) -> None:
    """(d) httpx, streaming only the head, as the service did before."""
    limits = httpx.Limits(max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency)
    async with httpx.AsyncClient(timeout=10, trust_env=False, limits=limits) as client:

        async def fetch(url: str) -> int | str:
            try:
                async with client.stream("GET", url) as response:
                    return response.status_code
            except httpx.HTTPError:
                return "error"

        await gather_limited(urls, settings, fetch)


def timed_in_process(run: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    """Seconds and this process's CPU seconds to run the coroutine."""
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run())  # type: ignore[arg-type]
    return time.perf_counter() - started, time.process_time() - cpu


def through_crawl_py(server: RunningServer, urls: list[str]) -> tuple[float, float]:
    """(b) crawl.py's main() end to end, in this process; seconds, and the server's CPU seconds meanwhile."""
    out, err = io.StringIO(), io.StringIO()
    started, cpu = time.perf_counter(), cpu_seconds(server.process.pid)
    status = crawl.main(["--server", server.url, "--timeout", "120", *urls], out, err)
    elapsed, used = time.perf_counter() - started, cpu_seconds(server.process.pid) - cpu
    if status not in (0, 1) or len(out.getvalue().splitlines()) != len(urls):
        raise RuntimeError(f"crawl.py failed ({status}): {err.getvalue()[-500:]}")
    return elapsed, used


def waiters(farm_port: int) -> tuple[collections.Counter[str], collections.Counter[str], collections.Counter[str]]:
    """10,000 waiters through the running server and through another one, then 1,000 POSTs at once."""
    flags = ("--allow-private", "--max-connections", str(WAITERS + 2_000))
    with redis_server() as store, crawler_server(*flags, "--redis", store.url) as own:
        with crawler_server(*flags, "--redis", store.url) as other:
            slow = f"http://{HOSTS[0]}:{farm_port}/slow/20?waiters"
            task = httpx.post(f"{own.url}/api/v1/tasks", json=[slow], timeout=30).json()["id"]
            wait = get_request(f"/api/v1/tasks/{task}?wait=30")
            local = asyncio.run(crowd(own.port, [wait] * WAITERS))
            second = httpx.post(f"{own.url}/api/v1/tasks", json=[slow.replace("waiters", "remote")], timeout=30)
            wait = get_request(f"/api/v1/tasks/{second.json()['id']}?wait=30")
            remote = asyncio.run(crowd(other.port, [wait] * WAITERS))
        posts = [post_request([f"http://{HOSTS[n % len(HOSTS)]}:{farm_port}/status/200?p={n}"]) for n in range(POSTS)]
        created = asyncio.run(crowd(own.port, posts))
    return local, remote, created


def memory_offered(farm_port: int) -> tuple[int, int, bool, float, float]:
    """Tasks taken and refused (503 with Retry-After) of 1,000,000 hanging URLs offered; RSS and peak (MiB)."""
    taken = refused = 0
    retry_after = True
    flags = ("--allow-private", "--task-deadline", "600", "--read-timeout", "120")
    with crawler_server(*flags) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        for task in range(OFFERED_TASKS):
            urls = [f"http://{HOSTS[n % len(HOSTS)]}:{farm_port}/slow/60?t={task}&n={n}" for n in range(URLS_PER_TASK)]
            answer = client.post("/api/v1/tasks", json=urls)
            if answer.status_code == 201:
                taken += 1
            elif answer.status_code == 503:
                refused += 1
                retry_after = retry_after and answer.headers.get("retry-after", "").isdigit()
            else:
                raise RuntimeError(f"task answered {answer.status_code} {answer.text[:200]}")
        healthy = client.get("/healthz").status_code == 200
        status_lines = Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
        rss = int(next(line for line in status_lines if line.startswith("VmRSS:")).split()[1])
        peak = peak_rss(server.process.pid)
    if not healthy:
        raise RuntimeError("the server was not healthy with its URLs in flight")
    return taken, refused, retry_after, rss / 1024, peak / 2**20


def share(counts: collections.Counter[str]) -> str:
    return ", ".join(f"{count:,} {code}" for code, count in counts.most_common())


def measure(_folder: Path) -> list[str]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 10,000 waiters hold a connection each
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # the loop uvicorn runs the service on
    load_before = os.getloadavg()
    settings = Settings(allow_private=True)
    ideal = len(HOSTS) * settings.per_host / LATENCY
    runs_b: list[tuple[float, float]] = []
    runs_c: list[tuple[float, float, float]] = []  # seconds, CPU seconds, the farm's CPU seconds
    with running_farm_process(LATENCY) as (port, farm_pid):
        with crawler_server("--allow-private") as server:
            for run in range(ROUNDS):
                farm_cpu = cpu_seconds(farm_pid)
                gather = functools.partial(with_status_client, farm_urls(port, URLS, f"c{run}"), settings)
                runs_c.append((*timed_in_process(gather), cpu_seconds(farm_pid) - farm_cpu))
                urls = farm_urls(port, URLS, f"b{run}")
                runs_b.append(through_crawl_py(server, urls))
            seconds_cached, _cpu = through_crawl_py(server, urls)
        seconds_d, cpu_d = timed_in_process(lambda: with_httpx(farm_urls(port, HTTPX_URLS, "d"), settings))
        local, remote, created = waiters(port)
        taken, refused, retry_after, rss_mib, peak_mib = memory_offered(port)
    load_after = os.getloadavg()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    (seconds_b, cpu_b), (seconds_c, cpu_c, farm_cpu_c) = statistics.median_low(runs_b), statistics.median_low(runs_c)
    rate = {"b": URLS / seconds_b, "c": URLS / seconds_c, "d": HTTPX_URLS / seconds_d}
    spread = {
        run: f"{URLS / max(runs)[0] / ideal:.2f}-{URLS / min(runs)[0] / ideal:.2f}"
        for run, runs in (("b", runs_b), ("c", runs_c))
    }
    false_503 = local["503"] + remote["503"] + created["503"]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def row(name: str, run: str, seconds: float, cpu: float) -> str:
        urls = round(rate[run] * seconds)
        fraction = rate[run] / ideal
        return f"| {name} | {urls:,} | {seconds:.2f} | {rate[run]:,.0f} | {fraction:.2f} | {cpu / urls * 1e6:,.0f} µs |"

    return [
        f"Measured {when} on {os.cpu_count()} cores shared with other work: load average {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after. Farm: {len(HOSTS)} loopback addresses answering in {LATENCY * 1000:g} "
        f"ms, {URLS:,} distinct URLs per run; limits {settings.concurrency} at once, {settings.per_host} per host: "
        f"ideal {ideal:,.0f} URLs/s. (b) and (c): the median of {ROUNDS} runs each, taking turns. The farm itself "
        f"used {farm_cpu_c / URLS * 1e6:,.0f} µs of CPU per URL in (c).",
        "",
        "| run | URLs | seconds | URLs/s | of the ideal | client CPU per URL |",
        "|---|---|---|---|---|---|",
        row("(b) this service through crawl.py (server process CPU)", "b", seconds_b, cpu_b),
        row("(c) its status-line client, bare asyncio gather", "c", seconds_c, cpu_c),
        row("(d) httpx, bare asyncio gather (the client before)", "d", seconds_d, cpu_d),
        f"| (b) again, from the cache | {URLS:,} | {seconds_cached:.3f} | {URLS / seconds_cached:,.0f} | | |",
        "",
        f"- (b) at {rate['b'] / ideal:.2f} of the ideal (its runs {spread['b']}): target >= {TARGET} "
        f"{verdict(rate['b'] / ideal >= TARGET)}, floor {FLOOR} {verdict(rate['b'] / ideal >= FLOOR)}; (c) at "
        f"{rate['c'] / ideal:.2f} ({spread['c']}); (c)/(d) {rate['c'] / rate['d']:.1f}x",
        f"- {WAITERS:,} waiters on one task, through the server running it: {share(local)}; through another server "
        f"on the same Redis: {share(remote)}",
        f"- {POSTS:,} POSTs at once: {share(created)}",
        f"- false 503s: {false_503} (target 0): {verdict(false_503 == 0)}",
        f"- {OFFERED_TASKS * URLS_PER_TASK:,} hanging URLs offered in {OFFERED_TASKS} tasks: {taken} taken, "
        f"{refused} refused with 503 {'and' if retry_after else 'but without'} Retry-After; server memory "
        f"{rss_mib:.0f} MiB resident, {peak_mib:.0f} MiB peak (target <= {MAX_MIB:g}): {verdict(peak_mib <= MAX_MIB)}",
    ]


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:crawler")


if __name__ == "__main__":
    sys.exit(main())
