"""The chat service's terminal client: keyboard and websocket at once, reconnecting when the server goes away.

Run `python WebSocket/client.py [ws://127.0.0.1:8765/]`. Plain lines are chat messages; `/who` lists who is
connected and `/announce TEXT` announces to everyone, both through the REST side. Ctrl-C or Ctrl-D leaves.
Exit statuses: 0 on leaving, 2 on a bad URL.
"""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TextIO
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection


DEFAULT_URL = "ws://127.0.0.1:8765/"
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 10.0
REST_TIMEOUT = 5.0

Say = Callable[[str], None]


def rest_base(url: str) -> str:
    """The REST side's base URL, on the websocket's host and port."""
    parts = urlsplit(url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"


class Chat:
    """The connection to the server, kept up with back-off, and what a typed line does."""

    def __init__(self, url: str, say: Say) -> None:
        self.url = url
        self.say = say
        self.connection: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.rest = httpx.AsyncClient(base_url=rest_base(url), timeout=REST_TIMEOUT)

    async def listen(self) -> None:
        """Print what arrives, forever; when the server goes away, say so and reconnect with back-off."""
        backoff = FIRST_BACKOFF
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=REST_TIMEOUT) as connection:
                    self.connection = connection
                    self.connected.set()
                    backoff = FIRST_BACKOFF
                    async for message in connection:
                        self.say(message if isinstance(message, str) else message.decode(errors="replace"))
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as error:
                reason = str(error) or type(error).__name__
            else:
                reason = "connection closed"
            self.connection = None
            self.connected.clear()
            self.say(f"* Disconnected from {self.url} ({reason}); reconnecting in {backoff:g} s")
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def handle(self, line: str) -> None:
        """One typed line: a slash command for the REST side, or a message for the room."""
        if not line.strip():
            return
        if line.strip() == "/who":
            await self.who()
        elif line.startswith("/announce"):
            await self.announce(line.removeprefix("/announce").strip())
        else:
            await self.send(line)

    async def send(self, line: str) -> None:
        """Send a message, waiting a while for a connection (a line typed or piped while connecting is kept)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.connected.wait(), REST_TIMEOUT)
        if self.connection is None:
            self.say("* Not connected; message not sent")
            return
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.connection.send(line)

    async def who(self) -> None:
        try:
            response = await self.rest.get("/api/v1/clients")
            response.raise_for_status()
        except httpx.HTTPError as error:
            self.say(f"* /who failed: {error}")
            return
        for client in response.json()["clients"]:
            self.say(f"* {client['name']} (connected {client['connected_for']} s ago)")

    async def announce(self, text: str) -> None:
        if not text:
            self.say("* Usage: /announce TEXT")
            return
        try:
            response = await self.rest.post("/api/v1/announcements", json={"text": text})
        except httpx.HTTPError as error:
            self.say(f"* /announce failed: {error}")
            return
        outcome = "accepted" if response.status_code == 202 else "refused"
        self.say(f"* Announcement {outcome} ({response.status_code} {response.reason_phrase})")


async def terminal_lines() -> AsyncIterator[str]:
    """Lines typed at a prompt that arriving messages never garble; ends on Ctrl-C or Ctrl-D."""
    from prompt_toolkit import PromptSession  # noqa: PLC0415 - only a terminal needs it

    session: PromptSession[str] = PromptSession()
    while True:
        try:
            yield await session.prompt_async("> ")
        except (EOFError, KeyboardInterrupt):
            return


async def piped_lines(stdin: TextIO) -> AsyncIterator[str]:
    """Lines from a pipe or file, as they come, until its end."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    while line := await reader.readline():
        yield line.decode(errors="replace").rstrip("\r\n")


async def run(url: str, stdin: TextIO, stdout: TextIO) -> int:
    interactive = stdin.isatty() and stdout.isatty()

    def say(line: str) -> None:
        # On a terminal, sys.stdout is prompt_toolkit's patched stream while the prompt runs, which prints
        # above the line being typed; the stream captured when main() was called would write into it.
        print(line, file=sys.stdout if interactive else stdout, flush=True)

    chat = Chat(url, say)
    listener = asyncio.create_task(chat.listen())
    try:
        if interactive:
            from prompt_toolkit.patch_stdout import patch_stdout  # noqa: PLC0415

            with patch_stdout(raw=True):
                async for line in terminal_lines():
                    await chat.handle(line)
        else:
            async for line in piped_lines(stdin):
                await chat.handle(line)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        if chat.connection is not None:
            await chat.connection.close()
        await chat.rest.aclose()
    return 0


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description="Terminal client of the chat service.")
    parser.add_argument("url", nargs="?", default=DEFAULT_URL, help=f"the server's websocket URL ({DEFAULT_URL})")
    args = parser.parse_args(argv)
    if urlsplit(args.url).scheme not in {"ws", "wss"}:
        print(f"client.py: not a websocket URL: {args.url} (try {DEFAULT_URL})", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args.url, stdin, stdout))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
