"""Hostile input against the real audio library server, over raw sockets where a polite client would refuse.

Every answer must be a deliberate one — the right 4xx with a JSON error, or a safe success — never a 5xx, a
reset or a hang; nothing may be written outside the library or left behind in it; and nothing that is not
audio may ever be stored or served.
"""

import html
import io
import os
import socket
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from devtools.corpus import FIXTURES_DIR
from devtools.multipart import CONTENT_TYPE, Part, multipart, post_raw, upload_head
from devtools.rawhttp import Response, exchange, read_response
from devtools.resources import open_files_under
from devtools.servers import LOOPBACK, RunningServer, audio_server
from devtools.wav import noise_wav
from tests.library_folders import leftovers, sha256, stored_files
from tests.polling import wait_until
from tests.reliability.ledger import Ledger


SCENARIO = "hostile input: audio library"
SMALL_LIMIT = 1_000_000
OUTSIDE = "outside.wav"  # an audio file beside the library, which no request may reach


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the library and, beside it, a file no request may reach."""
    root = tmp_path_factory.mktemp("hostile")
    (root / OUTSIDE).write_bytes(noise_wav(1))
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    """One server for the module: each test checks the library is as it found it."""
    with audio_server(site / "library") as running:
        yield running


@pytest.fixture
def library_dir(site: Path, server: RunningServer, ledger: Ledger) -> Iterator[Path]:
    """The library folder; afterwards, nothing beside it has changed, no temporary is left, nothing is open."""
    folder = site / "library"
    beside = sorted(os.listdir(site))
    yield folder
    assert sorted(os.listdir(site)) == beside
    assert (site / OUTSIDE).read_bytes() == noise_wav(1)
    wait_until(lambda: open_files_under(server.process.pid, folder) == [], "every spooled body is closed")
    assert leftovers(folder) == []
    assert requests.get(f"{server.url}/api/files", timeout=30).status_code == 200  # still serving
    ledger.record(SCENARIO, requests=1)


def refused(response: Response, ledger: Ledger, *statuses: int) -> str:
    """Check a JSON error with one of the statuses; return its message."""
    ledger.record(SCENARIO, requests=1, errors=int(response.status >= 500))
    assert response.status in statuses, response
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, dict)
    message = body["error"]
    assert isinstance(message, str)
    assert message
    return message


# Path traversal and awkward names in multipart file names

HOSTILE_NAMES = [
    b"../../escape.wav",
    b"..\\..\\escape.wav",  # as a quoted-string, this arrives as "....escape.wav"
    b"..\\\\..\\\\escape.wav",  # escaped backslashes: arrives as "..\\..\\escape.wav"
    b"/tmp/reliability-escape.wav",
    b"C:\\Windows\\escape.wav",
    b"%2e%2e%2f%2e%2e%2fescape.wav",
    b"....//....//escape.wav",
    b"dir/../../../escape.wav",
    b"escape\x00.wav",
    b"\x00",
    b"..",
    b".",
    b".hidden.wav",
    b"\xef\xbc\x8f..\xef\xbc\x8fescape.wav",  # fullwidth solidus: a letter, not a separator
    b"\xd0\xb6" * 300 + b".wav",  # 600 bytes of Cyrillic
    b"a" * 5000 + b".wav",
    b"<img src=x onerror=alert(1)>.wav",
    b"\r\nX-Injected: 1.wav",
]


@pytest.mark.parametrize("sent", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_file_names_stay_inside_the_library(
    sent: bytes, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    content = noise_wav(HOSTILE_NAMES.index(sent))  # str hashes vary between runs; the index does not
    response = post_raw(server.port, [Part(content, sent)])
    if response.status == 400:  # a name that is nothing once parsed: refused as "no file name"
        refused(response, ledger, 400)  # which records the request
        return
    ledger.record(SCENARIO, requests=1, errors=int(response.status >= 500))
    assert response.status == 201
    body = response.json()
    assert isinstance(body, dict)
    name = body["files"][0]["name"]
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert "\0" not in name
    assert not name.startswith(".")
    assert len(name.encode()) <= 255
    assert (library_dir / name).read_bytes() == content
    assert not Path("/tmp/reliability-escape.wav").exists()
    served = requests.get(f"{server.url}/files/{quote(name, safe='')}", timeout=30)
    assert sha256(served.content) == sha256(content)
    page = requests.get(f"{server.url}/", timeout=30).text
    assert "<img src=x" not in page
    assert html.escape(name, quote=False) in page
    deleted = requests.delete(f"{server.url}/api/files/{quote(name, safe='')}", timeout=30)
    assert deleted.status_code == 204
    ledger.record(SCENARIO, requests=3, files=1)


def test_a_name_encoded_per_rfc_5987_cannot_climb_out(server: RunningServer, library_dir: Path, ledger: Ledger) -> None:
    part = Part(noise_wav(2), b"plain.wav", disposition_extra=b"; filename*=UTF-8''..%2F..%2Fescape.wav")
    response = post_raw(server.port, [part])
    ledger.record(SCENARIO, requests=1, errors=int(response.status >= 500))
    assert response.status == 201
    body = response.json()
    assert isinstance(body, dict)
    name = body["files"][0]["name"]
    assert (library_dir / name).is_file()
    assert "/" not in name
    assert requests.delete(f"{server.url}/api/files/{quote(name, safe='')}", timeout=30).status_code == 204


TRAVERSING_PATHS = [
    "/files/..%2Foutside.wav",
    "/files/%2e%2e%2foutside.wav",
    "/files/..%5Coutside.wav",
    "/files/%2E%2E/outside.wav",
    "/files/../outside.wav",
    "/files/%2Fetc%2Fpasswd",
    "/files/.metadata.json",
    "/files/%00",
    "/files/outside.wav%00.wav",
]


@pytest.mark.parametrize("path", TRAVERSING_PATHS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_paths_cannot_reach_outside_the_library(
    path: str, method: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    target = path if method == "GET" else path.replace("/files/", "/api/files/", 1)
    response = exchange(server.port, f"{method} {target} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode())
    refused(response, ledger, 400, 404, 405)
    assert (library_dir / ".metadata.json").exists() or not any(library_dir.iterdir())


# Malformed requests


ODD_HEADERS = {
    "empty suffix range": (b"Range: bytes=-0", 416),
    "range past the end": (b"Range: bytes=999999999-", 416),
    "unparsable range": (b"Range: bytes=abc", 416),
    "2000 ranges": (b"Range: bytes=" + b"0-0," * 2000 + b"0-0", 416),
    "backwards range": (b"Range: bytes=5-1", 416),
    "enormous range number": (b"Range: bytes=-" + b"9" * 100, 416),
    "3000 ETags": (b"If-None-Match: " + b'"x",' * 3000 + b'"y"', 200),
    "garbage date": (b"If-Modified-Since: garbage", 200),
    "garbage If-Range": (b"If-Range: garbage\r\nRange: bytes=0-1", 200),
    "NUL in Host": (b"Host: \x00\xff", 400),
}


@pytest.mark.parametrize(("header", "status"), ODD_HEADERS.values(), ids=ODD_HEADERS.keys())
def test_odd_headers_on_a_file_get_a_deliberate_answer(
    header: bytes, status: int, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    content = noise_wav(12, seconds=1.0)
    assert requests.post(f"{server.url}/api/files", files={"file": ("odd.wav", content)}, timeout=30).ok
    head = f"GET /files/odd.wav HTTP/1.1\r\nHost: {LOOPBACK}\r\n".encode()
    response = exchange(server.port, head + header + b"\r\n\r\n")
    ledger.record(SCENARIO, requests=2, errors=int(response.status >= 500))
    assert response.status == status
    if status == 200:
        assert response.body == content
    assert requests.delete(f"{server.url}/api/files/odd.wav", timeout=30).status_code == 204


def test_a_file_name_that_is_not_utf8_is_a_clear_400(server: RunningServer, library_dir: Path, ledger: Ledger) -> None:
    message = refused(post_raw(server.port, [Part(noise_wav(13), b"\xff\xfe.wav")]), ledger, 400)
    assert message.startswith("The multipart body is malformed")
    assert stored_files(library_dir) == {}


def test_huge_headers_get_a_json_431(server: RunningServer, library_dir: Path, ledger: Ledger) -> None:
    head = f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nX-Huge: {'a' * 300_000}\r\n\r\n".encode()
    assert refused(exchange(server.port, head), ledger, 431)
    many = "".join(f"X-H{number}: {'b' * 100}\r\n" for number in range(3000))
    assert refused(exchange(server.port, f"GET / HTTP/1.1\r\n{many}\r\n".encode()), ledger, 431)
    line = f"GET /files/{'c' * 300_000} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    assert refused(exchange(server.port, line), ledger, 431)


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "10, 20"])
def test_an_unreadable_content_length_is_a_400(
    length: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    body = multipart([Part(noise_wav(3))])
    head = upload_head(server.port, 0).replace(b"Content-Length: 0", f"Content-Length: {length}".encode())
    refused(exchange(server.port, head + body), ledger, 400)
    assert stored_files(library_dir) == {}


def test_a_content_length_shorter_than_the_body_stores_nothing(
    server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    body = multipart([Part(noise_wav(4), b"short.wav")])
    refused(exchange(server.port, upload_head(server.port, len(body) - 100) + body), ledger, 400)
    assert stored_files(library_dir) == {}


def test_a_content_length_longer_than_the_body_stores_nothing(
    server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    body = multipart([Part(noise_wav(5), b"long.wav")])
    with socket.create_connection((LOOPBACK, server.port), timeout=30) as sock, sock.makefile("rb") as stream:
        sock.sendall(upload_head(server.port, len(body) + 100) + body)
        sock.shutdown(socket.SHUT_WR)  # the promised last 100 bytes never come
        answer = stream.read()
    ledger.record(SCENARIO, requests=1, errors=int(answer.startswith(b"HTTP/1.1 5")))
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4")  # the server hangs up or refuses; never a 5xx
    assert stored_files(library_dir) == {}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (CONTENT_TYPE, multipart([Part(b"hello", None, "note")])),
        (CONTENT_TYPE, multipart([Part(noise_wav(6), field="up")])),
        (CONTENT_TYPE, multipart([])),
        (CONTENT_TYPE, b"garbage \x00\xff" * 100),
        ("multipart/form-data", multipart([Part(noise_wav(6))])),
        ("application/json", b'{"file": "song.wav"}'),
        ("audio/wav", noise_wav(6)),
    ],
    ids=["text-field-only", "file-under-another-field", "no-parts", "garbage", "no-boundary", "json", "bare-wav"],
)
def test_a_body_without_a_file_part_is_a_400(
    content_type: str, body: bytes, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    head = upload_head(server.port, len(body)).replace(CONTENT_TYPE.encode(), content_type.encode())
    refused(exchange(server.port, head + body), ledger, 400)
    assert stored_files(library_dir) == {}


@pytest.mark.parametrize("kind", ["fields", "files"])
def test_thousands_of_tiny_parts_are_a_413_and_leave_nothing(
    kind: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    if kind == "fields":
        parts = [Part(b"x", None, f"f{number}", None) for number in range(5000)]
    else:
        parts = [Part(b"x", f"{number}.wav".encode()) for number in range(3000)]
    message = refused(post_raw(server.port, parts), ledger, 413)
    assert "Too many parts" in message
    assert stored_files(library_dir) == {}


# The size limit, enforced before the body is stored


def test_an_upload_over_the_limit_is_refused_before_the_rest_is_sent(tmp_path: Path, ledger: Ledger) -> None:
    library_dir = tmp_path / "library"
    with audio_server(library_dir, "--max-size", str(SMALL_LIMIT)) as server:
        body_start = multipart([Part(noise_wav(7, seconds=10))])[:65_536]
        with socket.create_connection((LOOPBACK, server.port), timeout=15) as sock, sock.makefile("rb") as stream:
            sock.sendall(upload_head(server.port, 50_000_000) + body_start)  # 64 KB of a promised 50 MB
            response = read_response(stream)  # answered now, while 49.9 MB are still unsent
        message = refused(response, ledger, 413)
        assert message == "The upload is too large: the limit is 976.6 KiB (1000000 bytes) per request."
        assert stored_files(library_dir) == {}
        assert leftovers(library_dir) == []
        assert open_files_under(server.process.pid, library_dir) == []


# Requests from another origin


EVIL = "http://evil.example"


@pytest.mark.parametrize(
    "headers",
    [f"Origin: {EVIL}", "Origin: null", "Sec-Fetch-Site: cross-site", f"Origin: http://{LOOPBACK}:1"],
    ids=["other-origin", "null-origin", "cross-site", "other-port"],
)
def test_changes_from_another_origin_are_refused(
    headers: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    content = noise_wav(8)
    assert requests.post(f"{server.url}/api/files", files={"file": ("kept.wav", content)}, timeout=30).ok
    before = stored_files(library_dir)
    refused(post_raw(server.port, [Part(noise_wav(9), b"forged.wav")], headers), ledger, 403)
    form = post_raw(server.port, [Part(noise_wav(9), b"forged.wav")], headers, path="/")  # the page's form
    ledger.record(SCENARIO, requests=1, errors=int(form.status >= 500))
    assert form.status == 403
    for target in ("/api/files/kept.wav", "/delete/kept.wav"):
        method = "DELETE" if target.startswith("/api") else "POST"
        confirm = b"confirm=yes"
        request = (
            f"{method} {target} HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n{headers}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(confirm)}\r\n\r\n"
        ).encode() + confirm
        response = exchange(server.port, request)
        ledger.record(SCENARIO, requests=1, errors=int(response.status >= 500))
        assert response.status == 403
    assert stored_files(library_dir) == before
    assert requests.delete(f"{server.url}/api/files/kept.wav", timeout=30).status_code == 204
    ledger.record(SCENARIO, requests=2, files=1)


# Markup and script disguised as audio


DISGUISES = {
    "page.html": (FIXTURES_DIR / "page.html").read_bytes(),
    "image.svg": (FIXTURES_DIR / "image.svg").read_bytes(),
    "script.js": (FIXTURES_DIR / "script.js").read_bytes(),
    "id3-html.mp3": (FIXTURES_DIR / "id3-html.mp3").read_bytes(),
    "id3-svg.mp3": (FIXTURES_DIR / "id3-svg.mp3").read_bytes(),
    "frames-then-js.mp3": (FIXTURES_DIR / "frames-then-js.mp3").read_bytes(),
    "inline-html": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "inline-svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
}


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_markup_disguised_as_audio_is_never_stored(
    disguise: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    content = DISGUISES[disguise]
    alone = Part(content, b"track.mp3", content_type="audio/mpeg")
    message = refused(post_raw(server.port, [alone]), ledger, 415)
    assert message == "Non-audio file detected: track.mp3"
    with_real_audio = [Part(noise_wav(10), b"real.wav"), alone]  # all-or-nothing: the real one goes too
    refused(post_raw(server.port, with_real_audio), ledger, 415)
    form = post_raw(server.port, [alone], path="/")  # the page's form shows the message
    ledger.record(SCENARIO, requests=1, errors=int(form.status >= 500))
    assert form.status == 415
    assert "Non-audio file detected" in form.body.decode()
    assert stored_files(library_dir) == {}


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_markup_copied_into_the_folder_is_never_served(
    disguise: str, server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    (library_dir / "planted.mp3").write_bytes(DISGUISES[disguise])
    try:
        refused(
            exchange(server.port, f"GET /files/planted.mp3 HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()), ledger, 404
        )
        listed = requests.get(f"{server.url}/api/files", timeout=30).json()
        assert "planted.mp3" not in [entry["name"] for entry in listed]
        assert "planted.mp3" not in requests.get(f"{server.url}/", timeout=30).text
        ledger.record(SCENARIO, requests=2)
    finally:
        (library_dir / "planted.mp3").unlink()


def test_audio_with_markup_inside_is_served_only_as_audio(
    server: RunningServer, library_dir: Path, ledger: Ledger
) -> None:
    # A real WAV whose samples spell out a page: storable audio, but it must never render as one.
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"<html><script>alert(1)</script></html>" * 50)
    polyglot = buffer.getvalue()
    response = requests.post(f"{server.url}/api/files", files={"file": ("page.html", polyglot)}, timeout=30)
    assert response.status_code == 201
    name = response.json()["files"][0]["name"]
    served = requests.get(f"{server.url}/files/{name}", timeout=30)
    assert served.headers["Content-Type"] == "audio/wav"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline")
    assert served.content == polyglot
    assert requests.delete(f"{server.url}/api/files/{name}", timeout=30).status_code == 204
    ledger.record(SCENARIO, requests=3, files=1)
