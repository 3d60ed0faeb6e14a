"""Credentials against a real server started with --users: --user, the environment, ~/.netrc, and 401s."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.servers import audio_server
from devtools.wav import write_tone
from tests.cli.screwdriver_runs import Screwdriver, run_in_process, run_on_terminal, single_line
from tests.users_files import write_users_file


PASSWORD = "correct-horse"
EXIT_CREDENTIALS = 4


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    """Two users: alice, and one whose name and password are not ASCII."""
    return write_users_file(tmp_path / "users", {"alice": PASSWORD, "Пётр": "пароль ключ"})


@pytest.fixture
def guarded(library_dir: Path, users_file: Path) -> Iterator[Screwdriver]:
    """A server on which uploads and deletes need a user's credentials."""
    with audio_server(library_dir, "--users", str(users_file)) as server:
        yield Screwdriver(server)


@pytest.fixture
def song(files: Path) -> Path:
    return write_tone(files / "song.wav")


def upload(server: Screwdriver, song: Path, *flags: str, **variables: str) -> "tuple[int, str, str]":
    """Upload the song in-process with these global flags and environment variables."""
    result = run_in_process("--server", server.url, *flags, "upload", str(song), variables=variables)
    return result.returncode, result.stdout, result.stderr


def test_without_credentials_the_401_is_one_line_saying_what_to_give(guarded: Screwdriver, song: Path) -> None:
    status, stdout, stderr = upload(guarded, song)

    assert status == EXIT_CREDENTIALS
    assert stdout == ""
    line = single_line(stderr)
    assert f"the server at {guarded.url} needs a user name and password" in line
    for way in ("--user NAME", "SCREWDRIVER_USER", "~/.netrc"):
        assert way in line
    assert guarded.names() == []


def test_user_with_password_uploads(guarded: Screwdriver, song: Path) -> None:
    status, stdout, stderr = upload(guarded, song, "--user", f"alice:{PASSWORD}")

    assert (status, stdout, stderr) == (0, "song.wav\n", "")
    assert guarded.names() == ["song.wav"]


def test_a_wrong_password_is_refused_naming_the_user_and_where_it_came_from(guarded: Screwdriver, song: Path) -> None:
    status, stdout, stderr = upload(guarded, song, "-u", "alice:wrong")

    assert status == EXIT_CREDENTIALS
    assert stdout == ""
    assert single_line(stderr) == (
        f"screwdriver: the server at {guarded.url} refused the password of 'alice' (from --user)"
    )
    assert "wrong" not in stderr
    assert guarded.names() == []


def test_names_and_passwords_travel_as_utf8(guarded: Screwdriver, song: Path) -> None:
    status, _, stderr = upload(guarded, song, "--user", "Пётр:пароль ключ")

    assert status == 0, stderr
    assert guarded.names() == ["song.wav"]


def test_the_password_can_come_from_the_environment(guarded: Screwdriver, song: Path) -> None:
    assert upload(guarded, song, "--user", "alice", SCREWDRIVER_PASSWORD=PASSWORD)[0] == 0


def test_user_and_password_can_both_come_from_the_environment(guarded: Screwdriver, song: Path) -> None:
    wrong = upload(guarded, song, SCREWDRIVER_USER="alice", SCREWDRIVER_PASSWORD="nope")
    right = upload(guarded, song, SCREWDRIVER_USER="alice", SCREWDRIVER_PASSWORD=PASSWORD)

    assert wrong[0] == EXIT_CREDENTIALS
    assert "'alice' (from SCREWDRIVER_USER)" in single_line(wrong[2])
    assert right[0] == 0


def test_a_missing_password_without_a_terminal_is_a_clear_error(guarded: Screwdriver, song: Path) -> None:
    status, stdout, stderr = upload(guarded, song, "--user", "alice")

    assert status == EXIT_CREDENTIALS
    assert stdout == ""
    line = single_line(stderr)
    assert "no password for 'alice'" in line
    assert "SCREWDRIVER_PASSWORD" in line
    assert guarded.names() == []


def test_a_missing_password_is_asked_on_a_terminal(guarded: Screwdriver, song: Path) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return PASSWORD

    result = run_in_process(
        "--server", guarded.url, "--user", "alice", "upload", str(song), stdin_isatty=True, ask_password=ask
    )

    assert result.returncode == 0, result.stderr
    assert prompts == [f"Password for alice at {guarded.url}: "]


