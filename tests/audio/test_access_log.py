"""The live server writes one access-log line per request on stderr, that no request can forge or fill with
secrets."""

import re
import tempfile
from pathlib import Path

from devtools.rawhttp import exchange
from devtools.servers import audio_server
from tests.polling import wait_until


ACCESS_LINE = re.compile(
    r'127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d{3}) (\d+) (\d+\.\d{3})'
)
REQUESTS = [
    b"GET /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic c2VjcmV0OnBhc3N3b3Jk\r\n\r\n",
    b'GET /files/a%0A"b\x1b[31m\x7fc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
    b"GET http://user:hunter2@127.0.0.1/api/files HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /api/files HTTP/1.0\r\n\r\n",
    b"POST /api/files HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
]
EXPECTED: list[tuple[str, str, str | None]] = [
    ("GET /api/files HTTP/1.1", "200", "2"),
    (r"GET /files/a%0A\x22b\x1b[31m\x7fc HTTP/1.1", "404", None),
    ("GET http://127.0.0.1/api/files HTTP/1.1", "200", "2"),
    ("GET /api/files HTTP/1.0", "200", "2"),
    ("POST /api/files HTTP/1.1", "400", None),
]


def access_lines(log: Path) -> list[str]:
    """The access lines in the log so far."""
    return [line for line in log.read_text(encoding="utf-8").splitlines() if ACCESS_LINE.fullmatch(line)]


def test_one_escaped_line_per_request_and_no_secret(library_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "stderr"
        with log.open("wb") as stderr, audio_server(library_dir, stderr=stderr.fileno()) as server:
            statuses = [exchange(server.port, request).status for request in REQUESTS]
            wait_until(lambda: len(access_lines(log)) >= len(REQUESTS), "a line for every request")
            lines = log.read_text(encoding="utf-8").splitlines()
        assert statuses == [200, 404, 200, 200, 400]
        access = [match.groups() for line in lines if (match := ACCESS_LINE.fullmatch(line))]
        # A line is written once its answer is sent, so two answers close together may be logged either way.
        assert sorted((line, status) for line, status, _, _ in access) == sorted(
            (line, status) for line, status, _ in EXPECTED
        )
        sizes = {line: int(size) for line, _, size, _ in access}
        assert all(size is None or sizes[line] == int(size) for line, _, size in EXPECTED)
        assert all(sizes[line] > 0 for line, _, _ in EXPECTED)  # every answer here has a body
        assert len(lines) == len(access)  # nothing else, and no line broken by a hostile target
        text = log.read_text(encoding="utf-8")
        for secret in ("hunter2", "c2VjcmV0OnBhc3N3b3Jk", "Authorization", "\x1b"):
            assert secret not in text
