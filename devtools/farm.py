"""A farm of HTTP targets on several loopback addresses, for the crawler's tests and benchmark.

Each address serves the same paths, and the farm counts every request it answers, per host and path:
  /status/CODE   answers CODE (any three digits) with an empty body, after the farm's latency
  /slow/SECONDS  answers 200 after that many seconds
  /hang          reads the request and never answers
  /garbage       answers bytes that are not HTTP
  /close         closes the connection without answering
  /big           answers 200 with a 1 GiB body it trickles out (a crawler must not read it)
  /redirect      answers 302 to /status/200
  /gate/NAME     answers 200 once the test opens the gate of that name (open_gate)
Anything else answers 200. A test waits for what the farm saw (a request arriving, an answer cut short, so
many at once) with wait_for(), which the farm signals on every change: no sleeping against a deadline.
Run as a script it serves until killed (the benchmark runs it in a process of its
own); in tests, `running_farm()` serves from a thread.
"""

import argparse
import asyncio
import collections
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence


HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
MAX_HEAD = 16 * 1024
REASONS = {200: "OK", 302: "Found", 404: "Not Found"}


class Farm:
    """The farm's servers and its hit counter; `port` is the same on every address."""

    def __init__(self, hosts: Sequence[str] = HOSTS, latency: float = 0.0) -> None:
        self.hosts = tuple(hosts)
        self.latency = latency
        self.hits: collections.Counter[tuple[str, str]] = collections.Counter()
        self.active: collections.Counter[str] = collections.Counter()  # host -> requests being answered
        self.peak: collections.Counter[str] = collections.Counter()  # host -> most answered at once
        self.peak_total = 0  # most answered at once, all hosts together
        self.answered: collections.Counter[tuple[str, str]] = collections.Counter()  # (host, path) -> answers sent
        self.cut_short: collections.Counter[str] = collections.Counter()  # path -> bodies the client did not take
        self.connections = 0  # connections accepted, all hosts together
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.servers: list[asyncio.Server] = []
        self.changed = threading.Condition()
        self.gates: dict[str, asyncio.Event] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def url(self, path: str, host: int = 0) -> str:
        return f"http://{self.hosts[host]}:{self.port}{path}"

    def hits_of(self, path: str, host: int = 0) -> int:
        return self.hits[(self.hosts[host], path)]

    def wait_for(self, condition: Callable[[], object], what: str, timeout: float = 15.0) -> None:
        """Wait until what the farm saw makes the condition true; fail naming `what` after the timeout."""
        with self.changed:
            if not self.changed.wait_for(condition, timeout):
                raise AssertionError(f"not within {timeout} s: {what}")

    def open_gate(self, name: str) -> None:
        """Let /gate/NAME answer, those waiting and those to come."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: self._gate(name).set())

    def drop_connections(self) -> None:
        """Close every connection the farm holds, as a server does with idle ones; return once closed."""
        assert self.loop is not None

        async def drop() -> None:
            for writer in list(self.writers):
                writer.close()

        asyncio.run_coroutine_threadsafe(drop(), self.loop).result(timeout=10)

    def _gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def _signal(self) -> None:
        with self.changed:
            self.changed.notify_all()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = self.port or port_free_on_all(self.hosts)
        for host in self.hosts:
            self.servers.append(await asyncio.start_server(self._serve, host, self.port, backlog=4096))

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for task in asyncio.all_tasks():  # the connections still open, /hang's among them
            if task is not asyncio.current_task():
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host = writer.get_extra_info("sockname")[0]
        self.connections += 1
        self.writers.add(writer)
        try:
            while True:
                try:
                    first = await reader.readexactly(1)
                    if not first.isalpha():  # a TLS handshake, say: answer as plain HTTP servers do
                        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                        return
                    head = first + await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                path = head.split(b" ", 2)[1].decode(errors="replace") if head.count(b" ") >= 2 else "/"
                self.hits[(host, path)] += 1
                self.active[host] += 1
                self.peak[host] = max(self.peak[host], self.active[host])
                self.peak_total = max(self.peak_total, self.active.total())
                self._signal()
                try:
                    if not await self._answer(path, reader, writer):
                        return
                    self.answered[(host, path)] += 1
                finally:
                    self.active[host] -= 1
                    self._signal()
        except (OSError, asyncio.CancelledError):  # the farm stops: end quietly, not as a cancelled task
            return
        finally:
            self.writers.discard(writer)
            writer.close()

    async def _answer(self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed."""
        kind, _, argument = path.partition("?")[0].strip("/").partition("/")
        code, extra = 200, ""
        if kind == "hang":
            while await reader.read(4096):  # until the client gives up
                pass
            return False
        if kind == "close":
            return False
        if kind == "garbage":
            writer.write(b"THIS IS NOT HTTP\r\n\r\n")
            return False
        if kind == "gate":
            await self._gate(argument).wait()
        elif kind == "slow" and argument.replace(".", "").isdigit():
            await asyncio.sleep(float(argument))
        else:
            await asyncio.sleep(self.latency)
        if kind == "status" and len(argument) == 3 and argument.isdigit():
            code = int(argument)
        if kind == "redirect":
            code, extra = 302, "Location: /status/200\r\n"
        if kind == "big":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
            try:
                for _ in range(1024):
                    writer.write(b"x" * 1024 * 1024)
                    await writer.drain()
            except OSError:
                self.cut_short[path] += 1
                raise
            return False
        reason = REASONS.get(code, "Status")
        writer.write(f"HTTP/1.1 {code} {reason}\r\n{extra}Content-Length: 0\r\n\r\n".encode())
        await writer.drain()
        return True


def port_free_on_all(hosts: Sequence[str]) -> int:
    """A port that is free on every one of the addresses."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port: int = probe.getsockname()[1]
        try:
            with contextlib.ExitStack() as stack:
                for host in hosts:
                    sock = stack.enter_context(socket.socket())
                    sock.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no port free on every farm address")


@contextlib.contextmanager
def running_farm(hosts: Sequence[str] = HOSTS, latency: float = 0.0) -> Iterator[Farm]:
    """A farm served by an event loop in a thread of its own, stopped afterwards."""
    farm = Farm(hosts, latency)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="farm", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(farm.start(), loop).result(timeout=10)
    try:
        yield farm
    finally:
        asyncio.run_coroutine_threadsafe(farm.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


async def serve(hosts: Sequence[str], port: int, latency: float) -> None:
    farm = Farm(hosts, latency)
    farm.port = port
    await farm.start()
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the crawler's test farm until killed.")
    parser.add_argument("--hosts", default=",".join(HOSTS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.hosts.split(","), args.port, args.latency))


if __name__ == "__main__":
    main()
