"""Each terminal attack a peer tried, replayed against the terminal client in tmux, and the screen read back.

The real server refuses them (test_inert.py), so a hostile server sends them: the client must show them
inert whichever server it talks to. And a paste of several lines goes out as several messages.
"""

import sys

from devtools.chatters import Chatter, said
from devtools.servers import RunningServer, free_port, running_command
from tests.chat.hostile_server import END
from tests.chat.terminals import terminal
from tests.event_loop import run


def test_what_a_hostile_server_sends_reaches_the_screen_escaped() -> None:
    port = free_port()
    with (
        running_command([sys.executable, "-m", "tests.chat.hostile_server", str(port)], port),
        terminal(f"ws://127.0.0.1:{port}/") as tty,
    ):
        tty.wait(lambda: END in tty.screen(), "the attacks")
        screen = tty.screen()
        lines = screen.splitlines()
        assert tty.title() != "pwned title"  # OSC 0
        assert "sudo rm -rf" not in tty.buffers()  # OSC 52 put nothing on the clipboard
        assert r"\x1b]52;c;c3VkbyBybSAtcmYgfg==\x07" in screen
        assert "You are Client 9" in screen  # the line before the erase is still there
        assert r"\x1b[1A\x1b[2KAnnouncement: server restarting" in screen
        assert not any(line.startswith("Announcement:") for line in lines)
        assert r"0 Client 7: hi\x0a0 Client 1: my password is hunter2" in screen
        assert r"0 Client 7: innocent\x0d0 Client 1: forged over it" in screen
        assert not any(line.startswith("0 Client 1:") for line in lines)  # no forged line of its own
        assert r"0 Client 7: \u202egnp.exe" in screen
        assert r"0 Client 7: \x9b2J cleared" in screen


def test_a_pasted_block_of_lines_is_sent_as_one_message_a_line(server: RunningServer) -> None:
    async def scenario() -> None:
        async with Chatter(server.port) as other:
            with terminal(f"ws://127.0.0.1:{server.port}/") as tty:
                name = (await other.expect(lambda line: line.endswith(" connected"))).removesuffix(" connected")
                tty.wait(lambda: f"You are {name}" in tty.screen(), "the welcome")
                tty.paste("first pasted\nsecond pasted\n\nthird pasted")
                tty.keys("Enter")
                for text in ("first pasted", "second pasted", "third pasted"):
                    await other.expect(said(name, text))

    run(scenario())
