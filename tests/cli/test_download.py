"""`screwdriver download`: the file appears whole or not at all; `-o -` writes the bytes to stdout."""

from pathlib import Path

import pytest

from devtools.wav import write_tone
from tests.cli.screwdriver_runs import Screwdriver, single_line


@pytest.fixture
def song(screwdriver: Screwdriver, files: Path) -> Path:
    """A local file that is also in the library under its own name."""
    path = write_tone(files / "Песня про зайцев.wav", seconds=3)
    assert screwdriver("upload", str(path)).returncode == 0
    return path


def test_download_saves_under_its_name_in_the_current_directory(
    screwdriver: Screwdriver, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)

    result = screwdriver("download", song.name)

    assert result.returncode == 0
    assert result.stdout == ""
    assert "saved" in single_line(result.stderr)
    assert [path.name for path in here.iterdir()] == [song.name]
    assert (here / song.name).read_bytes() == song.read_bytes()


def test_output_names_the_file(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.wav"

    result = screwdriver("--quiet", "download", song.name, "-o", str(target))

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert target.read_bytes() == song.read_bytes()


def test_output_directory_gets_the_file_under_its_name(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()

    result = screwdriver("download", song.name, "--output", str(folder))

    assert result.returncode == 0
    assert (folder / song.name).read_bytes() == song.read_bytes()


def test_existing_file_is_replaced_with_force(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.wav"
    target.write_bytes(b"old")

    result = screwdriver("download", song.name, "-o", str(target), "--force")

    assert result.returncode == 0
    assert target.read_bytes() == song.read_bytes()


def test_existing_file_is_kept_without_force(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.wav"
    target.write_bytes(b"old")

    result = screwdriver("download", song.name, "-o", str(target))

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert f"{target} already exists" in line
    assert "--force" in line
    assert target.read_bytes() == b"old"
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_trailing_slash_creates_the_folder(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "dir"

    result = screwdriver("download", song.name, "-o", f"{folder}/")

    assert result.returncode == 0
    assert [path.name for path in folder.iterdir()] == [song.name]
    assert (folder / song.name).read_bytes() == song.read_bytes()


def test_dash_writes_the_exact_bytes_to_stdout(screwdriver: Screwdriver, song: Path) -> None:
    result = screwdriver("download", song.name, "-o", "-")

    assert result.returncode == 0
    assert result.stdout_bytes == song.read_bytes()
    assert result.stderr == ""


def test_missing_name_fails_and_leaves_nothing_behind(screwdriver: Screwdriver, tmp_path: Path) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    (folder / "absent.wav").write_bytes(b"keep me")

    result = screwdriver("download", "absent.wav", "-o", str(folder), "--force")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "404" in single_line(result.stderr)
    assert [path.name for path in folder.iterdir()] == ["absent.wav"]
    assert (folder / "absent.wav").read_bytes() == b"keep me"


def test_unwritable_target_is_one_clear_line(screwdriver: Screwdriver, song: Path, tmp_path: Path) -> None:
    target = tmp_path / "no such folder" / "copy.wav"

    result = screwdriver("download", song.name, "-o", str(target))

    assert result.returncode == 1
    line = single_line(result.stderr)
    assert f"cannot write {target}" in line
    assert "No such file or directory" in line


def test_download_needs_a_name(screwdriver: Screwdriver) -> None:
    result = screwdriver("download")

    assert result.returncode == 2
    assert "NAME" in result.stderr
