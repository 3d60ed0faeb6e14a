"""The upload streams from disk: the client's memory does not grow with the file."""

from pathlib import Path

import pytest

from devtools.resources import run_with_peak_rss
from devtools.wav import write_silence
from tests.cli.screwdriver_runs import Screwdriver, screwdriver_command


BIG_FILE = 256 * 1024 * 1024
PEAK_RSS_LIMIT = 64 * 1000 * 1000


@pytest.mark.slow
def test_uploading_256_mib_stays_under_64_mb(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "big.wav", BIG_FILE)

    run = run_with_peak_rss(screwdriver_command("--server", screwdriver.url, "upload", str(song)))

    assert run.returncode == 0, run.stderr
    assert run.stdout == "big.wav\n"
    assert run.peak_rss <= PEAK_RSS_LIMIT, f"peak RSS {run.peak_rss / 1e6:.1f} MB"
    listed = screwdriver("list", "--json")
    assert '"size": 268435500' in listed.stdout
