"""`screwdriver upload`: one result line per file, names on stdout, everything else on stderr."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from devtools.corpus import AUDIO, FIXTURES_DIR
from devtools.servers import audio_server
from devtools.wav import write_silence, write_tone
from tests.cli.screwdriver_runs import Screwdriver, screwdriver_command, single_line


def test_upload_prints_the_stored_name_and_stores_the_bytes(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "song.wav")

    result = screwdriver("upload", str(song))

    assert result.returncode == 0
    assert result.stdout == "song.wav\n"
    assert result.stderr == ""
    assert screwdriver.names() == ["song.wav"]
    assert screwdriver.content("song.wav") == song.read_bytes()


def test_upload_of_several_files_prints_one_name_each_in_order(screwdriver: Screwdriver, files: Path) -> None:
    paths = [write_tone(files / name, frequency=f) for name, f in [("b.wav", 300), ("a.wav", 400), ("c.wav", 500)]]

    result = screwdriver("upload", *map(str, paths))

    assert result.returncode == 0
    assert result.stdout.splitlines() == ["b.wav", "a.wav", "c.wav"]
    assert screwdriver.names() == ["a.wav", "b.wav", "c.wav"]


def test_unicode_file_name_arrives_intact(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "Песня про зайцев.wav")

    result = screwdriver("upload", str(song))

    assert result.returncode == 0
    assert result.stdout == "Песня про зайцев.wav\n"
    assert screwdriver.names() == ["Песня про зайцев.wav"]
    assert screwdriver.content("Песня про зайцев.wav") == song.read_bytes()


def test_quote_in_file_name_arrives_intact(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / 'the "best" take.wav')

    result = screwdriver("upload", str(song))

    assert result.returncode == 0
    assert screwdriver.names() == [result.stdout.strip()]
    assert screwdriver.content(result.stdout.strip()) == song.read_bytes()
    assert "best" in result.stdout


def test_every_audio_format_of_the_corpus_is_stored(screwdriver: Screwdriver) -> None:
    names = sorted(AUDIO)

    result = screwdriver("upload", *(str(FIXTURES_DIR / name) for name in names))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == names
    assert result.stderr == ""
    listed = screwdriver("list", "--long").stdout.splitlines()
    # The type is the column after the size; tags before it may hold spaces or be blank.
    types = {line.split("  ")[0]: re.search(r" (?:B|KiB|MiB|GiB)  (.+?)(?:  |\s*$)", line) for line in listed}
    assert {name: match.group(1) for name, match in types.items() if match} == AUDIO


def test_program_named_like_an_mp3_is_refused(screwdriver: Screwdriver) -> None:
    program = FIXTURES_DIR / "program-renamed.mp3"

    result = screwdriver("upload", str(program))

    assert result.returncode == 1
    assert "Non-audio file detected: program-renamed.mp3" in single_line(result.stderr)
    assert screwdriver.names() == []


def test_same_bytes_again_is_already_in_the_library(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "song.wav")
    assert screwdriver("upload", str(song)).returncode == 0

    result = screwdriver("upload", str(song))

    assert result.returncode == 0
    assert result.stdout == "song.wav\n"
    assert "already in the library" in single_line(result.stderr)
    assert screwdriver.names() == ["song.wav"]


def test_taken_name_with_other_bytes_is_stored_under_a_new_name(screwdriver: Screwdriver, files: Path) -> None:
    first = write_tone(files / "song.wav", frequency=440)
    (files / "other").mkdir()
    second = write_tone(files / "other" / "song.wav", frequency=880)
    assert screwdriver("upload", str(first)).returncode == 0

    result = screwdriver("upload", str(second))

    assert result.returncode == 0
    new_name = result.stdout.strip()
    assert new_name not in ("", "song.wav")
    assert f"stored as {new_name}" in single_line(result.stderr)
    assert sorted(screwdriver.names()) == sorted(["song.wav", new_name])
    assert screwdriver.content(new_name) == second.read_bytes()
    assert screwdriver.content("song.wav") == first.read_bytes()


def test_quiet_hides_notes_but_not_the_names(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "song.wav")
    screwdriver("upload", str(song))

    result = screwdriver("--quiet", "upload", str(song))

    assert result.returncode == 0
    assert result.stdout == "song.wav\n"
    assert result.stderr == ""


def test_non_audio_file_is_refused_with_the_servers_reason(screwdriver: Screwdriver, files: Path) -> None:
    notes = files / "notes.wav"
    notes.write_text("these are not sounds\n" * 100)

    result = screwdriver("upload", str(notes))

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert str(notes) in line
    assert "Non-audio file detected" in line
    assert "415" in line
    assert screwdriver.names() == []


# Neither --quiet nor -r turns a file named on the command line into a note: the person asked for it.
@pytest.mark.parametrize("flags", [["-q", "upload"], ["upload", "-r"]], ids=["quiet", "recursive"])
def test_quiet_does_not_hide_errors(screwdriver: Screwdriver, files: Path, flags: list[str]) -> None:
    notes = files / "notes.mp3"
    notes.write_text("not audio")

    result = screwdriver(*flags, str(notes))

    assert result.returncode == 1
    assert "Non-audio file detected" in single_line(result.stderr)


def test_one_bad_file_does_not_stop_the_others(screwdriver: Screwdriver, files: Path) -> None:
    good = write_tone(files / "good.wav")
    bad = files / "bad.wav"
    bad.write_bytes(os.urandom(4096))
    also_good = write_tone(files / "also good.wav", frequency=660)

    result = screwdriver("upload", str(good), str(bad), str(files / "missing.wav"), str(also_good))

    assert result.returncode == 1
    assert result.stdout.splitlines() == ["good.wav", "also good.wav"]
    errors = result.stderr.splitlines()
    assert len(errors) == 2
    assert str(bad) in errors[0]
    assert "Non-audio file detected" in errors[0]
    assert str(files / "missing.wav") in errors[1]
    assert screwdriver.names() == ["also good.wav", "good.wav"]


def test_missing_file_is_one_clear_line(screwdriver: Screwdriver, files: Path) -> None:
    result = screwdriver("upload", str(files / "nowhere.mp3"))

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert str(files / "nowhere.mp3") in line
    assert "No such file" in line


def test_directory_is_refused(screwdriver: Screwdriver, files: Path) -> None:
    result = screwdriver("upload", str(files))

    assert result.returncode == 1
    assert "is a directory" in single_line(result.stderr)
    assert screwdriver.names() == []


def test_unreadable_file_is_refused(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "locked.wav")
    song.chmod(0)
    command = screwdriver_command("--server", screwdriver.url, "upload", str(song))
    if os.geteuid() == 0:
        # root reads anything; take away the capabilities that let it, so the mode bits apply.
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]

    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert str(song) in line
    assert "Permission denied" in line
    assert screwdriver.names() == []


@pytest.mark.parametrize("size", [160_000, 32 * 1024 * 1024], ids=["small", "refused-while-sending"])
def test_file_over_the_servers_limit_is_refused_as_too_large(library_dir: Path, files: Path, size: int) -> None:
    song = write_silence(files / "long.wav", size)
    with audio_server(library_dir, "--max-size", "50000") as server:
        result = Screwdriver(server)("upload", str(song))
        names = Screwdriver(server).names()

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert str(song) in line
    assert "the limit is" in line
    assert "(HTTP 413)" in line
    assert names == []


def test_upload_without_files_is_a_usage_error(screwdriver: Screwdriver) -> None:
    result = screwdriver("upload")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage:" in result.stderr
    assert "FILE" in result.stderr
