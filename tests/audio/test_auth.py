"""Who may write, and on a private library read, against a live server: HTTP Basic against a users file."""

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.access.auth import Credentials, basic_credentials
from audio_library.serving.cli import is_loopback
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.auth import HTTPBasicAuth

from devtools.rawhttp import exchange
from devtools.servers import LOOPBACK, RunningServer, audio_server, run_audio_server_to_exit
from devtools.wav import noise_wav
from tests.users_files import write_users_file


USERS = {"alice": "correct horse", "Зоя": "пароль: 2 точки"}
CHALLENGE = 'Basic realm="Audio library", charset="UTF-8"'
WRONG = [None, ("alice", "wrong"), ("alice", ""), ("mallory", "correct horse"), ("ALICE", "correct horse")]
ALICE = ("alice", USERS["alice"])


@pytest.fixture(scope="module")
def users_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A users file with USERS (PBKDF2 at a low count: quick to check, and a format the server takes)."""
    return write_users_file(tmp_path_factory.mktemp("users") / "users", USERS)


def serve(tmp_path_factory: pytest.TempPathFactory, users_file: Path, *flags: str) -> Iterator[RunningServer]:
    """A server with the users file and one track, song.wav."""
    library = tmp_path_factory.mktemp("library")
    (library / "song.wav").write_bytes(noise_wav(1))
    # Wrong passwords by the hundred here: their answers are not held back (tests/audio/test_password_checks.py
    # and tests/reliability/test_password_flood.py test that).
    with audio_server(library, "--users", str(users_file), "--password-backoff", "0", *flags) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, users_file: Path) -> Iterator[RunningServer]:
    """Users configured, reads open."""
    yield from serve(tmp_path_factory, users_file)


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory, users_file: Path) -> Iterator[RunningServer]:
    """Users configured, reads closed too."""
    yield from serve(tmp_path_factory, users_file, "--private")


def listed(server: RunningServer) -> list[str]:
    response = requests.get(f"{server.url}/api/files", auth=ALICE, timeout=10)
    response.raise_for_status()
    return [entry["name"] for entry in response.json()]


def assert_challenged(response: requests.Response, message: str) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert response.json() == {"error": message}


CHANGE_MESSAGE = "Sign in with a user name and password to change this library."
PRIVATE_MESSAGE = "This library is private: sign in with a user name and password."


@pytest.mark.parametrize("auth", WRONG, ids=["none", "wrong-password", "empty-password", "unknown-user", "case"])
def test_uploads_and_deletes_without_a_users_credentials_get_401_and_change_nothing(
    server: RunningServer, auth: tuple[str, str] | None
) -> None:
    upload = requests.post(f"{server.url}/api/files", files={"file": ("new.wav", noise_wav(2))}, auth=auth, timeout=30)
    assert_challenged(upload, CHANGE_MESSAGE)
    assert_challenged(requests.delete(f"{server.url}/api/files/song.wav", auth=auth, timeout=10), CHANGE_MESSAGE)
    page_form = requests.post(f"{server.url}/", files={"file": ("new.wav", noise_wav(2))}, auth=auth, timeout=30)
    assert_challenged(page_form, CHANGE_MESSAGE)
    assert_challenged(requests.post(f"{server.url}/delete/song.wav", auth=auth, timeout=10), CHANGE_MESSAGE)
    assert listed(server) == ["song.wav"]


@pytest.mark.parametrize("user", list(USERS))
def test_a_users_credentials_upload_and_delete(server: RunningServer, user: str) -> None:
    auth = HTTPBasicAuth(user.encode(), USERS[user].encode())  # UTF-8 as browsers send it; requests' is Latin-1
    upload = requests.post(f"{server.url}/api/files", files={"file": ("mine.wav", noise_wav(3))}, auth=auth, timeout=30)
    assert upload.status_code == 201
    assert listed(server) == ["mine.wav", "song.wav"]
    assert requests.delete(f"{server.url}/api/files/mine.wav", auth=auth, timeout=10).status_code == 204
    assert listed(server) == ["song.wav"]


READS = ["/api/files", "/", "/files/song.wav", "/files/song.wav?download=1", "/static/js/library.js"]


@pytest.mark.parametrize("path", READS)
def test_reads_are_open_unless_the_library_is_private(
    server: RunningServer, private_server: RunningServer, path: str
) -> None:
    assert requests.get(f"{server.url}{path}", timeout=10).status_code == 200
    assert requests.head(f"{server.url}{path}", timeout=10).status_code == 200
    assert_challenged(requests.get(f"{private_server.url}{path}", timeout=10), PRIVATE_MESSAGE)
    assert requests.head(f"{private_server.url}{path}", timeout=10).status_code == 401
    assert_challenged(requests.get(f"{private_server.url}{path}", auth=("alice", "no"), timeout=10), PRIVATE_MESSAGE)
    assert requests.get(f"{private_server.url}{path}", auth=ALICE, timeout=10).status_code == 200


def test_a_private_library_takes_uploads_and_deletes_from_users_only(private_server: RunningServer) -> None:
    url = f"{private_server.url}/api/files"
    assert_challenged(requests.post(url, files={"file": ("x.wav", noise_wav(4))}, timeout=30), PRIVATE_MESSAGE)
    assert requests.post(url, files={"file": ("x.wav", noise_wav(4))}, auth=ALICE, timeout=30).status_code == 201
    assert requests.delete(f"{url}/x.wav", auth=ALICE, timeout=10).status_code == 204


def basic(payload: bytes) -> bytes:
    return b"Basic " + base64.b64encode(payload)


@given(
    name=st.text(st.characters(exclude_characters=":", exclude_categories=["Cs"]), max_size=128),
    password=st.text(st.characters(exclude_categories=["Cs"]), max_size=1024),
    scheme=st.sampled_from(["Basic", "basic", "BASIC"]),
)
def test_basic_credentials_read_back_any_name_and_password(name: str, password: str, scheme: str) -> None:
    token = base64.b64encode(f"{name}:{password}".encode()).decode("ascii")
    assert basic_credentials(f"{scheme} {token}") == Credentials(name, password)
    assert basic_credentials(f"Bearer {token}") is None
    assert basic_credentials(f"{scheme} {token[:-1]}!") is None


def not_a_user(text: str) -> bool:
    return text not in USERS


# Malformed values, and well-formed ones that name no user: none may open the library, crash or stall the server.
authorization_values = st.one_of(
    st.binary(max_size=300).filter(lambda value: b"\r" not in value and b"\n" not in value),
    st.builds(basic, st.binary(max_size=200)),
    st.builds(
        lambda name, password: basic(f"{name}:{password}".encode("utf-8", "surrogatepass")),
        st.text(max_size=40).filter(not_a_user),
        st.text(max_size=40),
    ),
    st.sampled_from(
        [
            b"Basic",
            b"Basic ",
            b"basic   ",
            b"Bearer x",
            b"Basic " + b"A" * 20_000,
            b"Basic ====",
            b"Basic YWxp Y2U6Y29ycmVjdCBob3JzZQ==",  # alice's, split by a space
            b"Basic YWxpY2U6Y29ycmVjdCBob3JzZQ",  # alice's, padding cut off
            b"Basic alice:correct horse",  # not base64 at all
            b"Basic " + "Зоя:пароль: 2 точки".encode(),  # raw UTF-8, not base64
            b"Digest a=b",
        ]
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=authorization_values)
def test_malformed_authorization_headers_get_401_never_a_500(
    server: RunningServer, private_server: RunningServer, value: bytes
) -> None:
    head = f"DELETE /api/files/song.wav HTTP/1.1\r\nHost: {LOOPBACK}\r\nAuthorization: ".encode()
    response = exchange(server.port, head + value + b"\r\n\r\n")
    assert response.status in (400, 401)  # 400: a header waitress itself will not take
    response = exchange(
        private_server.port,
        f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nAuthorization: ".encode() + value + b"\r\n\r\n",
    )
    assert response.status in (400, 401)
    assert listed(server) == ["song.wav"]


def test_the_server_refuses_to_start_on_a_bad_users_file_or_private_without_users(tmp_path: Path) -> None:
    bad = tmp_path / "users"
    bad.write_text("alice:plain-password\n")
    library = str(tmp_path / "library")
    for flags, message in [
        (["--users", str(bad)], f"server.py: {bad}, line 1: the hash is not of the form method$salt$hex-digest\n"),
        (["--users", str(tmp_path / "missing")], f"server.py: cannot read the users file {tmp_path / 'missing'}: "),
        (["--private"], "server.py: a private library needs users: give the users file too\n"),
    ]:
        result = run_audio_server_to_exit("--library", library, "--port", "1", *flags)
        assert result.returncode == 2
        assert result.stderr.startswith(message)
        assert result.stderr.count("\n") == 1


def warning_lines(*flags: str, tmp_path: Path) -> list[str]:
    """The warning lines the server prints at start-up with these flags; it then cannot listen on 192.0.2.1
    (an address for documentation, never this machine's), so it stops by itself."""
    result = run_audio_server_to_exit("--library", str(tmp_path / "library"), "--host", "192.0.2.1", *flags)
    assert result.returncode == 2
    return [line for line in result.stderr.splitlines() if "warning" in line]


def test_listening_beyond_loopback_with_no_users_is_said_in_one_line(tmp_path: Path, users_file: Path) -> None:
    assert warning_lines(tmp_path=tmp_path) == [
        "server.py: warning: listening on 192.0.2.1 with no users: anyone who can reach it may upload and delete"
        " (see --users)."
    ]
    assert warning_lines("--users", str(users_file), tmp_path=tmp_path) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("example.org", False),
    ],
)
def test_only_loopback_addresses_go_without_the_warning(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_credentials_from_add_user_open_a_live_server(tmp_path: Path) -> None:
    users = tmp_path / "users"
    added = run_audio_server_to_exit("add-user", "dora", "--users", str(users), stdin_text="Tardis 1963\n")
    assert added.returncode == 0
    with audio_server(
        tmp_path / "library", env={"AUDIO_LIBRARY_USERS": str(users), "AUDIO_LIBRARY_PRIVATE": "1"}
    ) as running:
        assert requests.get(f"{running.url}/api/files", timeout=10).status_code == 401
        auth = ("dora", "Tardis 1963")
        song = {"file": ("song.wav", noise_wav(5))}
        upload = requests.post(f"{running.url}/api/files", files=song, auth=auth, timeout=30)
        assert upload.status_code == 201
        assert requests.get(f"{running.url}/files/song.wav", auth=auth, timeout=10).content == noise_wav(5)
