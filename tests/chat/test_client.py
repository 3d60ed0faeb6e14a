"""The terminal client: piped lines, reconnecting, and a real terminal driven through tmux."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests.chat.chatters import DEADLINE, Chatter, said
from tests.event_loop import run
from tests.servers import REPO, RunningServer, chat_server, free_port


CLIENT = str(REPO / "WebSocket" / "client.py")


def test_piped_lines_are_sent_and_arrivals_printed(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            client = await asyncio.create_subprocess_exec(
                sys.executable, CLIENT, f"ws://127.0.0.1:{server.port}/",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert client.stdin is not None
            assert client.stdout is not None
            name = (await other.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
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
        read_until("* Disconnected from")
        with chat_server(port=port):
            read_until("You are Client 1")  # a new server, a new count
    finally:
        client.stdin.close()
        assert client.wait(timeout=DEADLINE) == 0


class Tmux:
    """A detached tmux session running one command in a real terminal."""

    def __init__(self, command: list[str]) -> None:
        self.session = f"chat-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.session, "-x", "120", "-y", "30", *command],
            check=True, cwd=REPO, env={**os.environ, "TERM": "xterm"},
        )  # fmt: skip

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def screen(self) -> str:
        done = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], capture_output=True, check=False)
        return done.stdout.decode()

    def alive(self) -> bool:
        return (
            subprocess.run(["tmux", "has-session", "-t", self.session], capture_output=True, check=False).returncode
            == 0
        )

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE * 2
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        pytest.fail(f"the terminal never showed {what}:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True, check=False)


@contextmanager
def terminal(port: int) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    tmux = Tmux([sys.executable, CLIENT, f"ws://127.0.0.1:{port}/"])
    try:
        yield tmux
    finally:
        tmux.kill()


def test_a_terminal_types_chats_and_uses_the_rest_side(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            with terminal(server.port) as tty:
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
                with terminal(server.port) as second:
                    name = (await other.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
                    second.keys("C-c")
                    second.wait(lambda: not second.alive(), "the client leaving on Ctrl-C")
                    await other.expect(f"{name} left")

    run(scenario())
