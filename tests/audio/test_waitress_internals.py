"""The waitress internals that audio_library/serving/ overrides or calls still have the shape it relies on.

A waitress release that renames, removes or re-signs one of them fails here, by name, instead of quietly
changing how the server behaves.
"""

import inspect
import re
from collections.abc import Callable

import pytest
from audio_library.serving.adjustments import ServingAdjustments
from audio_library.serving.connections import GuardedChannel, RoomMakingServer, StreamEndingDispatcher, StreamingTask
from audio_library.serving.dispatch import TurnsDispatcher
from audio_library.serving.held_answers import HoldingTask
from audio_library.serving.parsing import JSONErrorTask, SpoolingParser
from audio_library.serving.streaming import BodyPipe
from waitress.adjustments import Adjustments
from waitress.buffers import FileBasedBuffer, OverflowableBuffer
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.receiver import ChunkedReceiver, FixedStreamReceiver
from waitress.server import BaseWSGIServer, MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, Task, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import BadRequest, Error


METHODS: list[tuple[type, str, list[str]]] = [
    (HTTPChannel, "__init__", ["self", "server", "sock", "addr", "adj", "map"]),
    (HTTPChannel, "received", ["self", "data"]),
    (HTTPChannel, "service", ["self"]),
    (HTTPChannel, "handle_close", ["self"]),
    (HTTPChannel, "readable", ["self"]),
    (HTTPChannel, "writable", ["self"]),
    (HTTPChannel, "handle_read", ["self"]),
    (HTTPChannel, "handle_write", ["self"]),
    (HTTPChannel, "recv", ["self", "buffer_size"]),
    (HTTPChannel, "_flush_some", ["self", "do_close"]),
    (WSGITask, "get_environment", ["self"]),
    (ThreadedTaskDispatcher, "__init__", ["self"]),
    (ThreadedTaskDispatcher, "handler_thread", ["self", "thread_no"]),
    (ThreadedTaskDispatcher, "add_task", ["self", "task"]),
    (ThreadedTaskDispatcher, "set_thread_count", ["self", "count"]),
    (ThreadedTaskDispatcher, "shutdown", ["self", "cancel_pending", "timeout"]),
    (HTTPChannel, "send_continue", ["self"]),
    (Task, "build_response_header", ["self"]),
    (Task, "finish", ["self"]),
    (BaseWSGIServer, "add_task", ["self", "task"]),
    (BaseWSGIServer, "pull_trigger", ["self"]),
    (FixedStreamReceiver, "received", ["self", "data"]),
    (ChunkedReceiver, "received", ["self", "s"]),
    (HTTPRequestParser, "__init__", ["self", "adj"]),
    (HTTPRequestParser, "received", ["self", "data"]),
    (HTTPRequestParser, "parse_header", ["self", "header_plus"]),
    (HTTPRequestParser, "close", ["self"]),
    (ErrorTask, "execute", ["self"]),
    (Task, "set_close_on_finish", ["self"]),
    (Task, "write", ["self", "data"]),
    (
        TcpWSGIServer,
        "__init__",
        ["self", "application", "map", "_start", "_sock", "dispatcher", "adj", "sockinfo", "bind_socket", "kw"],
    ),
    (BaseWSGIServer, "readable", ["self"]),
    (BaseWSGIServer, "handle_accept", ["self"]),
    (TcpWSGIServer, "getsockname", ["self"]),
    (MultiSocketServer, "__init__", ["self", "map", "adj", "effective_listen", "dispatcher", "log_info"]),
    (Adjustments, "__init__", ["self", "kw"]),
    (OverflowableBuffer, "__init__", ["self", "overflow"]),
    (OverflowableBuffer, "_set_large_buffer", ["self"]),
    (FileBasedBuffer, "__init__", ["self", "file", "from_buffer"]),
]
CLASS_ATTRIBUTES: list[tuple[type, str]] = [
    (HTTPChannel, "parser_class"),
    (HTTPChannel, "error_task_class"),
    (HTTPChannel, "will_close"),
    (HTTPChannel, "total_outbufs_len"),
    (HTTPRequestParser, "completed"),
    (HTTPRequestParser, "headers_finished"),
    (HTTPRequestParser, "error"),
    (Task, "start_time"),
    (Task, "content_length"),
    (Error, "code"),
    (Error, "reason"),
    (BaseWSGIServer, "channel_class"),
    (BaseWSGIServer, "accepting"),
    (HTTPChannel, "close_when_flushed"),
    (HTTPChannel, "last_activity"),
    (HTTPRequestParser, "body_rcv"),
    (OverflowableBuffer, "buf"),
    (OverflowableBuffer, "overflowed"),
    (HTTPChannel, "task_class"),
    (TcpWSGIServer, "pull_trigger"),
    (HTTPChannel, "sent_continue"),
    (HTTPChannel, "request"),
    (HTTPRequestParser, "expect_continue"),
    (HTTPRequestParser, "empty"),
    (HTTPRequestParser, "body_bytes_received"),
    (Task, "close_on_finish"),
]
OVERRIDES: list[tuple[type, type]] = [
    (GuardedChannel, HTTPChannel),
    (SpoolingParser, HTTPRequestParser),
    (JSONErrorTask, ErrorTask),
    (RoomMakingServer, TcpWSGIServer),
    (HoldingTask, WSGITask),
    (StreamingTask, HoldingTask),
    (TurnsDispatcher, ThreadedTaskDispatcher),
    (StreamEndingDispatcher, TurnsDispatcher),
]


def parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize(("owner", "name", "expected"), METHODS, ids=lambda value: getattr(value, "__name__", ""))
def test_each_waitress_method_relied_on_keeps_its_parameters(owner: type, name: str, expected: list[str]) -> None:
    assert callable(getattr(owner, name, None)), f"waitress's {owner.__name__}.{name} is gone"
    assert parameters(getattr(owner, name)) == expected, f"waitress's {owner.__name__}.{name} changed its signature"


@pytest.mark.parametrize(("owner", "name"), CLASS_ATTRIBUTES, ids=lambda value: getattr(value, "__name__", value))
def test_each_waitress_attribute_relied_on_exists(owner: type, name: str) -> None:
    assert hasattr(owner, name), f"waitress's {owner.__name__}.{name} is gone"


@pytest.mark.parametrize(("ours", "theirs"), OVERRIDES, ids=lambda value: value.__name__)
def test_every_override_replaces_a_method_waitress_still_has(ours: type, theirs: type) -> None:
    overridden = [name for name in vars(ours) if callable(vars(ours)[name]) and not name.startswith("__")]
    for name in overridden:
        if hasattr(theirs, name):
            assert parameters(getattr(ours, name)) == parameters(getattr(theirs, name)), name
    if "__init__" in vars(ours):
        assert parameters(vars(ours)["__init__"]) == parameters(vars(theirs)["__init__"])


def test_a_parser_fed_a_head_fills_in_what_the_overrides_read() -> None:
    parser = SpoolingParser(ServingAdjustments())
    parser.received(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert (parser.completed, parser.headers_finished, parser.error) == (True, True, None)
    first_line: object = parser.first_line  # bytes, though the stubs say str
    assert first_line == b"GET /x HTTP/1.1"
    assert Adjustments().recv_bytes > 0
    assert Adjustments(max_request_body_size=5).max_request_body_size == 5


def test_a_parsing_error_still_becomes_waitresss_400() -> None:
    parser = SpoolingParser(ServingAdjustments())
    parser.received(b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
    assert isinstance(parser.error, BadRequest)
    assert parser.error.code == 400
    assert issubclass(ParsingError, Exception)


def test_the_dispatcher_queue_is_used_only_as_a_deque_of_append_popleft_and_len() -> None:
    """TurnsQueue stands in for waitress's deque: the dispatcher must use no other part of it."""
    source = inspect.getsource(ThreadedTaskDispatcher)
    used = set(re.findall(r"self\.queue\.(\w+)|(len)\(self\.queue\)|queue\.(\w+)\(", source))
    assert {name for names in used for name in names if name} <= {"append", "popleft", "len"}


@pytest.mark.parametrize("framing", ["Content-Length: 11", "Transfer-Encoding: chunked"])
def test_waitresss_receivers_write_a_streamed_body_through_the_pipe(framing: str) -> None:
    parser = SpoolingParser(ServingAdjustments())
    head = f"POST /x HTTP/1.1\r\nHost: h\r\n{framing}\r\n\r\n".encode()
    assert parser.received(head) == len(head)
    assert (parser.headers_finished, parser.completed) == (True, False)
    pipe = BodyPipe(lambda: None)
    parser.stream_body(pipe)
    body = b"hello world" if framing.startswith("Content") else b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
    parser.received(body)
    assert parser.completed
    assert parser.error is None
    stream: object = parser.get_body_stream()  # wsgi.input; the stubs say BytesIO
    assert stream is pipe
    pipe.end()
    assert pipe.read() == b"hello world"
    assert parser.headers["CONTENT_LENGTH"] == "11"  # for a chunked body, waitress takes it from len(pipe)
    assert len(pipe) == 11
