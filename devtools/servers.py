"""Start real servers as subprocesses on free loopback ports, for tests and benchmarks."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO


REPO = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
AUDIO_SERVER = "Flask/server.py"
CREDENTIALS_SERVER = "WSGI/credentials.py"

# What subprocess accepts for stdout/stderr: a file descriptor, a file object, DEVNULL/PIPE, or None to inherit.
Output = int | IO[bytes] | None


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> None:
    """Poll until something accepts on the port; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {LOOPBACK}:{port} within {timeout} s")


def children(pid: int) -> set[int]:
    """The process ids of a process's children (Linux /proc)."""
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def children_of_all_threads(pid: int) -> set[int]:
    """The process ids of the children every thread of a process started (Linux /proc lists them per thread)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
    return found


def media_children(pid: int) -> list[int]:
    """The audio library's FFmpeg children (audio_library/media/child.py) that the process is running."""
    found: list[int] = []
    for child in children_of_all_threads(pid):
        try:
            if b"child.py" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except FileNotFoundError:  # it ended meanwhile
            continue
    return found


class RunningServer:
    """A server subprocess listening on a loopback port."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send the signal, wait for the exit and return the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


@contextmanager
def running_command(
    command: Sequence[str],
    port: int,
    *,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    stdout: Output = subprocess.DEVNULL,
    stderr: Output = subprocess.DEVNULL,
    preexec_fn: Callable[[], object] | None = None,
    timeout: float = 15.0,
) -> Iterator[RunningServer]:
    """Run a command that listens on the port, yield it once it listens, stop it afterwards."""
    # A test limits the child's file descriptors this way; a callable that only calls setrlimit is fork-safe.
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=preexec_fn,  # noqa: PLW1509
    )
    server = RunningServer(process, port)
    try:
        wait_for_port(port, process, timeout)
        yield server
    finally:
        server.stop()


@contextmanager
def running_server(
    args: Sequence[str],
    port: int | None = None,
    env: dict[str, str] | None = None,
    stderr: Output = subprocess.DEVNULL,
    timeout: float = 15.0,
) -> Iterator[RunningServer]:
    """Run `python ARGS --host 127.0.0.1 --port PORT`, yield it once it listens, stop it afterwards."""
    port = port if port is not None else free_port()
    command = [sys.executable, *args, "--host", LOOPBACK, "--port", str(port)]
    with running_command(command, port, env={**os.environ, **(env or {})}, stderr=stderr, timeout=timeout) as server:
        yield server


def audio_server(
    library: Path, *flags: str, env: dict[str, str] | None = None, stderr: Output = subprocess.DEVNULL
) -> AbstractContextManager[RunningServer]:
    """The audio library server (Flask/server.py) on a free loopback port, keeping its files in `library`."""
    return running_server([AUDIO_SERVER, "--library", str(library), *flags], env=env, stderr=stderr)


def run_audio_server_to_exit(
    *args: str, stdin_text: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Flask/server.py with these arguments (one it stops by itself after: a command, or a start that
    fails) and standard input, and return how it ended, with its output as text."""
    return subprocess.run(
        [sys.executable, AUDIO_SERVER, *args],
        cwd=REPO,
        env=None if env is None else {**os.environ, **env},
        input=stdin_text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def credentials_server(
    *flags: str, env: dict[str, str] | None = None, stderr: Output = subprocess.DEVNULL
) -> AbstractContextManager[RunningServer]:
    """The credentials service (WSGI/credentials.py) on a free loopback port."""
    return running_server([CREDENTIALS_SERVER, *flags], env=env, stderr=stderr)


CRAWLER_SERVER = "FastAPI/server.py"


def crawler_server(
    *flags: str, env: dict[str, str] | None = None, stderr: Output = subprocess.DEVNULL
) -> AbstractContextManager[RunningServer]:
    """The URL status crawler (FastAPI/server.py) on a free loopback port."""
    return running_server([CRAWLER_SERVER, *flags], env=env, stderr=stderr)


CHAT_SERVER = "WebSocket/server.py"


def chat_server(
    *flags: str, port: int | None = None, env: dict[str, str] | None = None, stderr: Output = subprocess.DEVNULL
) -> AbstractContextManager[RunningServer]:
    """The chat service (WebSocket/server.py) on a free loopback port; its websocket is at ws://127.0.0.1:PORT/."""
    return running_server([CHAT_SERVER, *flags], port=port, env=env, stderr=stderr)
