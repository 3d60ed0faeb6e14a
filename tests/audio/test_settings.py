"""The audio library's settings: each flag, else its AUDIO_LIBRARY_* variable, else its default; a port in use."""

import socket
from pathlib import Path

import pytest
from audio_library import create_app
from audio_library.serving.cli import parse_arguments
from audio_library.web.current_library import get_library

from devtools.servers import LOOPBACK, run_audio_server_to_exit


VARIABLES = (
    "AUDIO_LIBRARY_HOST",
    "AUDIO_LIBRARY_PORT",
    "AUDIO_LIBRARY_DIR",
    "AUDIO_LIBRARY_MAX_SIZE",
    "AUDIO_LIBRARY_ALLOWED_HOSTS",
    "AUDIO_LIBRARY_PRIVATE",
    "AUDIO_LIBRARY_DEBUG",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)


def test_each_setting_comes_from_its_flag_then_its_variable_then_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = parse_arguments([])
    assert (defaults.port, defaults.library, defaults.max_size, defaults.private) == (
        8888,
        "var/library",
        1024**3,
        False,
    )
    monkeypatch.setenv("AUDIO_LIBRARY_PORT", "9001")
    monkeypatch.setenv("AUDIO_LIBRARY_DIR", "/srv/music")
    monkeypatch.setenv("AUDIO_LIBRARY_MAX_SIZE", "1000")
    monkeypatch.setenv("AUDIO_LIBRARY_PRIVATE", "yes")
    from_environment = parse_arguments([])
    assert (from_environment.port, from_environment.library, from_environment.max_size) == (9001, "/srv/music", 1000)
    assert from_environment.private is True
    flags = parse_arguments(["--port", "9002", "--library", "here", "--max-size", "2000"])
    assert (flags.port, flags.library, flags.max_size) == (9002, "here", 2000)


def test_allowed_hosts_from_the_variable_and_the_flags_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_LIBRARY_ALLOWED_HOSTS", "a.example, b.example")
    assert parse_arguments(["--allowed-host", "c.example"]).allowed_host == ["a.example", "b.example", "c.example"]


def test_the_debugger_is_never_switched_on_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_LIBRARY_DEBUG", "1")
    assert parse_arguments([]).debug is False


def test_create_app_reads_no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The command line is the one place AUDIO_LIBRARY_* is read: a private library without users would refuse.
    monkeypatch.setenv("AUDIO_LIBRARY_PRIVATE", "1")
    monkeypatch.setenv("AUDIO_LIBRARY_DIR", str(tmp_path / "elsewhere"))
    app = create_app({"TESTING": True, "LIBRARY_DIR": tmp_path / "library"})
    get_library(app).close()
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("AUDIO_LIBRARY_PRIVATE", "maybe", "'maybe' is neither 1, true, yes, on nor 0, false, no, off"),
        ("AUDIO_LIBRARY_CONNECTION_LIMIT", "4", "'4' is below the least connection limit, 8"),
        ("AUDIO_LIBRARY_PORT", "70000", "'70000' is not a TCP port number from 0 to 65535"),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(variable: str, value: str, reason: str, tmp_path: Path) -> None:
    ended = run_audio_server_to_exit("--library", str(tmp_path), env={variable: value})
    assert ended.returncode == 2
    assert ended.stderr.splitlines()[-1] == f"server.py: error: {variable}: {reason}"


def test_the_port_from_the_environment_is_the_one_it_tries(tmp_path: Path) -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:  # the server's own second start: tests/audio/test_server.py
        port = taken.getsockname()[1]
        ended = run_audio_server_to_exit("--library", str(tmp_path), env={"AUDIO_LIBRARY_PORT": str(port)})
    assert ended.returncode == 2
    assert ended.stderr.startswith(f"server.py: port {port} on {LOOPBACK} is in use")
