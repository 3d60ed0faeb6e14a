"""A 400 MB upload streams through the real server without the server ever holding it in memory."""

from pathlib import Path

import pytest
from audio_library.library.catalog import file_sha256

from devtools.multipart import stream_upload
from devtools.resources import peak_rss
from devtools.servers import audio_server
from devtools.wav import write_silence
from tests.library_folders import on_disk


BIG = 400 * 1000 * 1000
PEAK_RSS_LIMIT = 150 * 1024 * 1024


@pytest.mark.slow
def test_a_400_mb_upload_keeps_the_server_under_150_mb(tmp_path: Path, library_dir: Path) -> None:
    big = write_silence(tmp_path / "big.wav", BIG)
    with audio_server(library_dir) as server:
        status, body = stream_upload(server.port, big)
        peak = peak_rss(server.process.pid)
    assert status == 201, body
    assert peak < PEAK_RSS_LIMIT, f"server peak RSS {peak / 2**20:.0f} MiB"
    assert on_disk(library_dir) == ["big.wav"]
    assert file_sha256(library_dir / "big.wav") == file_sha256(big)
