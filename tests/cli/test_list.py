"""`screwdriver list`: names one per line, `--long` columns, `--json` the server's entries."""

import json
import re
from pathlib import Path

import pytest
import requests

from devtools.corpus import FIXTURES_DIR, TAGS
from devtools.wav import write_tone
from tests.cli.canned_http import answer, canned_server, response
from tests.cli.screwdriver_runs import Screwdriver, run_in_process, single_line, upload_all


def test_empty_library_prints_nothing(screwdriver: Screwdriver) -> None:
    result = screwdriver("list")

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""


def test_names_one_per_line_sorted_and_nothing_else(screwdriver: Screwdriver, files: Path) -> None:
    upload_all(
        screwdriver,
        write_tone(files / "zebra.wav", frequency=300),
        write_tone(files / "Песня.wav", frequency=400),
        write_tone(files / "apple.wav", frequency=500),
    )

    result = screwdriver("list")

    assert result.returncode == 0
    assert result.stdout.splitlines() == screwdriver.names()
    assert set(result.stdout.splitlines()) == {"zebra.wav", "Песня.wav", "apple.wav"}
    assert result.stderr == ""


def test_long_shows_aligned_size_type_and_duration(screwdriver: Screwdriver, files: Path) -> None:
    upload_all(
        screwdriver,
        write_tone(files / "short.wav", seconds=2),
        write_tone(files / "a rather longer name.wav", seconds=75, frequency=220),
    )

    result = screwdriver("list", "--long")

    assert result.returncode == 0
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    rows = {line.split("  ")[0].strip(): line for line in lines}
    assert set(rows) == {"short.wav", "a rather longer name.wav"}
    assert re.search(r"31\.3 KiB\s+audio/\S+\s+0:02$", rows["short.wav"])
    assert re.search(r"1\.1 MiB\s+audio/\S+\s+1:15$", rows["a rather longer name.wav"])
    # Aligned: every column starts at the same offset in every line, and the lines are equally long.
    assert len({len(line) for line in lines}) == 1
    assert len({line.index("audio/") for line in lines}) == 1


def test_long_of_an_empty_library_prints_nothing(screwdriver: Screwdriver) -> None:
    result = screwdriver("list", "-l")

    assert result.returncode == 0
    assert result.stdout == ""


def test_json_is_the_servers_entries(screwdriver: Screwdriver, files: Path) -> None:
    upload_all(screwdriver, write_tone(files / "one.wav"), write_tone(files / "two.wav", frequency=880))

    result = screwdriver("list", "--json")

    assert result.returncode == 0
    assert result.stderr == ""
    expected = requests.get(f"{screwdriver.url}/api/files", timeout=10).json()
    assert json.loads(result.stdout) == expected
    assert [entry["name"] for entry in expected] == ["one.wav", "two.wav"]


def test_json_of_an_empty_library_is_an_empty_array(screwdriver: Screwdriver) -> None:
    result = screwdriver("list", "--json")

    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def test_long_and_json_together_are_a_usage_error(screwdriver: Screwdriver) -> None:
    result = screwdriver("list", "--long", "--json")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "not allowed with" in result.stderr


def test_names_sort_case_insensitively_and_numbers_by_value(screwdriver: Screwdriver, files: Path) -> None:
    names = ["Track 10.wav", "big.wav", "Track 2.wav", "Tone A440.wav", "track 1.wav"]
    upload_all(screwdriver, *(write_tone(files / name, frequency=300 + 50 * i) for i, name in enumerate(names)))

    result = screwdriver("list")

    assert result.returncode == 0
    assert result.stdout.splitlines() == ["big.wav", "Tone A440.wav", "track 1.wav", "Track 2.wav", "Track 10.wav"]


def test_empty_library_on_a_terminal_is_said_on_stderr(screwdriver: Screwdriver) -> None:
    result = screwdriver("list", stderr_isatty=True)
    quiet = screwdriver("-q", "list", stderr_isatty=True)

    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == "screwdriver: the library is empty\n"
    assert quiet.stdout == quiet.stderr == ""


