"""Hand-built multipart/form-data uploads, for requests a client library would not send or would hold in memory.

One boundary serves every suite; `multipart()` builds whole bodies in memory, `part_head()`/`PART_TAIL` frame
a body that is streamed from disk.
"""

import http.client
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devtools.rawhttp import Response, exchange
from devtools.servers import LOOPBACK


BOUNDARY = "audio-library-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
CHUNK = 1024 * 1024


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


def part_head(name: str) -> bytes:
    """The start of a multipart body with one file part, up to where its content begins."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def upload_head(port: int, content_length: int, *extra_headers: str, path: str = "/api/files") -> bytes:
    """The request line and headers of a multipart POST declaring `content_length` bytes of body."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {LOOPBACK}:{port}",
        f"Content-Type: {CONTENT_TYPE}",
        f"Content-Length: {content_length}",
        *extra_headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def post_raw(port: int, parts: Iterable[Part], *extra_headers: str, path: str = "/api/files") -> Response:
    """POST a hand-built multipart body with an exact Content-Length, on a fresh connection."""
    body = multipart(parts)
    return exchange(port, upload_head(port, len(body), *extra_headers, path=path) + body, timeout=30.0)


def stream_upload(port: int, path: Path) -> tuple[int, dict[str, object]]:
    """POST the file as one part, read from disk 1 MiB at a time, with an exact Content-Length."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk

    return upload_chunks(port, path.name, path.stat().st_size, chunks())


def upload_chunks(
    port: int, name: str, size: int, chunks: Iterable[bytes], path: str = "/api/files"
) -> tuple[int, dict[str, object]]:
    """POST `size` bytes, given as chunks (never held whole), as one part named `name` with an exact
    Content-Length."""
    head = part_head(name)

    def body() -> Iterator[bytes]:
        yield head
        yield from chunks
        yield PART_TAIL

    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=600)
    try:
        connection.request(
            "POST",
            path,
            body=body(),
            headers={"Content-Type": CONTENT_TYPE, "Content-Length": str(len(head) + size + len(PART_TAIL))},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
