"""Global options, help, and the failures that are not about one file: unreachable, silent or failing servers."""

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.servers import LOOPBACK, free_port
from devtools.wav import write_tone
from tests.cli.canned_http import answer, canned_server, response
from tests.cli.screwdriver_runs import Screwdriver, run_in_process, screwdriver_command, single_line


COMMANDS = ["upload", "list", "download", "delete"]


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A socket that accepts connections (the kernel completes them) but never answers."""
    with socket.create_server((LOOPBACK, 0)) as listener:
        yield listener


@pytest.fixture
def unavailable_server() -> Iterator[str]:
    """The URL of an HTTP server that answers 503 with plain text to everything, like a proxy whose backend is down."""
    unavailable = response("503 Service Unavailable", b"upstream is down\nplease retry later\n", "text/plain")
    with canned_server(answer(unavailable)) as url:
        yield url


def arguments_for(command: str, files: Path) -> list[str]:
    """Valid arguments for each command, so that only the server can make it fail."""
    if command == "upload":
        return ["upload", str(write_tone(files / "song.wav"))]
    if command in ("download", "delete"):
        return [command, "song.wav", *(["-o", str(files / "copy.wav")] if command == "download" else [])]
    return [command]


@pytest.mark.parametrize("command", COMMANDS)
def test_unreachable_server_is_one_line_naming_the_url(command: str, files: Path) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"

    result = run_in_process("--server", url, *arguments_for(command, files))

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert f"cannot reach the server at {url}" in line
    assert "connection refused" in line


def test_unreachable_server_is_reported_once_for_many_files(files: Path) -> None:
    url = f"http://{LOOPBACK}:{free_port()}"
    paths = [str(write_tone(files / f"{n}.wav", frequency=200 + n)) for n in range(3)]

    result = run_in_process("--server", url, "upload", *paths)

    assert result.returncode == 1
    assert url in single_line(result.stderr)


def test_server_comes_from_the_environment(screwdriver: Screwdriver) -> None:
    result = run_in_process("list", "--json", variables={"SCREWDRIVER_SERVER": screwdriver.url})

    assert result.returncode == 0
    assert result.stdout.strip() == "[]"


def test_server_option_overrides_the_environment(screwdriver: Screwdriver) -> None:
    elsewhere = f"http://{LOOPBACK}:{free_port()}"

    overridden = run_in_process(
        "--server", screwdriver.url, "list", "--json", variables={"SCREWDRIVER_SERVER": elsewhere}
    )
    from_environment = run_in_process("list", variables={"SCREWDRIVER_SERVER": elsewhere})

    assert overridden.returncode == 0
    assert overridden.stdout.strip() == "[]"
    assert from_environment.returncode == 1
    assert elsewhere in from_environment.stderr


def test_default_server_is_port_8888_on_loopback() -> None:
    result = run_in_process("--help")

    assert "http://127.0.0.1:8888" in result.stdout


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:8888", "127.0.0.1:8888", "http://"])
def test_bad_server_url_is_a_usage_error(url: str) -> None:
    result = run_in_process("--server", url, "list")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "--server" in result.stderr
    assert "is not an http:// or https:// URL" in result.stderr


@pytest.mark.parametrize("seconds", ["0", "-1", "soon", "inf", "nan"])
def test_bad_timeout_is_a_usage_error(seconds: str) -> None:
    result = run_in_process("--timeout", seconds, "list")

    assert result.returncode == 2
    assert "--timeout" in result.stderr


def test_timeout_gives_up_on_a_server_that_does_not_answer(silent_server: socket.socket) -> None:
    url = f"http://{LOOPBACK}:{silent_server.getsockname()[1]}"

    result = run_in_process("--server", url, "--timeout", "0.5", "list")

    assert result.returncode == 1
    assert result.stdout == ""
    assert f"the server at {url} did not answer within 0.5 s" in single_line(result.stderr)


def test_timeout_comes_from_the_environment(silent_server: socket.socket) -> None:
    url = f"http://{LOOPBACK}:{silent_server.getsockname()[1]}"

    result = run_in_process("--server", url, "list", variables={"SCREWDRIVER_TIMEOUT": "0.5"})

    assert result.returncode == 1
    assert f"the server at {url} did not answer within 0.5 s" in single_line(result.stderr)


def test_timeout_option_overrides_the_environment(silent_server: socket.socket) -> None:
    url = f"http://{LOOPBACK}:{silent_server.getsockname()[1]}"

    result = run_in_process("--server", url, "--timeout", "0.7", "list", variables={"SCREWDRIVER_TIMEOUT": "0.5"})

    assert result.returncode == 1
    assert f"the server at {url} did not answer within 0.7 s" in single_line(result.stderr)


def test_bad_timeout_in_the_environment_is_a_usage_error() -> None:
    result = run_in_process("list", variables={"SCREWDRIVER_TIMEOUT": "soon"})

    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[-1]
        == "screwdriver: error: SCREWDRIVER_TIMEOUT: 'soon' is not a positive number of seconds"
    )


def test_quiet_comes_from_the_environment(screwdriver: Screwdriver) -> None:
    noted = run_in_process("--server", screwdriver.url, "list", stderr_isatty=True)
    quiet = run_in_process(
        "--server", screwdriver.url, "list", stderr_isatty=True, variables={"SCREWDRIVER_QUIET": "1"}
    )
    refused = run_in_process("list", variables={"SCREWDRIVER_QUIET": "maybe"})

    assert noted.stderr == "screwdriver: the library is empty\n"
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1].startswith("screwdriver: error: SCREWDRIVER_QUIET: 'maybe' is neither")


def test_a_bad_server_in_the_environment_is_a_usage_error_naming_it() -> None:
    result = run_in_process("list", variables={"SCREWDRIVER_SERVER": "ftp://x"})

    assert result.returncode == 2
    assert (
        result.stderr.splitlines()[-1]
        == "screwdriver: error: SCREWDRIVER_SERVER: 'ftp://x' is not an http:// or https:// URL"
    )


@pytest.mark.parametrize("command", ["list", "delete"])
def test_other_server_errors_show_status_and_message(command: str, unavailable_server: str, files: Path) -> None:
    result = run_in_process("--server", unavailable_server, *arguments_for(command, files))

    assert result.returncode == 1
    assert result.stdout == ""
    assert single_line(result.stderr).endswith("upstream is down (HTTP 503)")


def test_a_server_that_is_not_the_library_is_reported() -> None:
    web_page = response("200 OK", b"<!doctype html><title>Router login</title>", "text/html")
    with canned_server(answer(web_page)) as url:
        result = run_in_process("--server", url, "list")

    assert result.returncode == 1
    assert result.stdout == ""
    assert single_line(result.stderr) == f"screwdriver: unexpected answer from {url}/api/files: not JSON"


def test_ctrl_c_exits_130_without_a_traceback(silent_server: socket.socket, files: Path) -> None:
    song = write_tone(files / "song.wav")
    url = f"http://{LOOPBACK}:{silent_server.getsockname()[1]}"
    process = subprocess.Popen(
        screwdriver_command("--server", url, "upload", str(song)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    silent_server.settimeout(30)
    connection, _ = silent_server.accept()  # the client is now inside its request
    with connection:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 130
    assert stdout == ""
    assert single_line(stderr) == "screwdriver: interrupted"


def test_no_command_is_a_usage_error() -> None:
    result = run_in_process()

    assert result.returncode == 2
    assert result.stdout == ""
    assert "usage:" in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run_in_process("play", "song.wav")

    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_help_explains_commands_output_environment_and_exit_codes() -> None:
    result = run_in_process("--help")

    assert result.returncode == 0
    assert result.stderr == ""
    for word in [*COMMANDS, "--server", "--timeout", "--quiet", "SCREWDRIVER_SERVER", "stdout", "stderr"]:
        assert word in result.stdout
    for word in ["--user", "SCREWDRIVER_USER", "SCREWDRIVER_PASSWORD", ".netrc"]:
        assert word in result.stdout
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "130"]:
        assert f"\n  {code}" in result.stdout


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("upload", ["FILE", "stdout", "stderr", "already in the library", "--recursive", "--json"]),
        ("list", ["--long", "--json", "size", "duration", "title", "artist", "album", "track"]),
        ("download", ["NAME", "--output", "stdout", "temporary file"]),
        ("delete", ["NAME"]),
    ],
)
def test_each_command_has_its_own_help(command: str, words: list[str]) -> None:
    result = run_in_process(command, "--help")

    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: screwdriver {command}")
    text = " ".join(result.stdout.split())  # the description is wrapped to the terminal
    for word in [*words, "exit status"]:
        assert word in text
