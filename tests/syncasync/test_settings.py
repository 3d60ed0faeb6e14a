"""Both servers' settings: each flag, else its SYNC_SERVER_* or ASYNC_SERVER_* variable (the upstream URLs also
OPEN_METEO_URL and OPEN_METEO_GEOCODING_URL, after), else its default; a port in use says how to choose another."""

import argparse
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

import pytest

from devtools.servers import LOOPBACK, REPO, free_port, running_command
from devtools.syncasync_server import KINDS, NOWHERE, SCRIPTS, get
from SyncAsync import async_server, sync_server


Parse = Callable[[Sequence[str], Mapping[str, str]], argparse.Namespace]
SERVERS: dict[str, tuple[str, int, Parse]] = {
    "sync": ("SYNC_SERVER", 8001, sync_server.parse_args),
    "async": ("ASYNC_SERVER", 8002, async_server.parse_args),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_setting_comes_from_its_flag_then_its_variable_then_its_default(kind: str) -> None:
    prefix, port, parse = SERVERS[kind]
    default = parse([], {})
    assert (default.port, default.upstream_timeout, default.open_meteo_url) == (port, 8.0, "https://api.open-meteo.com")
    environ = {f"{prefix}_PORT": "9001", f"{prefix}_UPSTREAM_TIMEOUT": "2.5", f"{prefix}_CACHE_TTL": "7"}
    from_variables = parse([], environ)
    assert (from_variables.port, from_variables.upstream_timeout, from_variables.cache_ttl) == (9001, 2.5, 7.0)
    from_flags = parse(["--port", "9002", "--upstream-timeout", "3"], environ)
    assert (from_flags.port, from_flags.upstream_timeout, from_flags.cache_ttl) == (9002, 3.0, 7.0)


@pytest.mark.parametrize("kind", KINDS)
def test_the_other_servers_variables_are_not_read(kind: str) -> None:
    prefix, port, parse = SERVERS[kind]
    other = next(their_prefix for their_prefix, _, _ in SERVERS.values() if their_prefix != prefix)
    assert parse([], {f"{other}_PORT": "9003"}).port == port


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", ["open_meteo_url", "open_meteo_geocoding_url"])
def test_the_open_meteo_names_are_aliases_after_the_servers_own(kind: str, option: str) -> None:
    prefix, _, parse = SERVERS[kind]
    alias = option.upper()
    assert getattr(parse([], {alias: "http://127.0.0.1:1"}), option) == "http://127.0.0.1:1"
    both = {alias: "http://127.0.0.1:1", f"{prefix}_{alias}": "http://127.0.0.1:2"}
    assert getattr(parse([], both), option) == "http://127.0.0.1:2"
    flag = "--" + option.replace("_", "-")
    assert getattr(parse([flag, "http://127.0.0.1:3"], both), option) == "http://127.0.0.1:3"


def refusal(parse: Parse, argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The last line of the usage error that parsing gives, which must exit with status 2."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        parse(argv, environ)
    assert exit_.value.code == 2
    return stderr.getvalue().splitlines()[-1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_variable_is_a_usage_error_naming_it(kind: str) -> None:
    prefix, _, parse = SERVERS[kind]
    line = refusal(parse, ["--port", "9000"], {f"{prefix}_PORT": "eighty"})
    assert line.endswith(f" error: {prefix}_PORT: 'eighty' is not a TCP port number from 0 to 65535")
    line = refusal(parse, [], {f"{prefix}_UPSTREAM_TIMEOUT": "61"})
    assert line.endswith(f" error: {prefix}_UPSTREAM_TIMEOUT: '61' is over 60 seconds")
    line = refusal(parse, [], {"OPEN_METEO_URL": "api.open-meteo.com"})
    assert line.endswith(" error: OPEN_METEO_URL: 'api.open-meteo.com' is not an http:// or https:// URL")


@pytest.mark.parametrize("kind", KINDS)
def test_a_server_set_up_by_its_variables_and_a_second_one_on_its_port(kind: str) -> None:
    prefix, _, _ = SERVERS[kind]
    port = free_port()
    variables = {
        f"{prefix}_HOST": LOOPBACK,
        f"{prefix}_PORT": str(port),
        f"{prefix}_OPEN_METEO_URL": NOWHERE,
        f"{prefix}_OPEN_METEO_GEOCODING_URL": NOWHERE,
    }
    env = {**os.environ, **variables}
    with running_command([sys.executable, SCRIPTS[kind]], port, env=env, timeout=30):
        assert get(port, "/hello").body == b"Hello, World!"
        second = subprocess.run(
            [sys.executable, SCRIPTS[kind]], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
        )
    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    make_target = f"run-{kind}"
    assert second.stderr.rstrip().endswith(
        f"port {port} on {LOOPBACK} is in use, perhaps by another server: choose another with --port N,"
        f" {prefix}_PORT=N or `make {make_target} PORT=N`"
    )
