"""Run a command to completion and measure its peak resident memory."""

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Measured:
    """What a measured run left behind."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes


def run_with_peak_rss(command: Sequence[str]) -> Measured:
    """Run the command and return its exit status, output and peak RSS (the kernel's ru_maxrss for that child)."""
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        # wait4 reaps the child and returns its own resource usage, so nothing else is counted.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        return Measured(
            process.returncode,
            stdout.read().decode(),
            stderr.read().decode(),
            usage.ru_maxrss * 1024,  # Linux reports KiB
        )
