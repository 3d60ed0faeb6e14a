"""The reliability suite's hooks: one session-wide ledger of figures, published at the end of the run.

Every test records what it did — requests served, errors seen, files verified byte for byte, faults survived —
in the Ledger (`ledger.py` here); at the end of the run the table is printed in pytest's terminal summary and
written to var/reliability-summary.md (ignored by git). A test run never writes a tracked file: the figures in
docs/reliability.md are written by `make bench` (bench/bench_reliability.py), which runs this suite with
RELIABILITY_FIGURES naming a file; when the whole suite ran and passed, the table is also written there.
"""

import os
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from devtools.servers import REPO
from tests.reliability.ledger import Ledger


SUMMARY_FILE = REPO / "var" / "reliability-summary.md"
FIGURES_VARIABLE = "RELIABILITY_FIGURES"  # where a complete run's table goes, for the benchmark that publishes it
SUITE = "tests/reliability/"
LEDGER = pytest.StashKey[Ledger]()
COLLECTED = pytest.StashKey[int]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[LEDGER] = Ledger()


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[COLLECTED] = sum(1 for item in session.items if item.nodeid.startswith(SUITE))


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
    failed = outcomes["failed"] + outcomes["error"]
    table = ledger.table(outcomes["passed"], failed, outcomes["xfailed"], seconds)
    terminalreporter.write_sep("=", "reliability summary")
    terminalreporter.write(table)
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text(table, encoding="utf-8")
    terminalreporter.write_line(f"(written to {SUMMARY_FILE.relative_to(REPO)})")
    complete = _whole_suite(config) and failed == 0 and outcomes["passed"] == config.stash.get(COLLECTED, -1)
    figures = os.environ.get(FIGURES_VARIABLE)
    if complete and figures:
        Path(figures).write_text(table, encoding="utf-8")
        terminalreporter.write_line(f"(and to {figures}, for docs/reliability.md)")


def _whole_suite(config: pytest.Config) -> bool:
    """True when the run covered all of tests/reliability: no -k or -m, and every path given holds the suite."""
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    suite = REPO / SUITE
    given = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return all(suite.is_relative_to(path) for path in given)


def _in_suite(report: object) -> bool:
    nodeid = getattr(report, "nodeid", "")
    return isinstance(nodeid, str) and nodeid.startswith(SUITE) and getattr(report, "when", "call") == "call"
