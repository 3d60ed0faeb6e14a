"""A 400 MB upload streams through the real server without the server ever holding it in memory."""

import hashlib
import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audio.conftest import SERVER, on_disk, write_big_wav
from tests.audio.test_server import BOUNDARY, PART_TAIL, part_head
from tests.servers import LOOPBACK, running_server


BIG = 400 * 1000 * 1000
PEAK_RSS_LIMIT = 150 * 1024 * 1024
CHUNK = 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def stream_upload(port: int, path: Path) -> tuple[int, dict[str, object]]:
    """POST the file as one part, read from disk 1 MiB at a time, with an exact Content-Length."""
    head, size = part_head(path.name), path.stat().st_size

    def body() -> Iterator[bytes]:
        yield head
        with path.open("rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
        yield PART_TAIL

    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=300)
    connection.request(
        "POST",
        "/api/files",
        body=body(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + size + len(PART_TAIL)),
        },
    )
    response = connection.getresponse()
    result = response.status, json.loads(response.read())
    connection.close()
    return result


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_a_400_mb_upload_keeps_the_server_under_150_mb(tmp_path: Path, library_dir: Path) -> None:
    big = write_big_wav(tmp_path / "big.wav", BIG)
    with running_server([SERVER, "--library", str(library_dir)]) as server:
        status, body = stream_upload(server.port, big)
        peak = peak_rss(server.process.pid)
    assert status == 201, body
    assert peak < PEAK_RSS_LIMIT, f"server peak RSS {peak / 2**20:.0f} MiB"
    assert on_disk(library_dir) == ["big.wav"]
    assert sha256_of(library_dir / "big.wav") == sha256_of(big)
