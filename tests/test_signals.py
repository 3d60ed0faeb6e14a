"""The processes the suite starts get the default SIGINT, however pytest itself was started."""

import signal
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parent.parent


def ignored_signals(pid: int) -> int:
    """The mask of signals a process ignores, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for process {pid}")


def test_children_do_not_ignore_sigint() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert not ignored_signals(child.pid) & (1 << (signal.SIGINT - 1))
    finally:
        child.communicate(b"", timeout=10)


def test_children_do_not_ignore_sigint_when_pytest_was_started_ignoring_it() -> None:
    def ignore_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    inner = f"{Path(__file__).relative_to(REPO)}::test_children_do_not_ignore_sigint"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", inner],
        cwd=REPO,
        preexec_fn=ignore_sigint,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
