"""The chat service's terminal client: keyboard and websocket at once, reconnecting when the server goes away.

Run `python WebSocket/client.py [ws://127.0.0.1:8765/]` (or the URL in CHAT_URL). Plain lines are chat
messages (a paste of several lines is several messages); `/who` lists who is connected and `/announce TEXT`
announces to everyone, both through the REST side. Ctrl-C or Ctrl-D leaves. Exit statuses: 0 on leaving, 2 on a bad URL.

Whatever arrives is shown with its control characters escaped (`\x1b`): the server refuses them, but this
client may be talking to another server.
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

from settings_env import environment_defaults
from WebSocket.text import MAX_TEXT, visible


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
        """Print what arrives, forever; when the server goes away, say so and reconnect with back-off.

        The back-off starts again only once a server has welcomed the client: one that accepts and closes
        at once (1011 while its Redis is away) is retried ever more slowly.
        """
        backoff = FIRST_BACKOFF
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=REST_TIMEOUT) as connection:
                    self.connection = connection
                    self.connected.set()
                    async for message in connection:
                        text = message if isinstance(message, str) else message.decode(errors="replace")
                        if text.startswith("You are "):
                            backoff = FIRST_BACKOFF
                        self.say(visible(text))
                reason = closed_because(connection)
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as error:
                reason = visible(str(error) or type(error).__name__)
            self.connection = None
            self.connected.clear()
            self.say(f"* Disconnected from {self.url} ({reason}); reconnecting in {backoff:g} s")
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def handle(self, typed: str) -> None:
        """What was typed or pasted: each line a slash command for the REST side or a message for the room."""
        for line in typed.splitlines():
            if line.strip():
                await self.handle_line(line)

    async def handle_line(self, line: str) -> None:
        command, _, rest = line.strip().partition(" ")
        if command == "/who" and not rest.strip():
            await self.who()
        elif command == "/announce":
            await self.announce(rest.strip())
        elif command.startswith("/"):
            self.say(f"* Unknown command {visible(command)}: the commands are /who and /announce TEXT")
        elif len(line) > MAX_TEXT:
            self.say(f"* Not sent: {len(line):,} characters, and a message has at most {MAX_TEXT:,}")
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
            lines = [
                f"* {client['name']} (connected {client['connected_for']} s ago)"
                for client in response.json()["clients"]
            ]
        except httpx.HTTPError as error:
            self.say(visible(f"* /who failed: {error}"))
            return
        except (ValueError, KeyError, TypeError):
            self.say("* /who failed: the server's answer is not a list of clients")
            return
        for line in lines:
            self.say(visible(line))

    async def announce(self, text: str) -> None:
        if not text:
            self.say("* Usage: /announce TEXT")
            return
        if len(text) > MAX_TEXT:
            self.say(f"* Not sent: {len(text):,} characters, and an announcement has at most {MAX_TEXT:,}")
            return
        try:
            response = await self.rest.post("/api/v1/announcements", json={"text": text})
        except httpx.HTTPError as error:
            self.say(visible(f"* /announce failed: {error}"))
            return
        outcome = "accepted" if response.status_code == 202 else "refused"
        why = "" if response.status_code == 202 else f": {refusal_reason(response)}"
        self.say(visible(f"* Announcement {outcome} ({response.status_code} {response.reason_phrase}){why}"))


def refusal_reason(response: httpx.Response) -> str:
    """What the server said about a refused request, in one short line."""
    try:
        detail = response.json()["detail"]
        reason = detail if isinstance(detail, str) else str(detail[0]["msg"])
    except (ValueError, KeyError, TypeError, IndexError):
        reason = response.text
    return reason[:200]


def closed_because(connection: ClientConnection) -> str:
    """`1001 server shutting down`: the code and reason of a connection's close, shown safely."""
    if connection.close_code is None:
        return "connection closed"
    return visible(f"{connection.close_code} {connection.close_reason}".strip())


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


def websocket_url(text: str) -> str:
    """An argparse type: a ws:// or wss:// URL."""
    if urlsplit(text).scheme not in {"ws", "wss"}:
        raise argparse.ArgumentTypeError(f"not a websocket URL: {text!r} (try {DEFAULT_URL})")
    return text


def main(argv: Sequence[str] | None = None, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description="Terminal client of the chat service.")
    parser.add_argument(
        "url", nargs="?", type=websocket_url, default=DEFAULT_URL, help=f"the server's websocket URL ({DEFAULT_URL})"
    )
    environment_defaults(parser, "CHAT")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(run(args.url, stdin, stdout))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
