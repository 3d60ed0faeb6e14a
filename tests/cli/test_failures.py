"""Servers that misbehave mid-exchange: each failure is one line that names what happened, and exit status 1."""

import inspect
from pathlib import Path

import pytest
import requests
import urllib3.exceptions

from devtools.wav import write_silence
from sonic.errors import ClientError, Phase, network_failure
from tests.cli.canned_http import canned_server, hang_up, response, stall_after, stop_reading
from tests.cli.screwdriver_runs import run_in_process, single_line


# Loopback sockets buffer a few MiB each way; a file this large cannot hide in them.
STALLED_UPLOAD = 32 * 1024 * 1024
POOL = urllib3.HTTPConnectionPool("127.0.0.1", 1)


def test_a_server_that_stops_reading_an_upload_is_named_so(files: Path) -> None:
    song = write_silence(files / "big.wav", STALLED_UPLOAD)

    with canned_server(stop_reading) as url:
        result = run_in_process("--server", url, "--timeout", "0.5", "upload", str(song))

    assert result.returncode == 1
    assert result.stdout == ""
    line = single_line(result.stderr)
    assert line == (
        f"screwdriver: {song}: the server at {url} stopped reading the upload: nothing was taken for 0.5 s "
        "(see --timeout)"
    )


def test_a_download_that_stalls_is_a_timeout_not_a_dropped_connection(tmp_path: Path) -> None:
    start = response("200 OK", b"x" * 1000, "audio/wav")[:-900]  # the head and the first 100 bytes of the body

    with canned_server(stall_after(start)) as url:
        result = run_in_process("--server", url, "--timeout", "1", "download", "song.wav", "-o", str(tmp_path))

    assert result.returncode == 1
    line = single_line(result.stderr)
    assert line == f"screwdriver: the download from {url} stalled: nothing arrived for 1 s (see --timeout)"
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_hangs_up_without_answering_is_named_so() -> None:
    with canned_server(hang_up) as url:
        result = run_in_process("--server", url, "list")

    assert result.returncode == 1
    assert single_line(result.stderr) == f"screwdriver: the server at {url} closed the connection without answering"


def test_an_answer_cut_short_is_named_so(tmp_path: Path) -> None:
    cut = response("200 OK", b"x" * 1000, "audio/wav")[:-900]

    with canned_server(lambda connection, done: connection.sendall(cut)) as url:
        result = run_in_process("--server", url, "download", "song.wav", "-o", str(tmp_path))

    assert result.returncode == 1
    assert single_line(result.stderr) == (
        f"screwdriver: the download from {url} broke off: the server sent less than it announced"
    )
    assert list(tmp_path.iterdir()) == []


def request_exceptions() -> list[type[requests.RequestException]]:
    """Every exception class requests defines."""
    return [
        kind
        for _, kind in inspect.getmembers(requests.exceptions, inspect.isclass)
        if issubclass(kind, requests.RequestException)
    ]


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("kind", request_exceptions(), ids=lambda kind: kind.__name__)
def test_every_requests_exception_is_one_plain_line(kind: type[requests.RequestException], phase: object) -> None:
    assert isinstance(phase, Phase)
    inner = urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset"))

    error = kind("bad JSON", "{", 1) if issubclass(kind, requests.JSONDecodeError) else kind(inner)

    failure = network_failure(error, "http://127.0.0.1:1", 5.0, phase)

    text = str(failure)
    assert isinstance(failure, ClientError)
    assert "\n" not in text
    assert "http://127.0.0.1:1" in text
    # Never the repr of an exception or of urllib3's objects: that is what a person cannot read.
    for raw in ("Error(", "<urllib3", "object at 0x", "('", "Connection aborted."):
        assert raw not in text
    assert "--" not in text  # the transport names no option: sonic.advice adds what to change


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (requests.ConnectTimeout(), "did not accept a connection within 5 s"),
        (requests.ReadTimeout(), "did not answer within 5 s"),
        (requests.ConnectionError(urllib3.exceptions.ReadTimeoutError(POOL, "/", "timed out")), "did not answer"),
        (requests.exceptions.SSLError("certificate verify failed"), "no secure connection"),
        (requests.exceptions.ContentDecodingError(), "does not decompress"),
        (requests.exceptions.InvalidURL("bad"), "the exchange with http://127.0.0.1:1 failed: bad"),
    ],
)
def test_each_kind_of_failure_has_its_own_words(error: requests.RequestException, words: str) -> None:
    assert words in str(network_failure(error, "http://127.0.0.1:1", 5.0, Phase.REQUEST))


def test_timeouts_are_never_called_dropped_connections() -> None:
    timeout = urllib3.exceptions.ProtocolError("Connection aborted.", TimeoutError("timed out"))
    for phase in Phase:
        text = str(network_failure(requests.ConnectionError(timeout), "http://h", 2.0, phase))
        assert "2 s" in text
        assert "closed" not in text
        assert "dropped" not in text