@pytest.mark.parametrize(("count", "words"), [("1", "1 file is"), ("2500", "2500 files are")])
def test_files_the_server_is_still_examining_are_counted_on_stderr(count: str, words: str) -> None:
    cold = response(body=b"[]", headers=f"X-Library-Unexamined: {count}\r\n")
    with canned_server(answer(cold)) as url:
        result = run_in_process("--server", url, "list", stderr_isatty=True)

    assert result.returncode == 0
    assert result.stdout == ""
    assert single_line(result.stderr) == (
        f"screwdriver: {words} still being examined by the server and not listed yet; list again in a moment"
    )


TAGGED = [
    {"name": "b.mp3", "size": 3_300_000, "type": "audio/mpeg", "duration": 201.4, "modified": "2026-12-01T10:00:00Z",
     "title": "Blue in Green", "artist": "Miles Davis", "album": "Kind of Blue", "track": 3},
    {"name": "a.wav", "size": 1000, "type": "audio/wav", "duration": None, "modified": "2026-12-01T10:00:00Z",
     "title": None, "artist": None, "album": None, "track": None},
]  # fmt: skip


def test_long_shows_the_tags_and_leaves_missing_fields_blank() -> None:
    with canned_server(answer(response(body=json.dumps(TAGGED).encode()))) as url:
        result = run_in_process("--server", url, "list", "--long")
        on_terminal = run_in_process("--server", url, "list", "--long", stdout_isatty=True)

    assert result.returncode == 0
    assert result.stderr == ""
    untagged, tagged = result.stdout.splitlines()
    assert re.fullmatch(r"a\.wav\s+1000 B  audio/wav\s*", untagged)
    assert re.fullmatch(r"b\.mp3  Blue in Green  Miles Davis  Kind of Blue  3  3\.1 MiB  audio/mpeg  3:21", tagged)
    assert len(untagged) == len(tagged)
    header = on_terminal.stdout.splitlines()[0]
    assert header.split() == ["NAME", "TITLE", "ARTIST", "ALBUM", "TRACK", "SIZE", "TYPE", "DURATION"]
    # The header widens the columns; the rows say the same.
    assert [line.split() for line in on_terminal.stdout.splitlines()[1:]] == [untagged.split(), tagged.split()]
    assert len({len(line) for line in on_terminal.stdout.splitlines()}) == 1


def test_json_keeps_the_tags() -> None:
    with canned_server(answer(response(body=json.dumps(TAGGED).encode()))) as url:
        result = run_in_process("--server", url, "list", "--json")

    assert result.returncode == 0
    assert json.loads(result.stdout) == list(reversed(TAGGED))


def test_long_shows_the_tags_the_real_server_reads(screwdriver: Screwdriver, files: Path) -> None:
    names = ["tagged.mp3", "tagged.opus", "mp3-id3v1.mp3"]
    upload_all(screwdriver, *(FIXTURES_DIR / name for name in names), write_tone(files / "plain.wav"))

    result = screwdriver("list", "--long")
    entries = {entry["name"]: entry for entry in json.loads(screwdriver("list", "--json").stdout)}

    assert result.returncode == 0
    rows = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    for name in names:
        title, artist, album, track, _ = TAGS[name]
        assert (entries[name]["title"], entries[name]["artist"]) == (title, artist)
        cells = [cell for cell in (title, artist, album, track) if cell is not None]
        assert re.search(r"\s+".join(re.escape(str(cell)) for cell in cells), rows[name]), rows[name]
    assert entries["plain.wav"]["title"] is None
    assert re.fullmatch(r"plain\.wav\s+15\.7 KiB  audio/wav\s+0:01", rows["plain.wav"])


def test_control_characters_in_names_cannot_act_on_a_terminal() -> None:
    hostile = [{"name": "a\x1b[2J\x9b31mb\nc.wav", "size": 1, "type": "audio/wav", "duration": None}]
    with canned_server(answer(response(body=json.dumps(hostile).encode()))) as url:
        names = run_in_process("--server", url, "list", stdout_isatty=True)
        piped = run_in_process("--server", url, "list", "--json")
        shown = run_in_process("--server", url, "list", "--json", stdout_isatty=True)

    assert names.stdout == "a\\x1b[2J\\x9b31mb\\x0ac.wav\n"
    assert json.loads(piped.stdout) == json.loads(shown.stdout) == hostile
    for output in (names.stdout, piped.stdout, shown.stdout):
        assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", output)
