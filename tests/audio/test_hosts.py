"""The Host allowlist against DNS rebinding in the audio library: absolute-form targets, and a live server's
answers (the classification of Host values is host_rules', tested in tests/test_host_rules.py)."""

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.access.hosts import absolute_form_authority
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.rawhttp import exchange
from devtools.servers import LOOPBACK, RunningServer, audio_server, run_audio_server_to_exit
from devtools.wav import noise_wav
from host_rules import Host, parse_host
from tests.host_values import dns_names, ports


@pytest.mark.parametrize(
    ("target", "authority"),
    [
        ("http://evil.example/api/files", "evil.example"),
        ("HTTPS://[::1]:8888?x", "[::1]:8888"),
        ("http://user:pw@host/", "host"),
        ("http://user:pw@evil.example@127.0.0.1/", "evil.example@127.0.0.1"),  # malformed, so refused
        ("/api/files", None),
        ("//evil.example/api/files", None),  # origin-form: a path that begins with two slashes
        ("*", None),
    ],
)
def test_the_authority_of_an_absolute_form_target(target: str, authority: str | None) -> None:
    assert absolute_form_authority(target) == authority


# Against a live server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server allowing music.example by flag and two names by environment variable, with one track."""
    library = tmp_path_factory.mktemp("library")
    (library / "secret song.wav").write_bytes(noise_wav(1))
    env = {"AUDIO_LIBRARY_ALLOWED_HOSTS": "a.example, B.example"}
    with audio_server(library, "--allowed-host", "music.example", env=env) as running:
        yield running


def request_with_host(server: RunningServer, method: str, path: str, host: str) -> tuple[int, bytes]:
    """The status and body of a request whose Host header is `host`."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    response = exchange(server.port, head.encode("latin-1"))
    return response.status, response.body


REQUESTS = [
    ("GET", "/api/files"),
    ("GET", "/"),
    ("GET", "/files/secret%20song.wav"),
    ("DELETE", "/api/files/secret%20song.wav"),
    ("POST", "/delete/secret%20song.wav"),
]


@pytest.mark.parametrize(("method", "path"), REQUESTS)
def test_a_foreign_dns_name_is_refused_reads_included(server: RunningServer, method: str, path: str) -> None:
    for host in ["evil.example", f"evil.example:{server.port}", "localhost.evil.example", "127.0.0.1.evil.example"]:
        status, body = request_with_host(server, method, path, host)
        assert status == 403, host
        assert body.startswith(b'{"error":"This library does not answer to the name ')
        assert b"secret song" not in body  # the page's error view must not show the tracks
    assert requests.get(f"{server.url}/api/files", timeout=10).json()[0]["name"] == "secret song.wav"


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "{loopback}:{port}",
        "[::1]:{port}",
        "localhost:{port}",
        "LocalHost",
        "{own}",
        "music.example",
        "MUSIC.example.:{port}",
        "a.example",
        "b.example:{port}",
    ],
)
def test_addresses_localhost_its_own_name_and_allowed_names_are_answered(server: RunningServer, host: str) -> None:
    value = host.format(loopback=LOOPBACK, port=server.port, own=socket.gethostname())
    status, body = request_with_host(server, "GET", "/api/files", value)
    assert status == 200, value
    assert b"secret song.wav" in body


@pytest.mark.parametrize("host", ["evil example", "[::1", "a..b", "\xe9.example"])
def test_a_malformed_host_is_a_400(server: RunningServer, host: str) -> None:
    status, body = request_with_host(server, "GET", "/api/files", host)
    assert status == 400
    assert b"error" in body


ANSWERED_NAMES = {"localhost", "music.example", "a.example", "b.example"}  # those the server fixture allows


def expected_statuses(host: Host | None, refused: int) -> set[int]:
    """The statuses a request naming this host may get from the server fixture: 400 when it is malformed,
    200 when answered to, else `refused` (or 200: the machine's own name, which the test cannot exclude)."""
    if host is None:
        return {400}
    if host.is_address or host.name in ANSWERED_NAMES:
        return {200}
    return {200, refused}


header_values = st.one_of(
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80),
    st.builds(lambda name, port: f"{name}{port}", dns_names, ports),
    st.builds(lambda address, port: f"[{address}]{port}", st.ip_addresses(v=6), ports),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=header_values)
def test_any_host_gets_a_deliberate_answer_never_a_500(server: RunningServer, value: str) -> None:
    status, body = request_with_host(server, "GET", "/api/files", value)
    assert status in expected_statuses(parse_host(value.strip(" \t")), refused=403)
    assert status == 200 or b"secret song" not in body


def test_a_request_without_host_is_answered(server: RunningServer) -> None:
    response = exchange(server.port, b"GET /api/files HTTP/1.0\r\n\r\n")
    assert response.status == 200


def test_the_server_refuses_to_start_with_a_name_that_is_not_one(tmp_path: Path) -> None:
    result = run_audio_server_to_exit("--library", str(tmp_path / "library"), "--allowed-host", "music.example:80")
    assert result.returncode == 2
    assert result.stderr == (
        "server.py: 'music.example:80' is not a host name to allow (give the name alone, without scheme or port)\n"
    )


def answer(server: RunningServer, head: str) -> tuple[int, object]:
    """The status and JSON body of the answer to this request head."""
    response = exchange(server.port, head.encode("latin-1"))
    return response.status, json.loads(response.body)


def test_http_1_1_without_host_is_a_400_and_http_1_0_is_answered(server: RunningServer) -> None:
    assert answer(server, "GET /api/files HTTP/1.1\r\nConnection: close\r\n\r\n") == (
        400,
        {"error": "An HTTP/1.1 request must carry a Host header."},
    )
    status, body = answer(server, "GET /api/files HTTP/1.0\r\n\r\n")
    assert status == 200
    assert "secret song.wav" in str(body)


@pytest.mark.parametrize(
    "target",
    ["http://evil.example/api/files", "http://evil.example:{port}/api/files", "http://localhost:99999/api/files"],
)
def test_an_absolute_form_target_naming_a_host_not_answered_to_is_a_400(server: RunningServer, target: str) -> None:
    head = f"GET {target.format(port=server.port)} HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n"
    assert answer(server, head) == (400, {"error": "The request target names a host this library does not answer to."})


@pytest.mark.parametrize("authority", ["{loopback}:{port}", "localhost", "music.example:{port}", "[::1]"])
def test_an_absolute_form_target_naming_a_host_answered_to_is_served(server: RunningServer, authority: str) -> None:
    target = f"http://{authority.format(loopback=LOOPBACK, port=server.port)}/api/files"
    status, body = answer(server, f"GET {target} HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert "secret song.wav" in str(body)


@pytest.mark.parametrize("host", ["localhost:99999", "localhost:65536", "127.0.0.1:100000", "[::1]:70000"])
def test_a_port_out_of_range_in_host_is_a_400(server: RunningServer, host: str) -> None:
    status, body = request_with_host(server, "GET", "/api/files", host)
    assert (status, json.loads(body)) == (400, {"error": "The Host header is malformed."})
    assert request_with_host(server, "GET", "/api/files", "localhost:65535")[0] == 200


authorities = header_values.filter(lambda value: not set(value) & set(" \t/?#@%\\\x7f") and value.isprintable())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(authority=authorities)
def test_any_absolute_form_target_gets_a_deliberate_answer_never_a_500(server: RunningServer, authority: str) -> None:
    head = f"GET http://{authority}/api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nConnection: close\r\n\r\n"
    status = exchange(server.port, head.encode("latin-1")).status
    assert status in expected_statuses(parse_host(authority), refused=400)