def netrc_file(path: Path, password: str) -> Path:
    path.write_text(
        f"machine example.org login bob password other\nmachine 127.0.0.1 login alice password {password}\n"
    )
    return path


def test_credentials_come_from_the_netrc_in_home(guarded: Screwdriver, song: Path, tmp_path: Path) -> None:
    netrc_file(tmp_path / ".netrc", PASSWORD)

    assert upload(guarded, song, HOME=str(tmp_path))[0] == 0
    assert guarded.names() == ["song.wav"]


def test_netrc_names_itself_when_refused(guarded: Screwdriver, song: Path, tmp_path: Path) -> None:
    path = netrc_file(tmp_path / "credentials", "stale")

    status, _, stderr = upload(guarded, song, NETRC=str(path))

    assert status == EXIT_CREDENTIALS
    assert f"'alice' (from {path})" in single_line(stderr)


def test_user_option_beats_the_environment_and_netrc(guarded: Screwdriver, song: Path, tmp_path: Path) -> None:
    netrc_file(tmp_path / ".netrc", "stale")

    result = upload(
        guarded, song, "--user", f"alice:{PASSWORD}", HOME=str(tmp_path), SCREWDRIVER_USER="x", SCREWDRIVER_PASSWORD="y"
    )

    assert result[0] == 0


def test_requests_does_not_read_a_netrc_the_run_was_not_given(
    guarded: Screwdriver, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process's own environment points at working credentials; the run's does not.
    monkeypatch.setenv("NETRC", str(netrc_file(tmp_path / "process-netrc", PASSWORD)))

    status, _, stderr = upload(guarded, song)

    assert status == EXIT_CREDENTIALS
    assert "needs a user name and password" in single_line(stderr)


def test_a_malformed_netrc_is_named_and_left_out(guarded: Screwdriver, song: Path, tmp_path: Path) -> None:
    (tmp_path / ".netrc").write_text(f"machine 127.0.0.1 login alice password {PASSWORD} frobnicate 1\n")

    status, _, stderr = upload(guarded, song, HOME=str(tmp_path))

    assert status == EXIT_CREDENTIALS
    lines = stderr.splitlines()
    assert len(lines) == 2
    assert lines[0] == f"screwdriver: {tmp_path / '.netrc'} is not used: bad follower token 'frobnicate'"
    assert "needs a user name and password" in lines[1]


def test_the_first_401_stops_an_upload_of_many(guarded: Screwdriver, files: Path) -> None:
    paths = [str(write_tone(files / f"{n}.wav", frequency=300 + n)) for n in range(3)]

    result = run_in_process("--server", guarded.url, "upload", "--json", *paths)

    assert result.returncode == EXIT_CREDENTIALS
    assert "needs a user name and password" in single_line(result.stderr)
    assert [item["status"] for item in json.loads(result.stdout)] == ["failed"] * 3


def test_a_private_library_needs_credentials_to_list(library_dir: Path, users_file: Path, song: Path) -> None:
    with audio_server(library_dir, "--users", str(users_file), "--private") as server:
        anonymous = run_in_process("--server", server.url, "list")
        signed_in = run_in_process("--server", server.url, "-u", f"alice:{PASSWORD}", "list", "--json")

    assert anonymous.returncode == EXIT_CREDENTIALS
    assert anonymous.stdout == ""
    assert "needs a user name and password" in single_line(anonymous.stderr)
    assert signed_in.returncode == 0
    assert signed_in.stdout.strip() == "[]"


def test_the_password_is_asked_on_the_real_terminal_without_echo(guarded: Screwdriver, song: Path) -> None:
    status, stdout, terminal = run_on_terminal(
        "--server",
        guarded.url,
        "--user",
        "alice",
        "upload",
        str(song),
        env={"HOME": str(song.parent)},
        answer=(b"Password for alice", f"{PASSWORD}\n".encode()),
    )

    assert status == 0, terminal
    assert b"Password for alice at " in terminal
    assert stdout == "song.wav\n"
    assert PASSWORD.encode() not in terminal  # not echoed
    assert guarded.names() == ["song.wav"]
