"""What the reliability tests send: hand-built multipart bodies, raw requests, and checks on disk."""

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.servers import LOOPBACK
from tests.wsgi.rawhttp import Response, read_response


BOUNDARY = "reliability-boundary-7d3f"
DEADLINE = 15.0  # seconds any polled condition may take before the test fails instead of hanging
BOOKKEEPING = (".instance-", ".metadata.json")  # the server's own hidden files, not upload leftovers


def sha256(data: bytes) -> str:
    """The hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Part:
    """One part of a multipart/form-data body; `filename` is raw bytes so that anything can be sent."""

    content: bytes
    filename: bytes | None = b"song.wav"
    field: str = "file"
    content_type: str | None = "application/octet-stream"
    disposition_extra: bytes = b""  # appended to Content-Disposition, e.g. b"; filename*=UTF-8''..."


def multipart(parts: Iterable[Part], boundary: str = BOUNDARY) -> bytes:
    """A complete multipart/form-data body."""
    body = bytearray()
    for part in parts:
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{part.field}"'.encode()
        if part.filename is not None:
            body += b'; filename="' + part.filename + b'"'
        body += part.disposition_extra + b"\r\n"
        if part.content_type is not None:
            body += f"Content-Type: {part.content_type}\r\n".encode()
        body += b"\r\n" + part.content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body)


def upload_head(port: int, content_length: int, *extra_headers: str, path: str = "/api/files") -> bytes:
    """The request line and headers of a multipart POST declaring `content_length` bytes of body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {LOOPBACK}:{port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {content_length}",
        *extra_headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(port: int, request: bytes, timeout: float = 30.0) -> Response:
    """Send raw bytes on a fresh connection and read one response."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        return read_response(stream)


def post_raw(port: int, parts: Iterable[Part], *extra_headers: str, path: str = "/api/files") -> Response:
    """POST a hand-built multipart body with an exact Content-Length."""
    body = multipart(parts)
    return exchange(port, upload_head(port, len(body), *extra_headers, path=path) + body)


def leftovers(library: Path) -> list[str]:
    """Every name in the folder except the listed files and the server's bookkeeping: temporaries, mostly."""
    return sorted(name for name in os.listdir(library) if name.startswith(".") and not name.startswith(BOOKKEEPING))


def stored_files(library: Path) -> dict[str, str]:
    """Name -> SHA-256 of every visible file in the library folder."""
    return {
        path.name: sha256(path.read_bytes())
        for path in library.iterdir()
        if not path.name.startswith(".") and path.is_file()
    }


def open_files_under(pid: int, folder: Path) -> list[str]:
    """What the process holds open inside `folder` (deleted temporary files included), lock files aside."""
    prefix = str(folder.resolve()) + "/"
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith(prefix) and ".instance-" not in target:
            held.append(target)
    return sorted(held)


def descriptors(pid: int) -> int:
    """How many file descriptors the process holds: files, sockets, pipes."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Poll `condition()` until it is true or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")
