"""The reliability suite's figures for docs/reliability.md: run the whole of tests/reliability, and write the
table its ledger makes into the doc's markers (unless --no-write).

The suite proves the behaviours; this only publishes what a complete, passing run counted, so that `make test`
never writes a tracked file. It runs the suite as a separate pytest process, importing nothing from tests/.
"""

import os
import subprocess
import sys
from pathlib import Path

from bench.figures import measure_and_write


REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"
MARKER = "reliability-summary"
SUITE = "tests/reliability"
TIMEOUT = 1800  # seconds: the suite takes a few minutes on a loaded 2-core machine


def measure(folder: Path) -> list[str]:
    figures = folder / "reliability-figures.md"
    env = {**os.environ, "RELIABILITY_FIGURES": str(figures)}
    command = [sys.executable, "-m", "pytest", SUITE, "-q", "-p", "no:cacheprovider"]
    run = subprocess.run(command, cwd=REPO, env=env, timeout=TIMEOUT, check=False)
    if run.returncode != 0 or not figures.is_file():
        raise SystemExit(f"{SUITE} did not run whole and pass (exit status {run.returncode}): no figures written")
    return figures.read_text(encoding="utf-8").rstrip("\n").split("\n")


def main() -> int:
    return measure_and_write("Run tests/reliability and publish its figures.", measure, DOC, MARKER)


if __name__ == "__main__":
    sys.exit(main())
