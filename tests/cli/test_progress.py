"""The progress bar: on stderr when it is a terminal, never when piped or with --quiet.

One test runs the client on a real pseudo-terminal; the others tell it in-process that stderr is one.
"""

import re
from pathlib import Path

from devtools.wav import write_silence
from tests.cli.screwdriver_runs import Screwdriver, run_on_terminal


def test_upload_on_a_terminal_shows_bytes_rate_and_eta(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "big.wav", 8 * 1024 * 1024)

    status, stdout, shown = run_on_terminal("--server", screwdriver.url, "upload", str(song))
    terminal = shown.decode(errors="replace")

    assert status == 0
    assert stdout == "big.wav\n"
    assert "big.wav" in terminal
    assert "100% 8.0 MiB / 8.0 MiB" in terminal
    # The rate's unit depends on how fast this machine moved 8 MiB over loopback: B/s up to GiB/s.
    assert re.search(r"\d+(\.\d)? (B|KiB|MiB|GiB)/s", terminal)
    assert "ETA" in terminal
    assert terminal.endswith("\r\x1b[K")  # the bar is erased at the end


def test_download_on_a_terminal_shows_progress(screwdriver: Screwdriver, files: Path, tmp_path: Path) -> None:
    song = write_silence(files / "big.wav", 4 * 1024 * 1024)
    assert screwdriver("upload", str(song)).returncode == 0

    result = screwdriver("download", "big.wav", "-o", str(tmp_path / "copy.wav"), stderr_isatty=True)
    status, stdout, terminal = result.returncode, result.stdout, result.stderr

    assert status == 0
    assert stdout == ""
    assert "100% 4.0 MiB / 4.0 MiB" in terminal
    assert "saved big.wav" in terminal


def test_quiet_hides_the_bar_on_a_terminal(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "big.wav", 4 * 1024 * 1024)

    result = screwdriver("-q", "upload", str(song), stderr_isatty=True)
    status, stdout, terminal = result.returncode, result.stdout, result.stderr

    assert status == 0
    assert stdout == "big.wav\n"
    assert terminal == ""


def test_no_bar_when_stderr_is_a_pipe(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "big.wav", 8 * 1024 * 1024)

    result = screwdriver("upload", str(song))

    assert result.returncode == 0
    assert result.stdout == "big.wav\n"
    assert result.stderr == ""
