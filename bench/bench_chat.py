"""Drive the chat server and the websockets library's minimal broadcast() server with the same load.

Targets (issue 14): with 1,000 and 5,000 connected clients and 10 senders at 10 messages/s each, at least
0.7x the baseline's delivered messages/s, a p99 delivery latency of at most 100 ms at 1,000 clients, no rise
in the others' p99 when one client stops reading, and at most 64 KiB of server memory per idle connection.

The load generator must cost far less than the servers it measures, so it is no websocket library: receivers
are raw sockets in worker processes with a minimal frame parser. A sample of them is read as soon as data
arrives and times every line; the others are swept every tenth of a second and only counted. The figures are
written into docs/chat.md between the bench:chat markers.
"""

import argparse
import asyncio
import datetime
import multiprocessing
import os
import resource
import selectors
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.figures import verdict, write_between_markers
from devtools.chatters import raw_websocket
from devtools.servers import LOOPBACK, REPO, RunningServer, chat_server, free_port, running_command


CLIENTS = (1000, 5000)
SENDERS = 10
RATE = 10.0  # messages a second per sender
SECONDS = 4.0
QUIET = 1.0  # a drain ends once no timed line has arrived for this long...
MAX_DRAIN = 30.0  # ...or after this long
WORKERS = 2
SAMPLED = 50  # receivers per worker that time every line
SWEEP = 0.1  # seconds between reads of the other receivers
IDLE = 1000  # connections for the memory figure
CONNECT_TIMEOUT = 300.0
MIN_RATIO = 0.7
MAX_P99_MS = 100.0
MAX_IDLE_KIB = 64.0
DOC = REPO / "docs" / "chat.md"
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


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


def baseline_server(port: int) -> AbstractContextManager[RunningServer]:
    return running_command([sys.executable, "-m", "bench.bench_chat", "--baseline", str(port)], port)


def chat(port: int) -> AbstractContextManager[RunningServer]:
    # The senders' rate is the bench's, not the limit's business; pings stay well apart from the phases.
    return chat_server("--rate", "1000", "--burst", "1000", "--ping-interval", "60", port=port)


def client_frame(text: str) -> bytes:
    """A masked text frame, as clients must send; the zero mask leaves the payload as it is."""
    payload = text.encode()
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload


PONG = bytes([0x8A, 0x80]) + b"\0\0\0\0"


def open_websockets(port: int, count: int) -> list[tuple[socket.socket, bytes]]:
    """Raw websockets past their handshakes, and whatever frames arrived with each handshake's answer.

    Every handshake is sent before any answer is read, as a crowd arrives: the server may then take them
    in batches, as it would.
    """
    socks = []
    for _ in range(count):
        sock = socket.create_connection((LOOPBACK, port), timeout=CONNECT_TIMEOUT)
        sock.sendall(HANDSHAKE)
        socks.append(sock)
    opened = []
    for sock in socks:
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection during the handshake")
            answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        sock.setblocking(False)
        opened.append((sock, rest))
    return opened


class Stream:
    """What one raw websocket has received: whole frames parsed, timed lines counted, pings answered."""

    __slots__ = ("pending", "sock")
    received = 0  # bytes, by every stream of this process

    def __init__(self, sock: socket.socket, pending: bytes) -> None:
        self.sock = sock
        self.pending = pending

    def read(self, latencies: list[float] | None) -> int:
        """Take what the socket holds; the number of timed lines in it (their latencies if a list is given)."""
        try:
            while chunk := self.sock.recv(1 << 16):
                self.pending += chunk
                Stream.received += len(chunk)
                if len(chunk) < 1 << 16:
                    break
        except BlockingIOError:
            pass
        now = time.monotonic()
        data, position, timed = self.pending, 0, 0
        while len(data) - position >= 2:
            length, head = data[position + 1] & 0x7F, 2
            if length >= 126:
                head = 4 if length == 126 else 10
                if len(data) - position < head:
                    break
                length = int.from_bytes(data[position + 2 : position + head], "big")
            end = position + head + length
            if end > len(data):
                break
            opcode = data[position] & 0x0F
            if opcode == 1:
                marker = data.rfind(b"t=", position + head, end)
                if marker >= 0:
                    timed += 1
                    if latencies is not None:
                        latencies.append(now - float(data[marker + 2 : end]))
            elif opcode == 9:
                self.sock.sendall(PONG)  # empty pings only: the servers' keep-alive pings are short
            position = end
        self.pending = data[position:]
        return timed


