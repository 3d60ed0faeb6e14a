"""The terminal client in a real terminal: a detached tmux session whose screen the tests read."""

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from devtools.chatters import DEADLINE
from devtools.servers import REPO


CLIENT = str(REPO / "WebSocket" / "client.py")


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

    def paste(self, text: str) -> None:
        """Paste as a terminal does, bracketed when the program asked for it."""
        subprocess.run(["tmux", "set-buffer", "-b", self.session, text], check=True)
        subprocess.run(["tmux", "paste-buffer", "-p", "-d", "-b", self.session, "-t", self.session], check=True)

    def title(self) -> str:
        done = subprocess.run(
            ["tmux", "display-message", "-p", "-t", self.session, "#{pane_title}"], capture_output=True, check=False
        )
        return done.stdout.decode().strip()

    def buffers(self) -> str:
        """Everything in tmux's paste buffers: where a clipboard escape (OSC 52) would have put its text."""
        done = subprocess.run(["tmux", "list-buffers", "-F", "#{buffer_sample}"], capture_output=True, check=False)
        return done.stdout.decode()

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
def terminal(url: str) -> Iterator[Tmux]:
    """The terminal client connecting to `url`, in tmux; a missing tmux fails under CI=true."""
    if shutil.which("tmux") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is not installed")
        pytest.skip("tmux is not installed")
    tmux = Tmux([sys.executable, CLIENT, url])
    try:
        yield tmux
    finally:
        tmux.kill()
