"""The terminal client: piped lines, reconnecting, and a real terminal driven through tmux."""

import asyncio
import subprocess
import sys
import time

import pytest

from devtools.chatters import DEADLINE, Chatter, said
from devtools.servers import RunningServer, chat_server, free_port, running_command
from tests.chat.terminals import CLIENT, terminal
from tests.event_loop import run


async def piped_client(port: int, watcher: Chatter) -> tuple[asyncio.subprocess.Process, str]:
    """The terminal client with its stdin and stdout piped, and its name once `watcher` sees it connect."""
    client = await asyncio.create_subprocess_exec(
        sys.executable, CLIENT, f"ws://127.0.0.1:{port}/",
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return client, (await watcher.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")


def test_piped_lines_are_sent_and_arrivals_printed(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            client, name = await piped_client(server.port, other)
            assert client.stdin is not None
            assert client.stdout is not None
            client.stdin.write(b"from a pipe\n")
            await client.stdin.drain()
            await other.expect(said(name, "from a pipe"))
            await other.send("to the pipe")
            while not (await asyncio.wait_for(client.stdout.readline(), DEADLINE)).endswith(b": to the pipe\n"):
                pass
            client.stdin.close()
            assert await asyncio.wait_for(client.wait(), DEADLINE) == 0
            await other.expect(f"{name} left")

    run(scenario())


def test_the_client_says_when_the_server_goes_and_reconnects() -> None:
    port = free_port()
    client = subprocess.Popen(
        [sys.executable, CLIENT, f"ws://127.0.0.1:{port}/"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert client.stdout is not None
    assert client.stdin is not None

    def read_until(wanted: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = client.stdout.readline().decode()  # type: ignore[union-attr]
            if wanted in line:
                return
        pytest.fail(f"the client never printed {wanted!r}")

    try:
        read_until("* Disconnected from")  # nothing listens yet
        with chat_server(port=port):
            read_until("You are Client 1")
        read_until("(1001 server shutting down); reconnecting in 0.5 s")  # the reason, and the back-off reset
        with chat_server(port=port):
            read_until("You are Client 1")  # a new server, a new count
    finally:
        client.stdin.close()
        assert client.wait(timeout=DEADLINE) == 0


def test_a_terminal_types_chats_and_uses_the_rest_side(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            with terminal(f"ws://127.0.0.1:{server.port}/") as tty:
                name = (await other.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
                tty.keys("half typed")
                await other.send("arrives mid-line")
                tty.wait(lambda: f"{other.name}: arrives mid-line" in tty.screen(), "the arriving line")
                tty.wait(lambda: tty.screen().rstrip().endswith("half typed"), "the typed text kept intact")
                arrival = next(line for line in tty.screen().splitlines() if "arrives mid-line" in line)
                assert said(other.name, "arrives mid-line")(arrival.strip())  # not garbled into the typed text
                tty.keys(" and sent", "Enter")
                await other.expect(said(name, "half typed and sent"))
                tty.keys("/who", "Enter")
                tty.wait(lambda: f"* {other.name} (connected" in tty.screen(), "/who's list")
                tty.keys("/announce lunch", "Enter")
                tty.wait(lambda: "* Announcement accepted (202 Accepted)" in tty.screen(), "the 202")
                await other.expect("Announcement: lunch")
                tty.keys("C-d")
                tty.wait(lambda: not tty.alive(), "the client leaving on Ctrl-D")
                await other.expect(f"{name} left")
                with terminal(f"ws://127.0.0.1:{server.port}/") as second:
                    name = (await other.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
                    second.keys("C-c")
                    second.wait(lambda: not second.alive(), "the client leaving on Ctrl-C")
                    await other.expect(f"{name} left")

    run(scenario())


def test_the_client_refuses_long_lines_and_unknown_commands_itself(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            client, name = await piped_client(server.port, other)
            assert client.stdin is not None
            assert client.stdout is not None
            client.stdin.write(b"x" * 2001 + b"\n/announcement typo\n/announce " + b"y" * 2001 + b"\n")
            client.stdin.write(b"/announce ring \x07 ring\nstill here\n")
            await client.stdin.drain()
            await other.expect(said(name, "still here"))
            client.stdin.close()
            output = (await asyncio.wait_for(client.stdout.read(), DEADLINE)).decode()
            assert await asyncio.wait_for(client.wait(), DEADLINE) == 0
            assert "* Not sent: 2,001 characters, and a message has at most 2,000" in output
            assert "* Unknown command /announcement: the commands are /who and /announce TEXT" in output
            assert "* Not sent: 2,001 characters, and an announcement has at most 2,000" in output
            assert "* Announcement refused (422 Unprocessable Entity): Value error, contains U+0007" in output
            assert "Disconnected" not in output  # not cut off with 1009 and back under a new name
            assert not any(line.startswith(("Announcement:", "x" * 10)) for line in other.seen)

    run(scenario())


def test_a_server_that_closes_at_once_is_retried_ever_more_slowly() -> None:
    port = free_port()
    with running_command([sys.executable, "-m", "tests.chat.hostile_server", str(port), "--slam"], port):
        client = subprocess.Popen(
            [sys.executable, CLIENT, f"ws://127.0.0.1:{port}/"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert client.stdout is not None
        assert client.stdin is not None
        try:
            waits: list[float] = []
            while len(waits) < 3:
                line = client.stdout.readline().decode()
                assert line, "the client ended"
                if "reconnecting in" in line:
                    assert "1011" in line
                    waits.append(float(line.rsplit(" in ", 1)[1].removesuffix(" s\n")))
            assert waits == [0.5, 1.0, 2.0]
        finally:
            client.stdin.close()
            assert client.wait(timeout=DEADLINE) == 0
