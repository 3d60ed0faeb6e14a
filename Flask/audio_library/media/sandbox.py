"""Running the media child (`child.py`) on untrusted bytes: its limits, a wall-clock timeout, a cap on children.

The child is a new Python process (`python -I`, an empty environment, `/` as its folder) that inherits no
descriptor but the files named for the job (close_fds with pass_fds), sets its own CPU-time, address-space
and file-size limits before it reads the file, and is killed by its pid once its wall-clock time is up or it
prints more than it may. So a file that makes FFmpeg spin, allocate or crash costs one child, within its
limits, and the server only sees an exit status.
"""

import errno
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


CHILD = Path(__file__).resolve().with_name("child.py")
READ_CHUNK = 64 * 1024
EXIT_GRACE_S = 2.0  # how long a child that closed its output may take to exit before it is killed
OUT_OF_MEMORY = 3  # the child's exit status when an allocation failed (see child.py)
# How a child that went past its limits ends: the kernel's signals for CPU time and file size, our SIGKILL.
OVER_LIMIT_SIGNALS = frozenset({signal.SIGXCPU, signal.SIGKILL, signal.SIGXFSZ})


@dataclass(frozen=True)
class Limits:
    """What one child may use."""

    cpu_seconds: int  # RLIMIT_CPU: SIGXCPU then, a second later, SIGKILL
    memory_bytes: int  # RLIMIT_AS: its whole address space, the Python interpreter and FFmpeg included
    file_bytes: int  # RLIMIT_FSIZE: the largest file it may write (0: none)
    wall_seconds: float  # killed after this long, whatever it is doing
    output_bytes: int  # killed if it prints more than this on stdout


@dataclass(frozen=True)
class Outcome:
    """How a child ended: its exit status (negative: the signal that ended it) and what it printed."""

    status: int
    output: bytes
    timed_out: bool = False
    overflowed: bool = False

    @property
    def succeeded(self) -> bool:
        """It did its job within its limits."""
        return self.status == 0 and not self.timed_out and not self.overflowed

    @property
    def over_limits(self) -> bool:
        """It was stopped for going past its CPU, memory, file-size, time or output limit."""
        return (
            self.timed_out
            or self.overflowed
            or self.status == OUT_OF_MEMORY
            or (self.status < 0 and -self.status in OVER_LIMIT_SIGNALS)
        )


class Sandbox:
    """Runs children, at most `children` at a time; a job that finds every place taken for `wait_seconds`
    raises BlockingIOError (EAGAIN), which the server answers 503 with Retry-After."""

    def __init__(self, children: int, wait_seconds: float) -> None:
        self.children = children
        self.wait_seconds = wait_seconds
        self._places = threading.BoundedSemaphore(children)

    def run(self, task: str, arguments: Sequence[str], limits: Limits, pass_fds: Sequence[int] = ()) -> Outcome:
        """Run `child.py TASK ARGUMENTS` within `limits`, giving it the descriptors `pass_fds` and no others."""
        if not self._places.acquire(timeout=self.wait_seconds):
            raise BlockingIOError(errno.EAGAIN, f"all {self.children} media children are busy")
        try:
            return run_child(task, arguments, limits, pass_fds)
        finally:
            self._places.release()


def run_child(task: str, arguments: Sequence[str], limits: Limits, pass_fds: Sequence[int] = ()) -> Outcome:
    """Start one child, collect at most limits.output_bytes of its output within limits.wall_seconds, and reap it."""
    numbers = (str(limits.cpu_seconds), str(limits.memory_bytes), str(limits.file_bytes))
    process = subprocess.Popen(
        [sys.executable, "-I", str(CHILD), task, *numbers, *arguments],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        env={},
        cwd="/",
    )
    try:
        output, timed_out, overflowed = _collect(process, limits)
        status = _reap(process, time.monotonic() + EXIT_GRACE_S)
    finally:
        if process.poll() is None:  # only when something above raised
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
    return Outcome(status, output, timed_out, overflowed)


def _collect(process: subprocess.Popen[bytes], limits: Limits) -> tuple[bytes, bool, bool]:
    """Read the child's stdout to its end; kill it at the deadline or when it prints too much."""
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    deadline = time.monotonic() + limits.wall_seconds
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as selector:
        selector.register(descriptor, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                process.kill()
                return b"".join(chunks), True, False
            if not selector.select(remaining):
                continue
            chunk = os.read(descriptor, READ_CHUNK)
            if not chunk:
                return b"".join(chunks), False, False
            size += len(chunk)
            if size > limits.output_bytes:
                process.kill()
                return b"".join(chunks), False, True
            chunks.append(chunk)


def _reap(process: subprocess.Popen[bytes], deadline: float) -> int:
    """Wait for the child's exit status until the deadline, then kill it."""
    try:
        return process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
