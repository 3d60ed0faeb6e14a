"""`upload -r FOLDER`, one progress line for several files, and `upload --json`."""

import json
import re
from pathlib import Path

from devtools.servers import LOOPBACK, free_port
from devtools.wav import write_silence, write_tone
from tests.cli.screwdriver_runs import Screwdriver, run_in_process, single_line


def album(files: Path) -> Path:
    """A folder as people keep music: tracks in subfolders, a cover, a booklet, hidden files."""
    top = files / "Album"
    (top / "CD 2").mkdir(parents=True)
    (top / "CD 10").mkdir()
    (top / ".git").mkdir()
    write_tone(top / "Track 10.wav", frequency=300)
    write_tone(top / "track 2.WAV", frequency=350)
    write_tone(top / "CD 2" / "Intro.wav", frequency=400)
    write_tone(top / "CD 10" / "Outro.wav", frequency=450)
    write_tone(top / ".git" / "hidden.wav", frequency=500)
    write_tone(top / "._Track 10.wav", frequency=550)
    (top / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a picture")
    (top / "booklet.pdf").write_bytes(b"%PDF-1.4")
    return top


def test_recursive_sends_the_audio_files_in_order_and_skips_the_rest(screwdriver: Screwdriver, files: Path) -> None:
    top = album(files)

    result = screwdriver("upload", "-r", str(top))

    assert result.returncode == 0, result.stderr
    # Natural order, a folder's files before its subfolders: track 2 before Track 10, CD 2 before CD 10.
    assert result.stdout.splitlines() == ["track 2.WAV", "Track 10.wav", "Intro.wav", "Outro.wav"]
    assert sorted(screwdriver.names()) == ["Intro.wav", "Outro.wav", "Track 10.wav", "track 2.WAV"]
    assert result.stderr.splitlines() == [
        f"screwdriver: {top / 'booklet.pdf'}: skipped, not an audio file name",
        f"screwdriver: {top / 'cover.jpg'}: skipped, not an audio file name",
    ]


def test_recursive_skips_a_file_the_server_finds_is_not_audio(screwdriver: Screwdriver, files: Path) -> None:
    top = files / "mixed"
    top.mkdir()
    write_tone(top / "real.wav")
    (top / "fake.mp3").write_text("a shopping list\n" * 50)

    result = screwdriver("upload", "--recursive", str(top))
    quiet = screwdriver("-q", "upload", "-r", str(top))

    assert result.returncode == 0
    assert result.stdout == "real.wav\n"
    line = single_line(result.stderr)
    assert line.startswith(f"screwdriver: {top / 'fake.mp3'}: skipped, Non-audio file detected")
    assert line.endswith("(HTTP 415)")
    assert screwdriver.names() == ["real.wav"]
    assert quiet.returncode == 0
    assert quiet.stderr == ""


def test_a_file_named_beside_a_folder_is_sent_whatever_its_name(screwdriver: Screwdriver, files: Path) -> None:
    top = files / "folder"
    top.mkdir()
    write_tone(top / "inside.wav", frequency=300)
    odd = write_tone(files / "recording.dat", frequency=600)

    result = screwdriver("upload", "-r", str(odd), str(top))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["recording.dat", "inside.wav"]


def test_an_empty_folder_uploads_nothing_and_succeeds(screwdriver: Screwdriver, files: Path) -> None:
    result = screwdriver("upload", "-r", str(files))

    assert result.returncode == 0
    assert result.stdout == result.stderr == ""


def test_a_folder_without_recursive_says_how(screwdriver: Screwdriver, files: Path) -> None:
    result = screwdriver("upload", str(files))

    assert result.returncode == 1
    assert "upload -r" in single_line(result.stderr)


def test_several_files_share_one_progress_line(screwdriver: Screwdriver, files: Path) -> None:
    paths = [write_silence(files / f"{n}.wav", (n + 1) * 1024 * 1024) for n in range(3)]

    result = screwdriver("upload", *map(str, paths), stderr_isatty=True)

    assert result.returncode == 0
    assert result.stdout.splitlines() == ["0.wav", "1.wav", "2.wav"]
    terminal = result.stderr
    assert "\n" not in terminal  # one line, redrawn in place
    for number in (1, 2, 3):
        assert f"{number}/3 {number - 1}.wav" in terminal
    assert "100% 6.0 MiB / 6.0 MiB" in terminal
    assert not re.search(r"100% [0-5]\.\d MiB", terminal)  # never a bar per file
    assert terminal.endswith("\r\x1b[K")


def test_a_note_interrupts_the_progress_line_cleanly(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "song.wav")
    assert screwdriver("upload", str(song)).returncode == 0
    other = write_silence(files / "other.wav", 1024 * 1024)

    result = screwdriver("upload", str(song), str(other), stderr_isatty=True)

    assert result.returncode == 0
    before, note, after = result.stderr.partition("screwdriver: ")
    assert before.endswith("\r\x1b[K")  # the bar was erased before the note was written
    assert note
    assert after.startswith(f"{song}: already in the library as song.wav\n")


def test_json_lists_every_result(screwdriver: Screwdriver, files: Path) -> None:
    song = write_tone(files / "song.wav")
    assert screwdriver("upload", str(song)).returncode == 0
    new = write_tone(files / "new.wav", frequency=700)
    bad = files / "bad.wav"
    bad.write_text("not audio")
    top = files / "folder"
    top.mkdir()
    (top / "fake.ogg").write_text("not audio either")

    result = screwdriver("upload", "--json", "-r", str(song), str(new), str(bad), str(files / "gone.wav"), str(top))

    assert result.returncode == 1
    results = json.loads(result.stdout)
    assert [item["path"] for item in results] == [
        str(song),
        str(new),
        str(bad),
        str(files / "gone.wav"),
        str(top / "fake.ogg"),
    ]
    assert [item["status"] for item in results] == ["duplicate", "stored", "failed", "failed", "skipped"]
    assert results[0]["name"] == "song.wav"
    assert results[1]["name"] == "new.wav"
    assert results[1]["type"] == "audio/wav"
    assert results[1]["size"] == new.stat().st_size
    assert "Non-audio file detected" in results[2]["error"]
    assert "No such file" in results[3]["error"]
    assert "(HTTP 415)" in results[4]["error"]
    assert len(result.stderr.splitlines()) == 4  # the duplicate's note, two errors, the skip


def test_json_when_the_server_is_unreachable_marks_every_file_failed(files: Path) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    paths = [str(write_tone(files / f"{n}.wav", frequency=200 + n)) for n in range(2)]

    result = run_in_process("--server", url, "upload", "--json", *paths)

    assert result.returncode == 1
    assert [item["status"] for item in json.loads(result.stdout)] == ["failed", "failed"]
    assert f"cannot reach the server at {url}" in single_line(result.stderr)
