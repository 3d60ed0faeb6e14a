"""A part whose first bytes prove it is not audio is refused while the rest of the upload is still on its way.

Against the production server (waitress, bodies streamed to the application): the 415 comes with
`Connection: close`, curl, requests and screwdriver stop sending and show it, a client that ignores it is cut
off after a bounded amount, nothing is stored, and the server goes on serving.
"""

import json
import select
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.serving.cli import STREAMING_BODIES

from devtools.multipart import CONTENT_TYPE, PART_TAIL, part_head, upload_head
from devtools.rawhttp import closed_by_server, read_response
from devtools.servers import LOOPBACK, RunningServer, audio_server
from devtools.sparse_files import sparse_pdf
from devtools.wav import noise_wav
from sonic.client import LibraryClient
from sonic.errors import ServerError
from tests.library_folders import fixture_bytes, leftovers, listed_names, on_disk
from tests.polling import wait_until


SIZE = 300 * 1000 * 1000  # the file's size: a video sent by mistake
CHUNK = 256 * 1024
# What a client may have sent before it stops: the part's first MiB judged, the server's pipe (4 MiB), the
# socket buffers between the two, and at most 32 MiB drained while lingering, with room to spare.
SENT_BOUND = 64 * 1024 * 1024
NON_AUDIO = {"error": "Non-audio file detected: holiday.mp3", "name": "holiday.mp3"}
DEADLINE = 30.0
STALLED = "The upload stalled: nothing arrived for the idle timeout; nothing was stored."


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    with audio_server(library_dir, "--max-size", str(2 * SIZE)) as running:
        yield running


