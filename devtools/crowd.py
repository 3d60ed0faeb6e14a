"""Many raw requests at once, each on a connection of its own: the crowds that the crawler's waiting GETs and
POSTs must all be answered in, for its tests and its benchmark."""

import asyncio
import collections
import json

from devtools.servers import LOOPBACK


ANSWER_TIMEOUT = 60.0  # seconds one member of the crowd waits for its answer


def get_request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: crawler\r\nConnection: close\r\n\r\n".encode()


def post_request(urls: list[str]) -> bytes:
    body = json.dumps(urls).encode()
    head = "POST /api/v1/tasks HTTP/1.1\r\nHost: crawler\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body


async def ask(port: int, request: bytes, sent: collections.Counter[str] | None = None) -> str:
    """The answer's status code ("200 running" for a task not ready), or the error that stopped it; `sent`
    counts the requests written whole, so that a test knows when the crowd is waiting."""
    try:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
    except OSError as error:
        return type(error).__name__
    try:
        writer.write(request)
        await writer.drain()
        if sent is not None:
            sent["sent"] += 1
        answer = await asyncio.wait_for(reader.read(), ANSWER_TIMEOUT)
    except (OSError, asyncio.TimeoutError) as error:
        return type(error).__name__
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    code = head[9:12].decode(errors="replace") or "closed"
    if code == "200" and json.loads(body).get("status") != "ready":
        return "200 running"
    return code


async def crowd(
    port: int, requests: list[bytes], sent: collections.Counter[str] | None = None
) -> collections.Counter[str]:
    """Send every request at once; how many got each answer."""
    return collections.Counter(await asyncio.gather(*(ask(port, request, sent) for request in requests)))
