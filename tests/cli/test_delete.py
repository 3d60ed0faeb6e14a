"""`screwdriver delete`: removes the file; a missing name is an error with the server's reason."""

from pathlib import Path

from devtools.wav import write_tone
from tests.cli.screwdriver_runs import Screwdriver, single_line


def test_delete_removes_the_file(screwdriver: Screwdriver, files: Path) -> None:
    keep = write_tone(files / "keep.wav", frequency=300)
    drop = write_tone(files / "Песня.wav", frequency=600)
    assert screwdriver("upload", str(keep), str(drop)).returncode == 0

    result = screwdriver("delete", "Песня.wav")

    assert result.returncode == 0
    assert result.stdout == ""
    assert "deleted Песня.wav" in single_line(result.stderr)
    assert screwdriver.names() == ["keep.wav"]


def test_quiet_delete_says_nothing(screwdriver: Screwdriver, files: Path) -> None:
    assert screwdriver("upload", str(write_tone(files / "song.wav"))).returncode == 0

    result = screwdriver("-q", "delete", "song.wav")

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert screwdriver.names() == []


def test_deleting_a_missing_name_fails_with_the_servers_reason(screwdriver: Screwdriver) -> None:
    result = screwdriver("delete", "ghost.wav")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "(HTTP 404)" in single_line(result.stderr)


def test_delete_needs_a_name(screwdriver: Screwdriver) -> None:
    result = screwdriver("delete")

    assert result.returncode == 2
    assert "NAME" in result.stderr
