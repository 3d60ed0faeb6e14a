"""The real server on a real socket: start-up, limits, streaming, disconnects, slow clients and concurrency."""

import errno
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from audio_library.serving.adjustments import ServingAdjustments
from audio_library.serving.parsing import DiskFullError, SpoolingParser

from devtools import rawhttp
from devtools.multipart import BOUNDARY, PART_TAIL, part_head, upload_head
from devtools.servers import (
    AUDIO_SERVER,
    LOOPBACK,
    RunningServer,
    audio_server,
    free_port,
    run_audio_server_to_exit,
    running_command,
)
from devtools.wav import noise_wav
from tests.library_folders import listed_names, on_disk
from tests.polling import DEADLINE, wait_until


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The production server (waitress) on a free port, serving the test's library folder."""
    with audio_server(library_dir) as running:
        yield running


def post_file(url: str, name: str, content: bytes) -> requests.Response:
    """Upload one file as the part "file"."""
    return requests.post(f"{url}/api/files", files={"file": (name, content)}, timeout=60)


def read_response(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """Read one HTTP response from a raw socket: its status and JSON object body."""
    with sock.makefile("rb") as stream:
        response = rawhttp.read_response(stream)
    body = response.json()
    assert isinstance(body, dict), body
    return response.status, body


def test_the_server_prints_its_url_and_serves_with_waitress(library_dir: Path) -> None:
    port = free_port()
    command = [sys.executable, AUDIO_SERVER, "--library", str(library_dir), "--port", str(port)]
    with running_command(command, port, stdout=subprocess.PIPE, stderr=None) as server:
        assert server.process.stdout is not None
        line = server.process.stdout.readline().decode()
        assert f"http://127.0.0.1:{port}/ (Ctrl-C to stop)" in line
        response = requests.get(f"http://127.0.0.1:{port}/api/files", timeout=10)
        assert response.json() == []
        assert response.headers["Server"] == "audio-library"


def test_sigterm_stops_the_server_cleanly(library_dir: Path) -> None:
    with audio_server(library_dir) as running:
        assert any(path.name.startswith(".instance-") for path in library_dir.iterdir())
        assert running.stop() == 0
    assert sorted(path.name for path in library_dir.iterdir()) == []


def test_debug_uses_flasks_development_server(library_dir: Path) -> None:
    with audio_server(library_dir, "--debug") as running:
        response = requests.get(f"{running.url}/api/files", timeout=10)
        assert response.headers["Server"].startswith("Werkzeug/")


@pytest.mark.parametrize(
    ("library", "message"),
    [("/proc", "the library folder /proc is not writable"), ("/etc/hostname", "exists but is not a folder")],
)
def test_an_unusable_library_stops_the_server_at_start_up(library: str, message: str) -> None:
    finished = run_audio_server_to_exit("--library", library, "--port", str(free_port()))
    assert finished.returncode == 2
    assert finished.stderr.count("\n") == 1
    assert message in finished.stderr
    assert "Traceback" not in finished.stderr


def test_a_taken_port_is_a_one_line_error(server: RunningServer, tmp_path: Path) -> None:
    finished = run_audio_server_to_exit("--library", str(tmp_path / "other"), "--port", str(server.port))
    assert finished.returncode == 2
    assert finished.stderr.count("\n") == 1
    assert finished.stderr == (
        f"server.py: port {server.port} on 127.0.0.1 is in use, perhaps by another server: choose another with "
        "--port N, AUDIO_LIBRARY_PORT=N or `make run PORT=N`\n"
    )


def test_stale_temporaries_are_removed_when_the_server_starts(library_dir: Path) -> None:
    stale = library_dir / f".upload-{'c' * 16}-{'d' * 16}.part"
    stale.write_bytes(b"left by a crash")
    with audio_server(library_dir) as running:
        assert not stale.exists()
        assert listed_names(running.url) == []


@pytest.mark.parametrize("flag", ["--max-size", "AUDIO_LIBRARY_MAX_SIZE"])
def test_an_oversized_body_is_refused_before_it_is_sent(library_dir: Path, flag: str) -> None:
    limit = 100_000
    args, env = ([flag, str(limit)], {}) if flag.startswith("--") else ([], {flag: str(limit)})
    with audio_server(library_dir, *args, env=env) as running:
        for length in (limit + 1, 10 * 1024**3):
            with socket.create_connection((LOOPBACK, running.port), timeout=10) as sock:
                sock.sendall(upload_head(running.port, length))  # headers only: the body is never sent
                status, body = read_response(sock)
            assert status == 413
            assert body == {"error": "The upload is too large: the limit is 97.7 KiB (100000 bytes) per request."}
        assert on_disk(library_dir) == []


def test_a_malformed_request_gets_a_json_400_from_the_server_itself(server: RunningServer) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(f"POST /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Length: lots\r\n\r\n".encode())
        status, body = read_response(sock)
    assert status == 400
    assert str(body["error"]).startswith("Bad Request: ")


def test_a_chunked_body_over_the_limit_is_refused(library_dir: Path) -> None:
    with audio_server(library_dir, "--max-size", "100000") as running:
        chunks = iter([part_head("big.wav"), noise_wav(1, seconds=10), PART_TAIL])
        response = requests.post(
            f"{running.url}/api/files",
            data=chunks,
            headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            timeout=30,
        )
        assert response.status_code == 413
        assert "100000 bytes" in response.json()["error"]
        assert on_disk(library_dir) == []


def test_a_chunked_upload_under_the_limit_is_stored(server: RunningServer, library_dir: Path) -> None:
    song = noise_wav(5, seconds=4)
    pieces = [song[start : start + 4096] for start in range(0, len(song), 4096)]
    response = requests.post(
        f"{server.url}/api/files",
        data=iter([part_head("chunked.wav"), *pieces, PART_TAIL]),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        timeout=30,
    )
    assert response.status_code == 201
    assert (library_dir / "chunked.wav").read_bytes() == song


@pytest.mark.parametrize("debug", [False, True], ids=["waitress", "debug"])
def test_a_client_that_disconnects_midway_leaves_nothing(library_dir: Path, debug: bool) -> None:
    with audio_server(library_dir, *(["--debug"] if debug else [])) as running:
        song = noise_wav(9, seconds=60)
        body = part_head("cut.wav") + song + PART_TAIL
        with socket.create_connection((LOOPBACK, running.port), timeout=10) as sock:
            sock.sendall(upload_head(running.port, len(body)) + body[: len(body) // 2])
            # Hung up before the server began the upload, the wait below could pass at once, the file come after.
            wait_until(lambda: on_disk(library_dir) != [], "the half upload's temporary file")
        wait_until(lambda: on_disk(library_dir) == [], "the half upload's temporary file is removed")
        assert listed_names(running.url) == []
        assert post_file(running.url, "whole.wav", song).status_code == 201
        assert on_disk(library_dir) == ["whole.wav"]


def test_stalled_clients_do_not_block_others(library_dir: Path) -> None:
    # More stalled uploads than the server has worker threads, and than waitress's default connection limit,
    # all from one address: the cap per address is raised past them.
    with audio_server(library_dir, "--connections-per-client", "400") as server:
        stalled = [socket.create_connection((LOOPBACK, server.port), timeout=10) for _ in range(300)]
        try:
            for sock in stalled:
                sock.sendall(upload_head(server.port, 10_000_000) + part_head("slow.wav") + b"RIFF")
            started = time.monotonic()
            assert listed_names(server.url) == []
            assert post_file(server.url, "quick.wav", noise_wav(1)).status_code == 201
            assert time.monotonic() - started < DEADLINE
        finally:
            for sock in stalled:
                sock.close()
    assert on_disk(library_dir) == ["quick.wav"]


def test_concurrent_uploads_of_one_name_all_survive(server: RunningServer, library_dir: Path) -> None:
    contents = [noise_wav(seed) for seed in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(lambda content: post_file(server.url, "same.wav", content), contents))
    assert all(response.status_code == 201 for response in responses)
    stored = {response.json()["files"][0]["name"] for response in responses}
    assert len(stored) == 16
    assert sorted((library_dir / name).read_bytes() for name in stored) == sorted(contents)


def test_concurrent_identical_uploads_keep_one_copy(server: RunningServer, library_dir: Path) -> None:
    song = noise_wav(3)
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post_file(server.url, "same.wav", song), range(8)))
    statuses = sorted(response.json()["files"][0]["status"] for response in responses)
    assert statuses == ["duplicate"] * 7 + ["stored"]
    assert on_disk(library_dir) == ["same.wav"]


def test_two_servers_sharing_a_folder_never_overwrite_each_other(library_dir: Path) -> None:
    with (
        audio_server(library_dir) as first,
        audio_server(library_dir) as second,
    ):
        contents = [noise_wav(100 + seed) for seed in range(20)]
        urls = [first.url, second.url] * 10
        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(
                pool.map(lambda pair: post_file(pair[0], "shared.wav", pair[1]), zip(urls, contents, strict=True))
            )
        assert [response.status_code for response in responses] == [201] * 20
        assert len(on_disk(library_dir)) == 20
        assert sorted(path.read_bytes() for path in library_dir.iterdir() if not path.name.startswith(".")) == sorted(
            contents
        )
        assert listed_names(first.url) == listed_names(second.url)


def test_a_full_disk_while_waitress_spools_the_body_becomes_a_507_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The reliability tests fill a real tmpfs; here the spool file itself reports the full disk.
    class FullDiskFile(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *args, **kwargs: FullDiskFile())
    parser = SpoolingParser(ServingAdjustments(inbuf_overflow=1024))
    body = part_head("big.wav") + bytes(100_000) + PART_TAIL
    parser.received(upload_head(8888, len(body)))
    parser.received(body)
    assert parser.completed
    assert isinstance(parser.error, DiskFullError)
    assert parser.error.code == 507


def test_a_body_too_big_for_memory_is_spooled_in_the_folder_given(tmp_path: Path) -> None:
    adjustments = ServingAdjustments(inbuf_overflow=1024, spool_folder=str(tmp_path))
    parser = SpoolingParser(adjustments)
    body = part_head("big.wav") + bytes(100_000) + PART_TAIL
    parser.received(upload_head(8888, len(body)))
    parser.received(body)
    assert (parser.completed, parser.error) == (True, None)
    spool = parser.get_body_stream()
    assert Path(os.readlink(f"/proc/self/fd/{spool.fileno()}")).parent == tmp_path
    assert spool.read() == body
    assert os.listdir(tmp_path) == []  # an anonymous file: never seen in the folder
    parser.close()
    assert spool.closed


@pytest.mark.parametrize(
    "head",
    [
        f"POST /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nContent-Length: {'9' * 5000}\r\n\r\n".encode(),
        f"GET http://[::1/api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode(),
    ],
    ids=["5000-digit-content-length", "unparsable-absolute-form"],
)
def test_an_unparsable_head_gets_a_json_400_not_a_hang_up(server: RunningServer, head: bytes) -> None:
    with socket.create_connection((LOOPBACK, server.port), timeout=10) as sock:
        sock.sendall(head)
        status, body = read_response(sock)
    assert status == 400
    assert str(body["error"]).startswith("Bad Request: ")
    assert listed_names(server.url) == []


def test_a_long_malformed_request_line_is_refused_at_once(server: RunningServer) -> None:
    # waitress's request-line pattern takes time quadratic in such a line's length, on the event loop's
    # thread: 4,000 bytes took 0.3 s; this one would freeze every connection for many minutes.
    line = b"GET https://user:pw@x:8888" + b"N" * 200_000 + b"/api/files HTTP/1.1x"
    response = rawhttp.exchange(server.port, line + f"\r\nHost: {LOOPBACK}\r\n\r\n".encode())
    assert (response.status, response.json()) == (400, {"error": "Bad Request: Start line is invalid."})
    assert listed_names(server.url) == []


@pytest.mark.parametrize(
    "variable",
    [
        "AUDIO_LIBRARY_PORT",
        "AUDIO_LIBRARY_MAX_SIZE",
        "AUDIO_LIBRARY_HEAD_TIMEOUT",
        "AUDIO_LIBRARY_CONNECTIONS_PER_CLIENT",
    ],
)
def test_a_bad_number_in_the_environment_is_a_usage_error(variable: str, library_dir: Path) -> None:
    ended = run_audio_server_to_exit("--library", str(library_dir), env={variable: "twelve"})
    assert ended.returncode == 2
    assert "Traceback" not in ended.stderr
    assert ended.stderr.strip().splitlines()[-1].startswith(f"server.py: error: {variable}: 'twelve' is not a")
