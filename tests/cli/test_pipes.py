"""A reader that goes away (`screwdriver list | head -1`): the client stops quietly, without a traceback."""

import json
import subprocess
from pathlib import Path

from devtools.wav import write_silence
from tests.cli.canned_http import answer, canned_server, response
from tests.cli.screwdriver_runs import PROCESS_TIMEOUT, Screwdriver, process_environment, screwdriver_command


def read_a_little_then_hang_up(*args: str) -> tuple[int, bytes, str]:
    """Run the client as a process, read the first bytes of its stdout, close the pipe, wait for its exit."""
    process = subprocess.Popen(
        screwdriver_command(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=process_environment(None),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.read(10)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    return process.wait(timeout=PROCESS_TIMEOUT), first, stderr


def test_a_listing_piped_into_head_stops_quietly() -> None:
    entries = [{"name": f"song {n}.wav", "size": n, "type": "audio/wav", "duration": 1.0} for n in range(50_000)]
    with canned_server(answer(response(body=json.dumps(entries).encode()))) as url:
        status, first, stderr = read_a_little_then_hang_up("--server", url, "list")

    assert first == b"song 0.wav"
    assert status == 1
    assert stderr == ""


def test_a_download_to_a_closed_pipe_stops_quietly(screwdriver: Screwdriver, files: Path) -> None:
    song = write_silence(files / "big.wav", 16 * 1024 * 1024)
    assert screwdriver("upload", str(song)).returncode == 0

    status, first, stderr = read_a_little_then_hang_up("--server", screwdriver.url, "download", "big.wav", "-o", "-")

    assert first == song.read_bytes()[:10]
    assert status == 1
    assert stderr == ""
