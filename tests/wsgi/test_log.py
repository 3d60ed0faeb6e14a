"""The access log: escaped so no byte reaches a terminal raw, and never able to stall or stop the service."""

import contextlib
import os
import re
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from credentials import escape_log
from hypothesis import given
from hypothesis import strategies as st

from devtools.rawhttp import exchange, pipeline
from devtools.servers import RunningServer, credentials_server


DALEK = b'{"credentials": "Davros"}'
PIPELINED = [b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n"]
ESCAPED = {*range(0x20), *range(0x7F, 0xA0), ord('"'), ord("\\")}
ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


@given(st.text(alphabet=st.characters(max_codepoint=0xFF)))
def test_escaping_leaves_no_control_quote_or_backslash_and_can_be_undone(text: str) -> None:
    escaped = escape_log(text)
    assert not {ord(c) for c in ESCAPE.sub("", escaped)} & ESCAPED
    assert ESCAPE.sub(lambda match: chr(int(match[1], 16)), escaped) == text


def test_escaping_matches_http_server_for_the_characters_it_names() -> None:
    assert escape_log('GET /"\\\x1b[31m\x9b2J\x7f\x85 ok é') == r"GET /\x22\x5c\x1b[31m\x9b2J\x7f\x85 ok é"


@contextmanager
def logging_to_a_pipe(*flags: str) -> Iterator[tuple[RunningServer, int]]:
    """The service with its stderr on a pipe whose read end the test holds (and may close or leave unread)."""
    read_end, write_end = os.pipe()
    try:
        with credentials_server(*flags, stderr=write_end) as server:
            os.close(write_end)
            yield server, read_end
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):  # either may be closed already, by the test or above
                os.close(fd)


def read_until(fd: int, wanted: re.Pattern[bytes], timeout: float = 20.0) -> bytes:
    """Read the pipe until the text seen matches, or fail at the deadline."""
    seen = b""
    deadline = time.monotonic() + timeout
    while not wanted.search(seen):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not seen in the log within {timeout} s: {wanted.pattern!r}"
        if select.select([fd], [], [], remaining)[0]:
            chunk = os.read(fd, 1 << 20)
            assert chunk, "the log pipe closed"
            seen += chunk
    return seen


@pytest.mark.parametrize("flags", [(), ("--workers", "2")], ids=["one process", "two workers"])
def test_a_closed_log_pipe_ends_logging_not_serving(flags: tuple[str, ...]) -> None:
    with logging_to_a_pipe(*flags) as (server, read_end):
        read_until(read_end, re.compile(rb"Serving credentials"))
        os.close(read_end)
        answers = [exchange(server.port, b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n").body for _ in range(20)]
        assert answers == [DALEK] * 20
        assert pipeline(server.port, PIPELINED * 2_000) == [DALEK] * 2_000
        assert server.process.poll() is None


@pytest.mark.parametrize("flags", [(), ("--workers", "2")], ids=["one process", "two workers"])
def test_a_stalled_log_reader_stalls_nobody_and_dropped_lines_are_counted(flags: tuple[str, ...]) -> None:
    with logging_to_a_pipe(*flags) as (server, read_end):
        # Nobody reads the log while 30,000 lines are due: more than the pipe and the backlog hold.
        for _ in range(3):
            assert pipeline(server.port, PIPELINED * 10_000) == [DALEK] * 10_000
        assert exchange(server.port, b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n").body == DALEK
        log = read_until(read_end, re.compile(rb"credentials: (\d+) log lines dropped: stderr was not read\n"))
        assert server.process.poll() is None
    assert b'"GET /?species=Dalek HTTP/1.1" 200 25\n' in log
