"""What a process the tests or benchmarks started holds (Linux): peak memory, CPU, descriptors, open files."""

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


# Linux's ru_maxrss for a process also counts the memory of the process it was forked from, up to its
# exec. Spawned from pytest, the figure would be pytest's own size; spawned from this fresh interpreter
# (no site, a few MB), it is the command's own peak.
LAUNCHER = """
import os, sys
report, command = sys.argv[1], sys.argv[2:]
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    out.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


@dataclass
class Measured:
    """What a measured run left behind."""

    returncode: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes
    cpu_seconds: float  # user and system


def peak_rss(pid: int) -> int:
    """A running process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def run_with_peak_rss(command: Sequence[str], timeout: float = 600.0, env: Mapping[str, str] | None = None) -> Measured:
    """Run the command (in `env`, else this process's environment) and return its exit status, output, peak
    RSS (the kernel's ru_maxrss for it) and CPU time."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "maxrss"
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, str(report), *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )
        peak_kib, cpu = report.read_text().split()  # Linux reports KiB
    return Measured(result.returncode, result.stdout, result.stderr, int(peak_kib) * 1024, float(cpu))


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, every thread) a running process has used so far, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def descriptors(pid: int) -> int:
    """How many file descriptors the process holds: files, sockets, pipes."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_files_under(pid: int, folder: Path) -> list[str]:
    """What the process holds open inside `folder` (deleted temporary files included), lock files aside."""
    prefix = str(folder.resolve()) + "/"
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith(prefix) and ".instance-" not in target:
            held.append(target)
    return sorted(held)
