"""The credentials service's settings: each flag, else its CREDENTIALS_* variable, else its default; the file
follows the convention with lines of its own (it imports only the standard library, so not settings_env)."""

import contextlib
import io
import os
import subprocess
import sys

import hypothesis
import pytest
from credentials import checked_arguments, command_line
from hypothesis import strategies as st

from devtools.servers import CREDENTIALS_SERVER, REPO, credentials_server


def settings(argv: list[str], environ: dict[str, str]) -> tuple[str, int, float, int]:
    args = checked_arguments(command_line(), argv, environ)
    return args.host, args.port, args.timeout, args.workers


def test_each_setting_comes_from_its_flag_then_its_variable_then_its_default() -> None:
    assert settings([], {}) == ("127.0.0.1", 8888, 30.0, 1)
    variables = {"CREDENTIALS_HOST": "::1", "CREDENTIALS_PORT": "9000", "CREDENTIALS_TIMEOUT": "5"}
    assert settings([], {**variables, "CREDENTIALS_WORKERS": "2"}) == ("::1", 9000, 5.0, 2)
    assert settings(["--port", "9100", "--timeout", "7"], variables) == ("::1", 9100, 7.0, 1)
    assert settings([], {"CREDENTIALS_PORT": ""}) == ("127.0.0.1", 8888, 30.0, 1)  # empty is unset


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("CREDENTIALS_PORT", "http", "a TCP port number from 0 to 65535"),
        ("CREDENTIALS_TIMEOUT", "-1", "a positive number of seconds"),
        ("CREDENTIALS_WORKERS", "many", 'a whole number of processes, at least 1, or "auto"'),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(variable: str, value: str, words: str) -> None:
    result = subprocess.run(
        [sys.executable, CREDENTIALS_SERVER],
        cwd=REPO,
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == f"credentials.py: error: {variable} must be {words}; {value!r} is invalid"


def test_a_bad_variable_is_refused_even_when_its_flag_is_given(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        settings(["--port", "9000"], {"CREDENTIALS_PORT": "http"})
    assert exit_.value.code == 2
    assert (
        capsys.readouterr()
        .err.splitlines()[-1]
        .endswith(" error: CREDENTIALS_PORT must be a TCP port number from 0 to 65535; 'http' is invalid")
    )


def test_the_port_from_the_environment_is_the_one_it_tries() -> None:
    with credentials_server() as server:
        result = subprocess.run(
            [sys.executable, CREDENTIALS_SERVER],
            cwd=REPO,
            env={**os.environ, "CREDENTIALS_PORT": str(server.port)},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.startswith(f"credentials: port {server.port} on 127.0.0.1 is in use")


def outcome(argv: list[str], environ: dict[str, str]) -> tuple[str, int, float, int] | None:
    """The settings, or None for a usage error."""
    with contextlib.redirect_stderr(io.StringIO()):
        try:
            return settings(argv, environ)
        except SystemExit:
            return None


@hypothesis.settings(max_examples=100, deadline=None)
@hypothesis.given(text=st.text(min_size=1, max_size=8) | st.integers(-5, 70_000).map(str) | st.floats().map(str))
def test_a_variable_is_read_exactly_as_its_flag(text: str) -> None:
    for flag, name in (
        ("--port", "CREDENTIALS_PORT"),
        ("--timeout", "CREDENTIALS_TIMEOUT"),
        ("--workers", "CREDENTIALS_WORKERS"),
    ):
        assert outcome([], {name: text}) == outcome([f"{flag}={text}"], {})