@dataclass
class Report:
    delivered: int
    last_arrival: float
    latencies: list[float]
    received: int = 0


def receiver(port: int, count: int, pipe: Connection) -> None:
    """A worker process: `count` receiving clients; answers "peek" and "report" until "quit"."""
    streams = [Stream(*opened) for opened in open_websockets(port, count)]
    pipe.send("ready")
    sampled, swept = streams[:SAMPLED], streams[SAMPLED:]
    selector = selectors.DefaultSelector()
    for stream in sampled:
        selector.register(stream.sock, selectors.EVENT_READ, stream)
    report = Report(0, 0.0, [])
    next_sweep = time.monotonic()
    while True:
        if pipe.poll():
            command = pipe.recv()
            if command == "quit":
                return
            peek = Report(report.delivered, report.last_arrival, [], Stream.received)
            pipe.send(report if command == "report" else peek)
            if command == "report":
                report = Report(0, 0.0, [])
        for key, _ in selector.select(max(0.0, next_sweep - time.monotonic())):
            if timed := key.data.read(report.latencies):
                report.delivered += timed
                report.last_arrival = time.monotonic()
        if time.monotonic() >= next_sweep:
            next_sweep = time.monotonic() + SWEEP
            if timed := sum(stream.read(None) for stream in swept):
                report.delivered += timed
                report.last_arrival = time.monotonic()


@dataclass
class Measurement:
    delivered_per_s: float
    p50_ms: float
    p99_ms: float


class Load:
    """The receiving clients in worker processes and the senders in this one, all connected to one server."""

    def __init__(self, port: int, clients: int) -> None:
        self.pipes: list[Connection] = []
        self.workers: list[multiprocessing.Process] = []
        for index in range(WORKERS):
            mine, theirs = multiprocessing.Pipe()
            share = clients // WORKERS + (1 if index < clients % WORKERS else 0)
            worker = multiprocessing.Process(target=receiver, args=(port, share, theirs), daemon=True)
            worker.start()
            self.pipes.append(mine)
            self.workers.append(worker)
        for pipe in self.pipes:
            if not pipe.poll(CONNECT_TIMEOUT) or pipe.recv() != "ready":
                raise TimeoutError(f"{clients} clients did not connect within {CONNECT_TIMEOUT:g} s")
        self.senders = [Stream(*opened) for opened in open_websockets(port, SENDERS)]

    def ask(self, command: str) -> list[Report]:
        for pipe in self.pipes:
            pipe.send(command)
        return [pipe.recv() for pipe in self.pipes]

    def settle(self) -> None:
        """Wait until nothing arrives for QUIET seconds: the room has been told about everyone who joined."""
        deadline, last, quiet_since = time.monotonic() + CONNECT_TIMEOUT, -1, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < QUIET:
            time.sleep(0.2)
            self.drain_senders()
            received = sum(report.received for report in self.ask("peek"))
            if received != last:
                last, quiet_since = received, time.monotonic()

    def drain_senders(self) -> None:
        for sender in self.senders:
            sender.read(None)

    def measure(self) -> Measurement:
        self.settle()
        self.ask("report")  # forget what arrived before
        start = time.monotonic()
        for tick in range(int(SECONDS * RATE)):
            while (pause := start + tick / RATE - time.monotonic()) > 0:
                time.sleep(min(pause, SWEEP))
                self.drain_senders()
            for sender in self.senders:
                sender.sock.setblocking(True)
                sender.sock.sendall(client_frame(f"t={time.monotonic():.6f}"))
                sender.sock.setblocking(False)
        deadline = time.monotonic() + MAX_DRAIN
        while time.monotonic() < deadline:
            time.sleep(0.2)
            self.drain_senders()
            last = max(report.last_arrival for report in self.ask("peek"))
            if last and time.monotonic() - last > QUIET:
                break
        reports = self.ask("report")
        latencies = sorted(latency for report in reports for latency in report.latencies)
        last = max(report.last_arrival for report in reports)
        delivered = sum(report.delivered for report in reports)
        if not latencies or not last:
            return Measurement(0.0, float("nan"), float("nan"))
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return Measurement(delivered / (last - start), statistics.median(latencies) * 1000, p99 * 1000)

    def close(self) -> None:
        with ExitStack() as stack:
            for sender in self.senders:
                stack.callback(sender.sock.close)
            for pipe in self.pipes:
                pipe.send("quit")
            for worker in self.workers:
                worker.join(timeout=30)
                if worker.is_alive():
                    worker.kill()


