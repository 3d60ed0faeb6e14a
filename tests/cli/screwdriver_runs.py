"""Run screwdriver in-process (most tests) or as a process (signals, broken pipes, memory, a missing package)."""

import fcntl
import io
import os
import pty
import select
import subprocess
import sys
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests

import screwdriver
from devtools.servers import REPO, RunningServer
from sonic.environment import AskPassword, Environment


SCREWDRIVER = REPO / "screwdriver.py"
PROCESS_TIMEOUT = 120.0


@dataclass
class Run:
    """What a run of the client left: its exit status, stdout (as text and as bytes) and stderr."""

    returncode: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


def run_in_process(
    *args: str,
    variables: Mapping[str, str] | None = None,
    stdout_isatty: bool = False,
    stderr_isatty: bool = False,
    stdin_isatty: bool = False,
    ask_password: AskPassword | None = None,
) -> Run:
    """Call screwdriver.main in this process with captured streams and only the given environment variables."""
    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", newline="")
    stderr = io.StringIO()
    env = Environment(
        stdout=stdout,
        stderr=stderr,
        stdout_isatty=stdout_isatty,
        stderr_isatty=stderr_isatty,
        stdin_isatty=stdin_isatty,
        variables=dict(variables or {}),
        ask_password=ask_password or refuse_to_ask,
    )
    status = screwdriver.main(list(args), env=env)
    stdout.flush()
    data = out.getvalue()
    return Run(status, data.decode("utf-8", errors="replace"), stderr.getvalue(), data)


def refuse_to_ask(prompt: str) -> str:
    """The password prompt of a run whose test does not expect one."""
    raise AssertionError(f"the client asked for a password: {prompt!r}")


def screwdriver_command(*args: str) -> list[str]:
    """The command line that runs the client as a process with these arguments."""
    return [sys.executable, str(SCREWDRIVER), *args]


def process_environment(env: dict[str, str] | None) -> dict[str, str]:
    """This process's environment without the client's own variables, plus `env`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SCREWDRIVER_", "NETRC"))}
    return {**environment, **(env or {})}


def run_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the client as a process to completion, stdout and stderr captured apart, stdin closed."""
    return subprocess.run(
        screwdriver_command(*args),
        env=process_environment(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )


def run_on_terminal(
    *args: str, env: dict[str, str] | None = None, answer: tuple[bytes, bytes] | None = None
) -> tuple[int, str, bytes]:
    """Run the client as a process whose controlling terminal is a new pseudo-terminal, on its stdin and
    stderr, with stdout on a pipe. With `answer` (prompt, reply), the reply is typed once the prompt shows.
    Return the exit status, stdout, and everything the terminal showed."""
    controller, terminal = pty.openpty()

    def take_the_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # what getpass reads, as /dev/tty

    process = subprocess.Popen(
        screwdriver_command(*args),
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=process_environment(env),
        start_new_session=True,
        preexec_fn=take_the_terminal,  # noqa: PLW1509 -- one ioctl, fork-safe
    )
    os.close(terminal)
    seen = bytearray()
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline:
        if not select.select([controller], [], [], 0.1)[0]:
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: every copy of the terminal's other end is closed
            break
        if not chunk:
            break
        seen += chunk
        if answer is not None and answer[0] in seen:
            os.write(controller, answer[1])
            answer = None
    os.close(controller)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=PROCESS_TIMEOUT), stdout, bytes(seen)


class Screwdriver:
    """The client pointed at one server, plus direct looks at that server for checking what it did."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.url = server.url

    def __call__(self, *args: str, stderr_isatty: bool = False) -> Run:
        """Run the client in-process against this server."""
        return run_in_process("--server", self.url, *args, stderr_isatty=stderr_isatty)

    def names(self) -> list[str]:
        """The names the server lists, asked without the client."""
        response = requests.get(f"{self.url}/api/files", timeout=10)
        response.raise_for_status()
        return [entry["name"] for entry in response.json()]

    def content(self, name: str) -> bytes:
        """A stored file's bytes, fetched without the client."""
        response = requests.get(f"{self.url}/files/{quote(name, safe='')}", timeout=30)
        response.raise_for_status()
        return response.content


def single_line(text: str) -> str:
    """The text's only line; fails the test if there are more or none."""
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got {text!r}"
    assert "Traceback" not in text
    return lines[0]


def upload_all(screwdriver: Screwdriver, *paths: Path) -> None:
    """Put local files in the library through the client; fail the test if any is not stored."""
    result = screwdriver("upload", *map(str, paths))
    assert result.returncode == 0, result.stderr
