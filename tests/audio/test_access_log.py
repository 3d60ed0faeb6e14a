"""The running server's own words: one access-log line per request on stderr, and how to stop it at start-up."""

import base64
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import requests

from tests.polling import wait_until
from tests.rawhttp import exchange
from tests.servers import AUDIO_SERVER, LOOPBACK, audio_server, free_port, running_command
from tests.users_files import write_users_file
from tests.wav import noise_wav


PASSWORD = "correct horse battery staple"
LINE = re.compile(
    r'(?P<client>\S+) - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(?P<request>[^"]*)" '
    r"(?P<status>\d{3}|-) (?P<size>\d+) (?P<seconds>\d+\.\d{3})"
)


def logged(log: Path, count: int) -> list[re.Match[str]]:
    """The first `count` access-log lines in the server's stderr, once there are as many; each must parse."""
    wait_until(lambda: len(log.read_text(encoding="utf-8").splitlines()) >= count, f"{count} lines in the log")
    lines = log.read_text(encoding="utf-8").splitlines()
    matches = [LINE.fullmatch(line) for line in lines]
    assert None not in matches, lines
    return [match for match in matches if match is not None][:count]


def test_each_request_gets_one_line_with_what_it_asked_and_got(library_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr"
    with log.open("wb") as stderr, audio_server(library_dir, stderr=stderr.fileno()) as server:
        assert requests.get(f"{server.url}/api/files", timeout=10).status_code == 200
        assert requests.get(f"{server.url}/files/missing.wav?x=1", timeout=10).status_code == 404
        bad = exchange(
            server.port, f"POST /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Length: x\r\n\r\n".encode()
        )
        assert bad.status == 400
        first, second, third = logged(log, 3)
    assert (first["client"], first["request"], first["status"], first["size"]) == (
        LOOPBACK,
        "GET /api/files HTTP/1.1",
        "200",
        "2",  # []
    )
    assert (second["request"], second["status"]) == ("GET /files/missing.wav?x=1 HTTP/1.1", "404")
    assert (third["request"], third["status"], third["size"]) == ("POST /api/files HTTP/1.1", "400", str(len(bad.body)))


def test_a_download_is_logged_with_its_size(library_dir: Path, tmp_path: Path) -> None:
    song = noise_wav(5)
    library_dir.mkdir(exist_ok=True)
    (library_dir / "song.wav").write_bytes(song)
    log = tmp_path / "stderr"
    with log.open("wb") as stderr, audio_server(library_dir, stderr=stderr.fileno()) as server:
        assert requests.get(f"{server.url}/files/song.wav", timeout=10).content == song
        assert requests.head(f"{server.url}/files/song.wav", timeout=10).status_code == 200
        download, head = logged(log, 2)
    assert (download["request"], download["status"], download["size"]) == (
        "GET /files/song.wav HTTP/1.1",
        "200",
        str(len(song)),
    )
    assert (head["request"], head["status"], head["size"]) == ("HEAD /files/song.wav HTTP/1.1", "200", "0")


def test_a_hostile_target_cannot_forge_a_line_or_reach_the_terminal(library_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "stderr"
    target = b'/\x1b[31mred\x0b\x0c"\\\x85\x9b2J\x7f'
    with log.open("wb") as stderr, audio_server(library_dir, stderr=stderr.fileno()) as server:
        answer = exchange(server.port, b"GET " + target + b" HTTP/1.1\r\nHost: " + LOOPBACK.encode() + b"\r\n\r\n")
        assert 400 <= answer.status < 500  # refused or not found, and logged either way
        (line,) = logged(log, 1)
    assert line["request"] == r"GET /\x1b[31mred\x0b\x0c\x22\x5c\x85\x9b2J\x7f HTTP/1.1"
    text = log.read_text(encoding="utf-8")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)  # no control character but the line ends


def test_credentials_are_never_logged(library_dir: Path, tmp_path: Path) -> None:
    users = write_users_file(tmp_path / "users", {"alice": PASSWORD})
    log = tmp_path / "stderr"
    with log.open("wb") as stderr, audio_server(library_dir, "--users", str(users), stderr=stderr.fileno()) as server:
        for password in (PASSWORD, "wrong"):
            requests.post(
                f"{server.url}/api/files",
                files={"file": ("a.wav", b"not audio")},
                auth=("alice", password),
                timeout=10,
            )
        in_target = f"GET http://alice:{quote(PASSWORD)}@{LOOPBACK}/api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n"
        assert exchange(server.port, in_target.encode()).status == 200
        first, second, third = logged(log, 3)
    assert [first["request"], second["request"]] == ["POST /api/files HTTP/1.1"] * 2
    assert second["status"] == "401"
    assert third["request"] == f"GET http://***@{LOOPBACK}/api/files HTTP/1.1"  # a target's user:password@ too
    text = log.read_text(encoding="utf-8")
    for secret in (
        PASSWORD,
        quote(PASSWORD),
        base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
        "Authorization",
        "Basic",
    ):
        assert secret not in text


def test_the_start_up_line_says_how_to_stop_the_server(library_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, AUDIO_SERVER, "--library", str(library_dir), "--port", str(port)]
    with running_command(command, port, stdout=subprocess.PIPE) as server:
        assert server.process.stdout is not None
        line = server.process.stdout.readline().decode()
    assert line == f"Serving {library_dir} on http://{LOOPBACK}:{port}/ (Ctrl-C to stop)\n"