@contextmanager
def load(port: int, clients: int) -> Iterator[Load]:
    running = Load(port, clients)
    try:
        yield running
    finally:
        running.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def idle_kib(server: RunningServer) -> float:
    """Server memory per idle connection: its RSS growth with IDLE more connections, settled."""
    before = rss_kib(server.process.pid)
    with load(server.port, IDLE) as running:
        running.settle()
        after = rss_kib(server.process.pid)
    return (after - before) / IDLE


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, nargs="*", default=list(CLIENTS))
    parser.add_argument("--no-write", action="store_true", help="print the figures without writing docs/chat.md")
    args = parser.parse_args()
    if args.baseline is not None:
        asyncio.run(baseline(args.baseline))
        return 0
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it: 5,000 sockets each side
    load_before = os.getloadavg()
    servers = (("websockets broadcast()", baseline_server), ("chat server", chat))
    rows, verdicts = [], []
    for clients in args.clients:
        figures: dict[str, Measurement] = {}
        for name, start in servers:
            with start(free_port()) as server, load(server.port, clients) as running:
                for stalled in (False, True):
                    stuck = raw_websocket(server.port, receive_buffer=4096) if stalled else None
                    measured = running.measure()
                    if stuck is not None:
                        stuck.close()
                    label = f"{name}{' + 1 not reading' if stalled else ''}"
                    figures[label] = measured
                    ideal = SENDERS * RATE * clients
                    rows.append(
                        f"| {clients:,} | {label} | {measured.delivered_per_s:,.0f} | "
                        f"{measured.delivered_per_s / ideal:.0%} | {measured.p50_ms:,.1f} | {measured.p99_ms:,.1f} |"
                    )
                    print(rows[-1], flush=True)
        base, ours = figures["websockets broadcast()"], figures["chat server"]
        ratio = ours.delivered_per_s / max(1.0, base.delivered_per_s)
        met = verdict(ratio >= MIN_RATIO)
        verdicts.append(f"- {clients:,} clients: delivered {ratio:.2f}x the baseline's (target >= {MIN_RATIO}x: {met})")
        if clients == 1000:
            met = verdict(ours.p99_ms <= MAX_P99_MS)
            verdicts.append(f"- 1,000 clients: chat p99 {ours.p99_ms:,.1f} ms (target <= {MAX_P99_MS:g} ms: {met})")
        lagging = figures["chat server + 1 not reading"]
        met = verdict(lagging.p99_ms <= max(ours.p99_ms * 1.2, ours.p99_ms + 10))
        verdicts.append(
            f"- {clients:,} clients: chat p99 with one client not reading {lagging.p99_ms:,.1f} ms vs "
            f"{ours.p99_ms:,.1f} ms without (target: no rise beyond noise, 20% or 10 ms: {met})"
        )
    for name, start in servers:
        with start(free_port()) as server:
            idle = idle_kib(server)
        met = verdict(idle <= MAX_IDLE_KIB)
        target = f" (target <= {MAX_IDLE_KIB:g} KiB: {met})" if name == "chat server" else ""
        verdicts.append(f"- {name}: {idle:.1f} KiB of RSS per idle connection over {IDLE:,} connections{target}")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_after = os.getloadavg()
    text = "\n".join(
        [
            f"Measured {when} on {os.cpu_count()} cores shared with other work (load average "
            f"{load_before[0]:.1f} before, {load_after[0]:.1f} after). {SENDERS} senders x {RATE:g} msg/s for "
            f"{SECONDS:g} s; receivers are raw sockets in {WORKERS} processes, {SAMPLED * WORKERS} of them timing "
            f"every line; delivered msg/s counts every receiver's timed lines up to the last one; ideal is "
            f"senders x rate x clients.",
            "",
            "| clients | server | delivered msg/s | of ideal | p50 ms | p99 ms |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            *verdicts,
        ]
    )
    print(text)
    if not args.no_write:
        write_between_markers(DOC, "bench:chat", text.split("\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
