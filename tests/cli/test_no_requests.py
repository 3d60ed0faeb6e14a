"""Without `requests` importable, screwdriver says how to install it in one line and exits 3."""

import subprocess
import sys

from tests.cli.screwdriver_runs import SCREWDRIVER


def test_missing_requests_is_one_line_and_status_3() -> None:
    # -I -S: no site-packages, so requests cannot be imported, whatever is installed.
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(SCREWDRIVER), "list"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "screwdriver: the Python package 'requests' is missing; install it: pip install requests"
    ]
    assert "Traceback" not in result.stderr
