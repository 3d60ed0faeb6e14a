"""Only expected origins join: a foreign page's Origin and a rebound DNS name get 403, on the websocket
handshake and on the REST side; terminal clients (no Origin), the chat's own origin and allowed ones pass."""

import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devtools.chatters import Chatter
from devtools.servers import CHAT_SERVER, REPO, RunningServer, chat_server
from tests.event_loop import run


ALLOWED = "https://chat.example.org"


@pytest.fixture(scope="module")
def gated() -> Iterator[RunningServer]:
    with chat_server("--allowed-origin", ALLOWED, "--allowed-host", "chat.example.org") as running:
        yield running


async def handshake_status(port: int, headers: dict[str, str]) -> int:
    """101 if the websocket opens with these headers, else the status the server refused it with."""
    try:
        async with connect(f"ws://127.0.0.1:{port}/", additional_headers=headers) as websocket:
            await websocket.recv()
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


def test_a_foreign_origin_gets_403_on_the_websocket_and_the_rest_side(gated: RunningServer) -> None:
    async def scenario() -> None:
        own = f"http://127.0.0.1:{gated.port}"
        cases = {
            "https://evil.example": 403,
            "null": 403,
            f"http://localhost:{gated.port}": 403,  # another origin than the page's Host
            own: 101,
            ALLOWED: 101,
            f"{ALLOWED}:443": 101,
        }
        async with Chatter(gated.port) as watcher, httpx.AsyncClient(base_url=gated.url) as rest:
            for origin, status in cases.items():
                assert await handshake_status(gated.port, {"Origin": origin}) == status, origin
                answer = await rest.post("/api/v1/announcements", json={"text": "hi"}, headers={"Origin": origin})
                assert answer.status_code == (202 if status == 101 else 403), origin
                if status != 101:
                    assert "--allowed-origin" in answer.json()["detail"]
                    assert (await rest.get("/api/v1/clients", headers={"Origin": origin})).status_code == 403
            assert await handshake_status(gated.port, {}) == 101  # a terminal client sends no Origin
            await watcher.expect("Announcement: hi")

    run(scenario())


def test_a_rebound_dns_name_gets_403_and_a_malformed_host_400(gated: RunningServer) -> None:
    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=gated.url) as rest:
            for host, status in {
                "evil.example": 403,
                f"evil.example:{gated.port}": 403,
                "localhost": 200,
                socket.gethostname(): 200,
                "chat.example.org:8765": 200,
                "[::1]:8765": 200,
                "10.1.2.3": 200,
                "bad host!": 400,
                "localhost:70000": 400,
            }.items():
                answer = await rest.get("/api/v1/clients", headers={"Host": host})
                assert answer.status_code == status, host

    run(scenario())
    with socket.create_connection(("127.0.0.1", gated.port), timeout=15) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 403")


def test_bad_allowlist_flags_are_usage_errors() -> None:
    for flag, value in (("--allowed-origin", "evil.example"), ("--allowed-host", "http://x/")):
        done = subprocess.run(
            [sys.executable, CHAT_SERVER, flag, value],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2
        assert done.stderr.startswith("server.py: ")
        assert len(done.stderr.splitlines()) == 1
