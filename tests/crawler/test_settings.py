"""The crawler's settings: each flag, else its CRAWLER_* variable (REDIS_URL, CACHE_TTL and TIMEOUT too, the names
its users know), else its default; a bad variable named; a second server on a port in use told what to do."""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.servers import CRAWLER_SERVER, LOOPBACK, REPO, RunningServer
from FastAPI import crawl
from FastAPI.server import parse_settings
from tests.crawler.service import crawler


NAMES = ("CRAWLER_CACHE_TTL", "CACHE_TTL", "TIMEOUT", "CRAWLER_REDIS", "REDIS_URL", "CRAWLER_PORT", "CRAWLER_SERVER")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env file in the working directory


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with crawler() as running:
        yield running


def settings_with(**variables: str) -> tuple[int, float, str | None]:
    """The port, cache TTL and Redis URL that the environment (only) gives."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        args, settings = parse_settings([], home=Path.cwd())
    return args.port, settings.cache_ttl, settings.redis_url


def test_the_convention_s_name_comes_before_the_names_users_know() -> None:
    assert settings_with() == (8888, 300.0, None)
    assert settings_with(TIMEOUT="9")[1] == 9
    assert settings_with(TIMEOUT="9", CACHE_TTL="8")[1] == 8
    assert settings_with(TIMEOUT="9", CACHE_TTL="8", CRAWLER_CACHE_TTL="7")[1] == 7
    assert settings_with(REDIS_URL="redis://127.0.0.1:1/0")[2] == "redis://127.0.0.1:1/0"
    assert settings_with(REDIS_URL="redis://127.0.0.1:1/0", CRAWLER_REDIS="redis://127.0.0.1:2/0")[2] == (
        "redis://127.0.0.1:2/0"
    )
    assert settings_with(CRAWLER_PORT="9000")[0] == 9000


def test_a_flag_beats_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("CRAWLER_CACHE_TTL", "7"), ("REDIS_URL", "redis://127.0.0.1:1/0"), ("CRAWLER_PORT", "9000")):
        monkeypatch.setenv(name, value)
    args, settings = parse_settings(["--cache-ttl", "6", "--redis", "redis://127.0.0.1:3/0", "--port", "9100"])
    assert (args.port, settings.cache_ttl, settings.redis_url) == (9100, 6, "redis://127.0.0.1:3/0")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("CRAWLER_PORT", "eighty", "'eighty' is not a TCP port number from 0 to 65535"),
        ("TIMEOUT", "soon", "'soon' is not a positive number"),
        ("CRAWLER_MAX_URLS", "1.5", "'1.5' is not a positive whole number"),
        ("CRAWLER_ALLOW_PRIVATE", "maybe", "'maybe' is neither 1, true, yes, on nor 0, false, no, off"),
    ],
)
def test_a_bad_variable_is_a_usage_error_naming_it(
    name: str, value: str, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        parse_settings([])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"server.py: error: {name}: {reason}"


def test_a_second_server_on_a_port_in_use_says_how_to_choose_another(server: RunningServer) -> None:
    line = (
        f"server.py: port {server.port} on {LOOPBACK} is in use, perhaps by another server: choose another with "
        "--port N, CRAWLER_PORT=N or `make run-crawler PORT=N`\n"
    )
    by_flag = [sys.executable, CRAWLER_SERVER, "--host", LOOPBACK, "--port", str(server.port)]
    by_variable = {**os.environ, "CRAWLER_PORT": str(server.port)}
    for command, env in ((by_flag, None), ([sys.executable, CRAWLER_SERVER], by_variable)):
        ended = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert (ended.returncode, ended.stderr) == (1, line)
    assert server.process.poll() is None


def test_crawl_py_takes_its_server_from_crawler_server(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRAWLER_SERVER", server.url)
    out, err = io.StringIO(), io.StringIO()
    # A loopback target is refused by the guard: what matters is which server said so.
    assert crawl.main(["http://127.0.0.1:1/"], out, err) == 1
    assert out.getvalue() == "error:forbidden-address\thttp://127.0.0.1:1/\n"
    monkeypatch.setenv("CRAWLER_TIMEOUT", "never")
    assert crawl.main(["x"], out, err) == 2
    assert (
        err.getvalue().splitlines()[-1]
        == "crawl.py: error: CRAWLER_TIMEOUT: 'never' is not a positive number of seconds"
    )


def outcome(argv: list[str], variables: dict[str, str]) -> tuple[object, ...] | None:
    """The port, cache TTL and switch that the flags and variables give, or None for a usage error."""
    nowhere = Path("/nonexistent")  # no .env file
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(io.StringIO()):
        for name, value in variables.items():
            patch.setenv(name, value)
        try:
            args, parsed = parse_settings(argv, cwd=nowhere, home=nowhere)
        except SystemExit:
            return None
    return args.port, parsed.cache_ttl, parsed.max_urls, parsed.allow_private


environment_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(text=environment_text | st.integers(-5, 70_000).map(str) | st.floats().map(str))
def test_a_variable_is_read_exactly_as_its_flag(text: str) -> None:
    for flag, name in (("--port", "CRAWLER_PORT"), ("--cache-ttl", "TIMEOUT"), ("--max-urls", "CRAWLER_MAX_URLS")):
        assert outcome([], {name: text}) == outcome([f"{flag}={text}"], {})
    switched = outcome([], {"CRAWLER_ALLOW_PRIVATE": text})
    assert switched is None or switched[3] is (text.strip().lower() in {"1", "true", "yes", "on"})