def pdf_start(size: int) -> Iterator[bytes]:
    """A PDF's first line, then zeros: `size` bytes in CHUNK pieces."""
    yield b"%PDF-1.4\n" + bytes(CHUNK - 9)
    for _ in range(size // CHUNK - 1):
        yield bytes(CHUNK)


def send_without_reading(sock: socket.socket) -> tuple[int, bool]:
    """Send the PDF's bytes regardless of any answer: how many were sent, and whether the server cut them off."""
    sent = 0
    try:
        for chunk in pdf_start(SIZE):
            sock.sendall(chunk)
            sent += len(chunk)
    except (ConnectionResetError, BrokenPipeError):
        return sent, True
    return sent, False


def assert_nothing_kept(server: RunningServer, library_dir: Path) -> None:
    assert on_disk(library_dir) == []
    assert leftovers(library_dir) == []
    assert listed_names(server.url) == []  # and the server still answers


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_client_reading_while_it_sends_gets_the_415_early(
    server: RunningServer, library_dir: Path, framing: str
) -> None:
    head = part_head("holiday.mp3")
    if framing == "content-length":
        request = upload_head(server.port, len(head) + SIZE + len(PART_TAIL))
    else:
        request = upload_head(server.port, 0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
    sent = 0
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        for chunk in [head, *pdf_start(SIZE)]:
            if select.select([sock], [], [], 0)[0]:
                break  # an answer before the body ended: what curl does
            sock.sendall(chunk if framing == "content-length" else b"%x\r\n%b\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        response = read_response(stream)
        assert response.status == 415
        assert response.headers["connection"] == "close"
        assert response.json() == NON_AUDIO
        assert sent < SENT_BOUND
    assert_nothing_kept(server, library_dir)


def test_curl_stops_sending_and_shows_the_415(server: RunningServer, library_dir: Path, tmp_path: Path) -> None:
    answer = tmp_path / "answer.json"
    form = f"file=@{sparse_pdf(tmp_path / 'holiday.mp3', SIZE)}"
    done = subprocess.run(
        ["curl", "-sS", "-o", str(answer), "-w", "%{http_code} %{size_upload}", "-F", form, f"{server.url}/api/files"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    status, uploaded = done.stdout.split()
    assert status == "415", done.stderr
    assert json.loads(answer.read_bytes()) == NON_AUDIO
    assert int(uploaded) < SENT_BOUND
    assert_nothing_kept(server, library_dir)


def test_requests_stops_sending_and_gets_the_415(server: RunningServer, library_dir: Path) -> None:
    head = part_head("holiday.mp3")
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for chunk in [head, *pdf_start(SIZE), PART_TAIL]:
            sent += len(chunk)
            yield chunk

    # A generator goes chunked; screwdriver's test below has requests send a Content-Length.
    response = requests.post(
        f"{server.url}/api/files", data=body(), headers={"Content-Type": CONTENT_TYPE}, timeout=DEADLINE
    )
    assert response.status_code == 415
    assert response.json() == NON_AUDIO
    assert sent < SENT_BOUND
    assert_nothing_kept(server, library_dir)


def test_screwdriver_stops_sending_and_reports_the_refusal(
    server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    sent = 0

    def advance(count: int) -> None:
        nonlocal sent
        sent += count

    client = LibraryClient(server.url, timeout=DEADLINE, credentials=None)
    with pytest.raises(ServerError) as refused:
        client.upload(sparse_pdf(tmp_path / "holiday.mp3", SIZE), advance)
    assert refused.value.status == 415
    assert "Non-audio file detected: holiday.mp3" in str(refused.value)
    assert sent < SENT_BOUND
    assert_nothing_kept(server, library_dir)


def test_a_client_that_ignores_the_answer_is_cut_off(server: RunningServer, library_dir: Path) -> None:
    head = part_head("holiday.mp3")
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock:
        sock.sendall(upload_head(server.port, len(head) + SIZE + len(PART_TAIL)) + head)
        sent, cut_off = send_without_reading(sock)
    assert cut_off
    assert sent < SENT_BOUND
    assert_nothing_kept(server, library_dir)


def test_an_audio_upload_keeps_its_connection_for_the_next_request(server: RunningServer, library_dir: Path) -> None:
    song = noise_wav(4, seconds=8.0)  # over the first MiB judged early
    head = part_head("song.wav")
    body = head + song + PART_TAIL
    listing = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n\r\n".encode()
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(upload_head(server.port, len(body)) + body)
        stored = read_response(stream)
        assert stored.status == 201
        assert "connection" not in stored.headers
        sock.sendall(listing)
        listed = read_response(stream).json()
        assert isinstance(listed, list)
        assert [entry["name"] for entry in listed] == ["song.wav"]
    assert on_disk(library_dir) == ["song.wav"]


def test_an_audio_part_after_a_refused_one_is_not_stored(server: RunningServer, library_dir: Path) -> None:
    image = fixture_bytes("image.png")
    picture = image + bytes(2 * 1024 * 1024 - len(image))  # a PNG past the first MiB
    parts = part_head("song.wav") + noise_wav(5) + b"\r\n" + part_head("holiday.mp3") + picture + PART_TAIL
    with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
        sock.sendall(upload_head(server.port, len(parts)) + parts)
        response = read_response(stream)
    assert response.status == 415
    assert response.json() == NON_AUDIO
    assert_nothing_kept(server, library_dir)


def test_a_streaming_body_that_stalls_is_cut_off_and_its_upload_removed(library_dir: Path) -> None:
    with audio_server(library_dir, "--idle-timeout", "1") as server:
        head = part_head("song.wav")
        song = noise_wav(6, seconds=30.0)  # past the first 256 KiB read, so the part has begun
        with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
            sock.sendall(upload_head(server.port, len(head) + 2 * len(song) + len(PART_TAIL)) + head + song)
            wait_until(lambda: leftovers(library_dir) != [], "the upload's temporary file")
            # Then nothing more: after the idle timeout the server answers why, and closes.
            response = read_response(stream)
            assert response.status == 408
            assert response.json() == {"error": STALLED}
            assert response.headers["connection"] == "close"
            assert closed_by_server(sock)
        wait_until(lambda: leftovers(library_dir) == [], "the stalled upload's temporary file removed")
        assert_nothing_kept(server, library_dir)


def test_a_body_that_began_spooling_is_not_streamed_when_a_slot_frees(server: RunningServer, library_dir: Path) -> None:
    head = part_head("song.wav")
    # Past the first 256 KiB read, so each stalled part has begun (its temporary file shows it), then no more.
    stalled_head = upload_head(server.port, 10_000_000) + head + noise_wav(8, seconds=20.0)
    song = noise_wav(7, seconds=120.0)  # 1.9 MB: its second half arrives in several reads
    body = head + song + PART_TAIL
    # From as many client addresses as there are slots: one client may take only half of them.
    stalled = [
        socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE, source_address=(f"127.0.0.{10 + n}", 0))
        for n in range(STREAMING_BODIES)
    ]
    try:
        for sock in stalled:  # every streaming slot taken
            sock.sendall(stalled_head)
        wait_until(lambda: len(leftovers(library_dir)) == STREAMING_BODIES, "every slot's upload begun")
        with socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) as sock, sock.makefile("rb") as stream:
            sock.sendall(upload_head(server.port, len(body)) + body[: len(body) // 2])  # spooling begins
            # The server reads its connections in turn: had it seen the close below before this head, the slot
            # would be free for it. A request sent after the head and answered means the head has been read.
            assert listed_names(server.url) == []
            stalled.pop().close()  # a slot frees while the body is half spooled
            wait_until(lambda: len(leftovers(library_dir)) < STREAMING_BODIES, "the slot freed")
            sock.sendall(body[len(body) // 2 :])
            assert read_response(stream).status == 201
    finally:
        for sock in stalled:
            sock.close()
    assert (library_dir / "song.wav").read_bytes() == song


def test_one_clients_stalled_bodies_leave_it_workers_for_its_other_requests(
    server: RunningServer, library_dir: Path
) -> None:
    # Bodies from one client stream in at most half the slots; the rest spool (no temporary file in the folder).
    stalled_head = upload_head(server.port, 10_000_000) + part_head("song.wav") + noise_wav(8, seconds=20.0)
    stalled = [socket.create_connection((LOOPBACK, server.port), timeout=DEADLINE) for _ in range(STREAMING_BODIES)]
    try:
        for sock in stalled:
            sock.sendall(stalled_head)
        wait_until(lambda: len(leftovers(library_dir)) == STREAMING_BODIES // 2, "half the slots' uploads begun")
        assert listed_names(server.url) == []  # the same client's next request is answered, not queued
    finally:
        for sock in stalled:
            sock.close()
