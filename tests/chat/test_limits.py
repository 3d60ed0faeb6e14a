"""What keeps one client from hurting the rest: sizes, rates, slow readers, dead peers, shutdown, REST."""

import asyncio
import re
import signal
import socket
import subprocess
import sys

import httpx

from devtools.chatters import Chatter, close_frame, raw_websocket, said
from devtools.servers import REPO, RunningServer, chat_server
from tests.event_loop import run


def test_rest_lists_clients_and_accepts_announcements(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as one, httpx.AsyncClient(base_url=server.url) as rest:
            listed = (await rest.get("/api/v1/clients")).json()["clients"]
            mine = [entry for entry in listed if entry["name"] == one.name]
            assert len(mine) == 1
            assert mine[0]["connected_for"] >= 0
            assert mine[0]["connected_at"].endswith("Z") or "+00:00" in mine[0]["connected_at"]
            response = await rest.post("/api/v1/announcements", json={"text": "fire drill at noon"})
            assert response.status_code == 202
            assert response.json()["status"] == "accepted"
            await one.expect("Announcement: fire drill at noon")
            for bad in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 2001}):
                refused = await rest.post("/api/v1/announcements", json=bad)
                assert refused.status_code == 422
                assert "detail" in refused.json()
            garbage = await rest.post(
                "/api/v1/announcements", content=b"{not json", headers={"content-type": "application/json"}
            )
            assert garbage.status_code == 422
            assert (await rest.get("/api/v1/nothing")).json() == {"detail": "Not Found"}

    run(scenario())


def test_binary_and_long_messages_get_a_line_and_a_huge_frame_closes_with_1009(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as one, Chatter(server.port) as two:
            await one.send(b"\x00\xff")
            await one.expect("Binary frames are not supported: send UTF-8 text")
            await one.send("x" * 2001)
            await one.expect("Message too long: at most 2000 characters")
            async with Chatter(server.port, max_size=None) as huge:
                await huge.send("y" * 20_000)
                assert (await huge.closed_with())[0] == 1009
            await two.expect(f"{huge.name} left")
            await one.send("still fine")
            await two.expect(lambda line: line.endswith(f"{one.name}: still fine"))

    run(scenario())


def test_a_client_sending_too_fast_is_told_to_slow_down() -> None:
    async def scenario(port: int) -> None:
        async with Chatter(port) as flooder, Chatter(port) as other:
            for index in range(30):
                await flooder.send(f"flood {index}")
            await flooder.expect("Slow down: at most 5 messages a second")
            await other.expect(lambda line: line.endswith("flood 9"))
            received = [line for line in other.seen if "flood" in line]
            assert len(received) <= 12

    with chat_server("--rate", "5", "--burst", "10") as limited:
        run(scenario(limited.port))


def test_a_client_that_stops_reading_is_dropped_without_slowing_the_others() -> None:
    async def scenario(port: int) -> None:
        async with Chatter(port) as sender, Chatter(port) as reader:
            stalled = raw_websocket(port, receive_buffer=4096)
            joined = await reader.expect(lambda line: line.endswith(" connected"))
            left = f"{joined.removesuffix(' connected')} left"
            text = "z" * 1500
            expected = close_frame(1008, "too slow: more than 64 KiB unsent")
            # Up to 9 MB: more than the kernel's socket buffers (4 MB at most here) and the 64 KiB send buffer hold.
            for index in range(6000):
                await sender.send(f"{index} {text}")
                if index % 200 == 199:
                    # Every reader keeps up while the stalled one falls behind, until the room hears it was dropped.
                    await reader.expect(re.compile(rf"\d+ {sender.name}: {index} z+").fullmatch)
                    if left in reader.seen:
                        break
            assert left in reader.seen
            assert stalled_was_closed(stalled, expected)
            stalled.close()

    with chat_server("--send-buffer", "64", "--rate", "100000", "--burst", "100000") as server:
        run(scenario(server.port))


def stalled_was_closed(stalled: socket.socket, expected: bytes) -> bool:
    """Drain what the stalled client was sent; True once that ends with the close frame, answered in kind."""
    stalled.settimeout(2.0)
    tail = b""
    try:
        while chunk := stalled.recv(1 << 16):
            tail = (tail + chunk)[-4096:]
            if expected in tail:
                stalled.sendall(bytes([0x88, 0x82, 0, 0, 0, 0]) + (1000).to_bytes(2, "big"))
                return True
    except TimeoutError:
        pass
    return False


def test_a_peer_that_misses_pongs_or_vanishes_is_cleaned_up() -> None:
    async def scenario(port: int) -> None:
        async with Chatter(port) as watcher:
            silent = raw_websocket(port)
            name = (await watcher.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
            await watcher.expect(f"{name} left", timeout=20)
            silent.close()
            vanishing = raw_websocket(port)
            name = (await watcher.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
            vanishing.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            vanishing.close()  # a reset, no close frame
            await watcher.expect(f"{name} left")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as rest:
                names = [entry["name"] for entry in (await rest.get("/api/v1/clients")).json()["clients"]]
            assert names == [watcher.name]

    with chat_server("--ping-interval", "0.5", "--ping-timeout", "0.5") as server:
        run(scenario(server.port))


def test_shutdown_closes_every_client_with_1001() -> None:
    async def scenario(server: RunningServer) -> None:
        async with Chatter(server.port) as one, Chatter(server.port) as two:
            server.process.send_signal(signal.SIGTERM)
            for chatter in (one, two):
                assert await chatter.closed_with() == (1001, "server shutting down")

    with chat_server() as server:
        run(scenario(server))
        # uvicorn re-raises the signal once it has shut down cleanly, so the status says "ended by SIGTERM".
        assert server.process.wait(timeout=10) in {0, -signal.SIGTERM}


def test_the_websockets_command_line_client_is_a_chat_client(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as listener:
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "websockets", f"ws://127.0.0.1:{server.port}/",
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
            )  # fmt: skip
            assert cli.stdin is not None
            try:
                name = (await listener.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
                cli.stdin.write(b"hello from the library\n")
                await cli.stdin.drain()
                await listener.expect(said(name, "hello from the library"))
            finally:
                cli.kill()
                await cli.wait()

    run(scenario())
