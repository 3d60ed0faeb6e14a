"""Real websocket clients for the chat tests and benchmark: connect, send, and wait for lines with a deadline."""

import asyncio
import re
import socket
from collections.abc import Callable
from types import TracebackType

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


# Generous: the suite shares two cores with other suites and browsers; a pass returns as soon as it can.
DEADLINE = 15.0


class Chatter:
    """One chat client on a real socket; `expect` reads lines until one matches, within a deadline."""

    def __init__(self, port: int, **options: object) -> None:
        self.url = f"ws://127.0.0.1:{port}/"
        # Unread lines must not stop the client reading: it would miss the close frame and wait 10 s to close.
        self.options = {"max_queue": None, **options}
        self.connection: ClientConnection | None = None
        self.name = ""
        self.seen: list[str] = []

    async def __aenter__(self) -> "Chatter":
        self.connection = await connect(self.url, **self.options)  # type: ignore[arg-type]
        welcome = await self.expect(lambda line: line.startswith("You are Client "))
        self.name = welcome.removeprefix("You are ")
        return self

    async def __aexit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.ws.close()

    @property
    def ws(self) -> ClientConnection:
        assert self.connection is not None
        return self.connection

    @property
    def number(self) -> str:
        return self.name.removeprefix("Client ")

    async def send(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = DEADLINE) -> str:
        message = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(message, str)
        self.seen.append(message)
        return message

    async def closed_with(self, timeout: float = DEADLINE) -> tuple[int, str]:
        """Read until the server closes the connection; its close code and reason."""
        try:
            while True:
                await self.recv(timeout)
        except ConnectionClosed as closed:
            frame = closed.rcvd
        if frame is None:
            raise AssertionError("the server closed the connection without a close frame")
        return frame.code, frame.reason

    async def expect(self, match: str | Callable[[str], object], timeout: float = DEADLINE) -> str:
        """Read lines until one equals `match` (or satisfies it); fail at the deadline."""
        test = match if callable(match) else match.__eq__
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            line = await self.recv(max(0.0, deadline - loop.time()))
            if test(line):
                return line


def said(name: str, text: str) -> Callable[[str], bool]:
    """A test for the line others see when `name` says `text`: `<seconds> <name>: <text>`, whatever the seconds."""
    pattern = re.compile(rf"\d+ {re.escape(name)}: {re.escape(text)}")
    return lambda line: pattern.fullmatch(line) is not None


def raw_websocket(port: int, receive_buffer: int | None = None) -> socket.socket:
    """A websocket that completes the handshake and then reads or answers nothing, pings included."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    return sock


def close_frame(code: int, reason: str) -> bytes:
    """The unmasked close frame a server sends."""
    payload = code.to_bytes(2, "big") + reason.encode()
    return bytes([0x88, len(payload)]) + payload
