"""Drive the chat server and the websockets library's minimal broadcast() server with the same load.

Targets (issue 14): with 1,000 and 5,000 connected clients and 10 senders at 10 messages/s each, at least
0.7x the baseline's delivered messages/s, a p99 delivery latency of at most 100 ms at 1,000 clients, no rise
in the others' p99 when one client stops reading, and at most 64 KiB of server memory per idle connection.
Receivers run in worker processes so that the load generator is not the bottleneck of one core; the figures
are written into docs/chat.md between the bench:chat markers.
"""

import argparse
import asyncio
import datetime
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, broadcast, serve

from tests.chat.chatters import raw_websocket
from tests.servers import LOOPBACK, REPO, RunningServer, chat_server, free_port, running_command


CLIENTS = (1000, 5000)
SENDERS = 10
RATE = 10.0  # messages a second per sender
SECONDS = 5.0
DRAIN = 5.0
WORKERS = 2
MIN_RATIO = 0.7
MAX_P99_MS = 100.0
MAX_IDLE_KIB = 64.0
DOC = REPO / "docs" / "chat.md"
BEGIN, END = "<!-- bench:chat -->", "<!-- /bench:chat -->"


async def baseline(port: int) -> None:
    """The websockets library's broadcast example: every message to every other client, nothing else."""
    clients: set[ServerConnection] = set()

    async def handler(websocket: ServerConnection) -> None:
        clients.add(websocket)
        try:
            async for message in websocket:
                broadcast(clients - {websocket}, message)
        finally:
            clients.discard(websocket)

    async with serve(handler, LOOPBACK, port, backlog=4096) as server:
        await server.serve_forever()


@contextmanager
def baseline_server(port: int) -> Iterator[RunningServer]:
    with running_command([sys.executable, __file__, "--baseline", str(port)], port) as server:
        yield server


async def receive(port: int, count: int, ready: "multiprocessing.Queue[object]", until: float) -> list[float]:
    connections = []
    for _ in range(count):
        connections.append(await connect(f"ws://{LOOPBACK}:{port}/", open_timeout=60, max_size=None))
    ready.put(count)
    latencies: list[float] = []

    async def listen(connection: object) -> None:
        got: list[float] = []
        while True:
            # Wait long for the first timed message, then stop once the flow has been quiet for DRAIN seconds.
            remaining = min(until - time.monotonic(), DRAIN if got else 60.0)
            if remaining <= 0:
                return
            try:
                message = await asyncio.wait_for(connection.recv(), remaining)  # type: ignore[attr-defined]
            except (asyncio.TimeoutError, Exception):
                return
            _, marker, stamp = str(message).rpartition("t=")
            if marker:
                got.append(time.monotonic() - float(stamp))
                latencies.append(got[-1])

    await asyncio.gather(*(listen(connection) for connection in connections))
    return latencies


def receiver(port: int, count: int, ready: "multiprocessing.Queue[object]", until: float) -> None:
    latencies = asyncio.run(receive(port, count, ready, until))
    ready.put(latencies)


@dataclass
class Measurement:
    delivered_per_s: float
    p50_ms: float
    p99_ms: float


async def send(port: int, seconds: float) -> None:
    senders = [await connect(f"ws://{LOOPBACK}:{port}/") for _ in range(SENDERS)]
    start = time.monotonic()
    for tick in range(int(seconds * RATE)):
        await asyncio.sleep(max(0.0, start + tick / RATE - time.monotonic()))
        for sender in senders:
            await sender.send(f"t={time.monotonic():.6f}")
    for sender in senders:
        await sender.close()


def measure(port: int, clients: int, *, stalled: bool) -> Measurement:
    ready: multiprocessing.Queue[object] = multiprocessing.Queue()
    until = time.monotonic() + 180
    workers = [
        multiprocessing.Process(target=receiver, args=(port, clients // WORKERS, ready, until)) for _ in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    stuck = raw_websocket(port, receive_buffer=4096) if stalled else None
    start = time.monotonic()
    asyncio.run(send(port, SECONDS))
    elapsed = time.monotonic() - start
    latencies: list[float] = []
    for _ in workers:
        latencies.extend(ready.get(timeout=max(1.0, until - time.monotonic() + 30)))  # type: ignore[arg-type]
    for worker in workers:
        worker.join(timeout=10)
    if stuck is not None:
        stuck.close()
    latencies.sort()
    if not latencies:
        return Measurement(0.0, float("nan"), float("nan"))
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Measurement(len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hold_idle(port: int, count: int) -> list[object]:
    return [await connect(f"ws://{LOOPBACK}:{port}/", open_timeout=60) for _ in range(count)]


def idle_kib(server: RunningServer, count: int) -> float:
    before = rss_kib(server.process.pid)
    loop = asyncio.new_event_loop()
    connections = loop.run_until_complete(hold_idle(server.port, count))
    after = rss_kib(server.process.pid)
    for connection in connections:
        loop.run_until_complete(connection.close())  # type: ignore[attr-defined]
    loop.close()
    return (after - before) / count


def write_figures(text: str) -> None:
    doc = DOC.read_text()
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, nargs="*", default=list(CLIENTS))
    args = parser.parse_args()
    if args.baseline is not None:
        asyncio.run(baseline(args.baseline))
        return 0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it: 5,000 sockets each side
    rows = []
    verdicts = []
    for clients in args.clients:
        figures: dict[str, Measurement] = {}
        for name, start in (("websockets broadcast()", baseline_server), ("chat server", None)):
            for stalled in (False, True):
                port = free_port()
                context = start(port) if start else chat_server("--rate", "1000", "--burst", "1000", port=port)
                with context:
                    measured = measure(port, clients, stalled=stalled)
                label = f"{name}{' + 1 stalled' if stalled else ''}"
                figures[label] = measured
                rows.append(
                    f"| {clients} | {label} | {measured.delivered_per_s:,.0f} | {measured.p50_ms:.1f} | "
                    f"{measured.p99_ms:.1f} |"
                )
                print(rows[-1], flush=True)
        ratio = figures["chat server"].delivered_per_s / max(1.0, figures["websockets broadcast()"].delivered_per_s)
        verdicts.append(f"- {clients} clients: delivered ratio {ratio:.2f}x (target >= {MIN_RATIO}x)")
        if clients == 1000:
            p99 = figures["chat server"].p99_ms
            verdicts.append(f"- 1000 clients: chat p99 {p99:.1f} ms (target <= {MAX_P99_MS:g} ms)")
        stalled_p99 = figures["chat server + 1 stalled"].p99_ms
        verdicts.append(
            f"- {clients} clients: chat p99 with one stalled reader {stalled_p99:.1f} ms vs "
            f"{figures['chat server'].p99_ms:.1f} ms without"
        )
    with chat_server(port=(port := free_port())) as server:
        idle = idle_kib(server, 1000)
    verdicts.append(f"- memory per idle connection: {idle:.1f} KiB over 1000 connections (target <= {MAX_IDLE_KIB:g})")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [
            f"Measured {when} on {os.cpu_count()} shared, noisy cores; {SENDERS} senders x {RATE:g} msg/s for "
            f"{SECONDS:g} s, receivers in {WORKERS} processes.",
            "",
            "| clients | server | delivered msg/s | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
            *rows,
            "",
            *verdicts,
        ]
    )
    print(text)
    write_figures(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
