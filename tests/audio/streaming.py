"""Raw uploads for the real-server tests and the benchmark: hand-built multipart bodies streamed from disk."""

import http.client
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from tests.servers import LOOPBACK


BOUNDARY = "audio-library-test-boundary"
PART_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
CHUNK = 1024 * 1024


def part_head(name: str) -> bytes:
    """The start of a multipart body with one file part."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def request_head(port: int, content_length: int) -> bytes:
    """The request line and headers of a multipart upload of `content_length` bytes."""
    return (
        f"POST /api/files HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()


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
    """POST `size` bytes, given as chunks, as one part named `name`, with an exact Content-Length."""
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
            headers={
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(len(head) + size + len(PART_TAIL)),
            },
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")
