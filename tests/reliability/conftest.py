"""The reliability suite's shared pieces: the ledger of figures it publishes, servers, and small mounts.

Every test records what it did — requests served, errors seen, files verified byte for byte, faults survived —
in one session-wide Ledger; at the end of the run the table is printed in pytest's terminal summary and
written to var/reliability-summary.md, so the figures in README come from a run, not from a keyboard.
"""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from tests.servers import REPO


SUMMARY_FILE = REPO / "var" / "reliability-summary.md"
SUITE = "tests/reliability/"


@dataclass
class Figures:
    """What one scenario did."""

    requests: int = 0
    errors: int = 0
    files_verified: int = 0
    faults_survived: int = 0


@dataclass
class Ledger:
    """The figures of every scenario of the run, in the order they were first recorded."""

    scenarios: dict[str, Figures] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def record(self, scenario: str, requests: int = 0, errors: int = 0, files: int = 0, faults: int = 0) -> None:
        """Add to a scenario's figures; errors are recorded before a test asserts there were none."""
        figures = self.scenarios.setdefault(scenario, Figures())
        figures.requests += requests
        figures.errors += errors
        figures.files_verified += files
        figures.faults_survived += faults

    def note(self, what: str, count: int) -> None:
        """Count something that is not a request, e.g. the examples a property test tried."""
        self.notes[what] = self.notes.get(what, 0) + count

    def table(self, passed: int, failed: int, xfailed: int = 0, seconds: float = 0.0) -> str:
        """The figures as a Markdown table, with a total row and the tests' outcome."""
        rows = [
            "| scenario | requests served | errors | files verified | faults survived |",
            "|---|---:|---:|---:|---:|",
        ]
        total = Figures()
        for scenario, figures in self.scenarios.items():
            rows.append(
                f"| {scenario} | {figures.requests:,} | {figures.errors:,} | {figures.files_verified:,} "
                f"| {figures.faults_survived:,} |"
            )
            total.requests += figures.requests
            total.errors += figures.errors
            total.files_verified += figures.files_verified
            total.faults_survived += figures.faults_survived
        rows.append(
            f"| **total** | **{total.requests:,}** | **{total.errors:,}** | **{total.files_verified:,}** "
            f"| **{total.faults_survived:,}** |"
        )
        lines = ["", *rows, ""]
        lines += [f"- {what}: {count:,}" for what, count in self.notes.items()]
        known = f", {xfailed} failing on known bugs (xfail)" if xfailed else ""
        lines.append(f"- reliability tests: {passed} passed, {failed} failed{known}, in {seconds:.0f} s")
        return "\n".join(lines[1:]) + "\n"


LEDGER = pytest.StashKey[Ledger]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[LEDGER] = Ledger()


@pytest.fixture(scope="session")
def ledger(pytestconfig: pytest.Config) -> Ledger:
    """The run's ledger of figures."""
    return pytestconfig.stash[LEDGER]


def pytest_terminal_summary(terminalreporter: TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    ledger = config.stash.get(LEDGER, None)
    if ledger is None or not ledger.scenarios:
        return
    outcomes = {
        outcome: sum(1 for report in terminalreporter.stats.get(outcome, []) if _in_suite(report))
        for outcome in ("passed", "failed", "error", "xfailed")
    }
    # The suite's own time (setup, call and teardown of its tests), not the whole run's.
    seconds = sum(
        getattr(report, "duration", 0.0)
        for reports in terminalreporter.stats.values()
        for report in reports
        if _in_suite(report)
    )
    table = ledger.table(outcomes["passed"], outcomes["failed"] + outcomes["error"], outcomes["xfailed"], seconds)
    terminalreporter.write_sep("=", "reliability summary")
    terminalreporter.write(table)
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text(table, encoding="utf-8")
    terminalreporter.write_line(f"(written to {SUMMARY_FILE.relative_to(REPO)})")


def _in_suite(report: object) -> bool:
    nodeid = getattr(report, "nodeid", "")
    return isinstance(nodeid, str) and nodeid.startswith(SUITE) and getattr(report, "when", "call") == "call"


class MountNotPermittedError(Exception):
    """This machine does not let the tests mount a tmpfs (not root, or in a container that forbids it)."""


@contextmanager
def tmpfs(mountpoint: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """Mount a small tmpfs, always unmounted afterwards.

    Raises MountNotPermittedError where the machine does not allow it, except under CI=true: CI runs as root,
    so there a refused mount fails the test.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
        refusal = "" if mounted.returncode == 0 else mounted.stderr.strip() or f"status {mounted.returncode}"
    except FileNotFoundError:
        refusal = "there is no mount command"
    if refusal:
        reason = f"cannot mount a tmpfs here: {refusal}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        raise MountNotPermittedError(reason)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)
