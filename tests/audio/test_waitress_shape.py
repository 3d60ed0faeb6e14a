"""The waitress internals audio_library/serving.py overrides or calls still have the shape it relies on.

pyproject pins waitress below its next major version; within it, a release that renames a method, changes its
parameters or drops an attribute would break the overrides silently (an override never called, a hook that
never fires). These tests fail first, naming what changed.
"""

import inspect
from collections.abc import Callable
from typing import Any

import pytest
from audio_library import serving
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import BaseWSGIServer, MultiSocketServer, TcpWSGIServer
from waitress.task import ErrorTask, Task, WSGITask
from waitress.utilities import Error


# (class, method, the parameters serving.py relies on, in order)
METHODS: list[tuple[type, str, list[str]]] = [
    (HTTPRequestParser, "__init__", ["self", "adj"]),
    (HTTPRequestParser, "received", ["self", "data"]),
    (HTTPRequestParser, "parse_header", ["self", "header_plus"]),
    (HTTPChannel, "__init__", ["self", "server", "sock", "addr", "adj", "map"]),
    (HTTPChannel, "service", ["self"]),
    (HTTPChannel, "received", ["self", "data"]),
    (HTTPChannel, "readable", ["self"]),
    (HTTPChannel, "writable", ["self"]),
    (HTTPChannel, "handle_read", ["self"]),
    (HTTPChannel, "handle_write", ["self"]),
    (HTTPChannel, "handle_close", ["self"]),
    (HTTPChannel, "del_channel", ["self", "map"]),
    (HTTPChannel, "recv", ["self", "buffer_size"]),
    (Task, "service", ["self"]),
    (Task, "write", ["self", "data"]),
    (Task, "set_close_on_finish", ["self"]),
    (ErrorTask, "execute", ["self"]),
    (WSGITask, "execute", ["self"]),
    (TcpWSGIServer, "__init__", ["self", "application", "map", "_start", "_sock", "dispatcher", "adj", "sockinfo"]),
    (BaseWSGIServer, "maintenance", ["self", "now"]),
    (BaseWSGIServer, "readable", ["self"]),
    (BaseWSGIServer, "handle_accept", ["self"]),
    (TcpWSGIServer, "getsockname", ["self"]),
    (MultiSocketServer, "__init__", ["self", "map", "adj", "effective_listen", "dispatcher", "log_info"]),
]

# (class, attributes serving.py reads or sets on it or its instances, defined on the class)
ATTRIBUTES: list[tuple[type, list[str]]] = [
    (HTTPRequestParser, ["completed", "headers_finished", "error", "version", "empty", "expect_continue"]),
    (HTTPChannel, ["request", "will_close", "close_when_flushed", "total_outbufs_len", "parser_class"]),
    (HTTPChannel, ["task_class", "error_task_class", "last_activity"]),
    (Task, ["status", "wrote_header", "content_bytes_written", "content_length", "close_on_finish"]),
    (BaseWSGIServer, ["channel_class", "in_connection_overflow", "accepting"]),
    (Error, ["code", "reason"]),
]


def parameters(function: Callable[..., Any]) -> list[str]:
    """The names of a function's named parameters, in order (without *args and **kwargs)."""
    return [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


@pytest.mark.parametrize(("cls", "name", "expected"), METHODS, ids=[f"{c.__name__}.{n}" for c, n, _ in METHODS])
def test_an_overridden_or_called_method_keeps_its_parameters(cls: type, name: str, expected: list[str]) -> None:
    method = getattr(cls, name, None)
    assert callable(method), f"waitress's {cls.__name__}.{name} is gone"
    assert parameters(method)[: len(expected)] == expected, f"waitress's {cls.__name__}.{name} changed its parameters"


@pytest.mark.parametrize(("cls", "names"), ATTRIBUTES, ids=[cls.__name__ for cls, _ in ATTRIBUTES])
def test_the_attributes_relied_on_still_exist(cls: type, names: list[str]) -> None:
    assert [name for name in names if not hasattr(cls, name)] == []


def test_a_parsed_request_still_carries_what_the_access_log_reads() -> None:
    parser = HTTPRequestParser(Adjustments())
    parser.received(b"GET /api/files?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
    assert parser.completed
    request: Any = parser
    assert (request.command, request.request_uri, request.version) == ("GET", "/api/files?x=1", "1.1")


def test_a_bad_head_is_still_reported_through_parsing_error() -> None:
    # FramingParser raises ParsingError from parse_header and relies on waitress turning it into a 400.
    parser = serving.FramingParser(Adjustments())
    parser.received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert parser.completed
    assert parser.error is not None
    assert parser.error.code == 400
    assert issubclass(ParsingError, Exception)


def test_waitress_still_reads_the_adjustments_we_set() -> None:
    adjustments = Adjustments(cleanup_interval=1, connection_limit=10, channel_timeout=5)
    assert (adjustments.cleanup_interval, adjustments.connection_limit, adjustments.channel_timeout) == (1, 10, 5)
    assert isinstance(adjustments.listen, list)
