"""Property tests: any command line, and any answer a server may send, end in one clear line and a documented
status, never a traceback; and the client reads a bounded amount of an answer, whatever it claims."""

import gzip
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.wav import write_tone
from sonic.cli import UsageError, build_parser
from sonic.environment import Environment
from tests.cli.canned_http import answer, canned_server, flood, read_request, response
from tests.cli.screwdriver_runs import run_in_process, single_line


DOCUMENTED_STATUSES = {0, 1, 2, 4}
HOSTILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Answers:
    """The answer the canned server sends next: a test sets it before each request."""

    def __init__(self) -> None:
        self.raw = b""

    def __call__(self, connection: socket.socket, done: threading.Event) -> None:
        read_request(connection)
        connection.sendall(self.raw)


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[str, Answers]]:
    """One canned server for a whole module of examples, and the answer it gives."""
    answers = Answers()
    with canned_server(answers) as url:
        yield url, answers


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
entry_like = st.fixed_dictionaries(
    {"name": st.text(max_size=20), "size": st.integers(), "type": st.text(max_size=10)},
    optional={
        "duration": st.none() | st.integers() | st.floats(),
        "title": json_values,
        "artist": json_values,
        "album": json_values,
        "track": json_values,
        "modified": json_values,
    },
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.lists(entry_like, max_size=5).map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"files": st.lists(entry_like | json_values, max_size=2)}).map(
        lambda value: json.dumps(value).encode()
    ),
    st.integers(1, 20_000).map(lambda depth: b"[" * depth),  # nesting deeper than the JSON parser recurses
    st.binary(max_size=200),
)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=12)


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """An HTTP answer: any status, a Content-Length that may lie, any X-Library-Unexamined, any body."""
    status = draw(st.sampled_from([200, 201, 204, 301, 400, 401, 404, 409, 413, 415, 500, 503, 599]))
    body = draw(bodies)
    length = draw(st.one_of(st.just(str(len(body))), header_values))
    unexamined = draw(header_values)
    head = (
        f"HTTP/1.1 {status} Whatever\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nX-Library-Unexamined: {unexamined}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


not_http = st.one_of(
    st.binary(max_size=300),
    st.just(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n"),  # past http.client's line limit
    st.just(b"".join(b"X-%d: 1\r\n" % n for n in range(200)).join([b"HTTP/1.1 200 OK\r\n", b"\r\n"])),
)
COMMANDS = [
    ["list"],
    ["list", "--long"],
    ["list", "--json"],
    ["delete", "song.wav"],
    ["upload", "--json"],
    ["download", "song.wav", "-o", "-"],
]


@HOSTILE
@given(raw=answers() | not_http, command=st.sampled_from(COMMANDS))
def test_any_answer_ends_in_a_documented_status_and_plain_lines(
    hostile: tuple[str, Answers], tmp_path: Path, raw: bytes, command: list[str]
) -> None:
    url, answer = hostile
    answer.raw = raw
    song = tmp_path / "song.wav"
    if not song.exists():
        write_tone(song, seconds=0.05)
    arguments = [*command, str(song)] if command[0] == "upload" else command

    result = run_in_process("--server", url, "--timeout", "5", *arguments)

    assert result.returncode in DOCUMENTED_STATUSES
    assert "Traceback" not in result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith("screwdriver: ")
    if result.returncode != 0:
        assert result.stderr, "a failure says why"
    if "--json" in command and result.stdout:
        json.loads(result.stdout)


@pytest.mark.parametrize("declared", [True, False], ids=["with-length", "without-length"])
@pytest.mark.parametrize("command", [["list"], ["delete", "x"]], ids=["listing", "error-answer"])
def test_a_huge_answer_is_refused_after_a_bounded_read(declared: bool, command: list[str]) -> None:
    size = 512 * 1024 * 1024
    status = "200 OK" if command == ["list"] else "500 Internal Server Error"
    length = f"Content-Length: {size}\r\n" if declared else ""
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{length}Connection: close\r\n\r\n".encode()
    sent = flood(head, size)

    with canned_server(sent) as url:
        result = run_in_process("--server", url, *command)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    if command == ["list"]:
        assert "more than 64.0 MiB" in result.stderr
    # The client stopped taking bytes: the server could not send the half gigabyte it meant to.
    assert sent.total < 128 * 1024 * 1024


WORDS = ["upload", "list", "download", "delete", "-r", "--json", "-l", "--long", "-o", "-", "-q", "-f", "-u", "--user",
         "--timeout", "--server", "-h", "--help", "--se", "--tim", "--", "=", "-x"]  # fmt: skip
arguments = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=8)


def parse(argv: list[str]) -> "tuple[int | None, str, str]":
    """Parse a command line as main does: (the status argparse ended with, or None), stdout, stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(stdout, stderr, False, False, False, {})
    try:
        args = build_parser(env).parse_args(argv)
    except UsageError as ended:
        return ended.status, stdout.getvalue(), stderr.getvalue()
    assert args.command in ("upload", "list", "download", "delete")
    assert args.server.startswith(("http://", "https://"))
    assert args.timeout > 0
    return None, stdout.getvalue(), stderr.getvalue()


@settings(max_examples=300, deadline=None)
@given(argv=arguments)
def test_any_command_line_parses_or_is_a_usage_error(argv: list[str]) -> None:
    status, stdout, stderr = parse(argv)

    if status is None:
        assert stdout == stderr == ""
    elif status == 0:
        assert stdout.startswith("usage: screwdriver")
    else:
        assert status == 2
        assert stderr.startswith("usage: screwdriver")
        assert "error: " in stderr.splitlines()[-1]


def test_a_compressed_answer_is_refused_unread() -> None:
    bomb = gzip.compress(b"[" + b" " * (256 * 1024 * 1024) + b"]")  # 256 MiB in a few hundred KiB
    with canned_server(answer(response(body=bomb, headers="Content-Encoding: gzip\r\n"))) as url:
        result = run_in_process("--server", url, "list")

    assert result.returncode == 1
    assert single_line(result.stderr).endswith("compressed, though asked not to be")
