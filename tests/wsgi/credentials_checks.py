"""What any running credentials service must answer, and the shape of its access-log lines."""

import re

from devtools.rawhttp import exchange


ACCESS_LINE = re.compile(r'127\.0\.0\.1 - - \[\d\d/\w\w\w/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d{3}) (\d+)')


def assert_serves_credentials(port: int) -> None:
    """The essential answers, checked against any server of the application."""
    assert (
        exchange(port, b"GET /?species=Time%20Lord HTTP/1.1\r\nHost: x\r\n\r\n").body == b'{"credentials": "Rassilon"}'
    )
    unknown = exchange(port, b"GET /?species=%FF%FE HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (unknown.status, unknown.body) == (404, b'{"credentials": "Unknown"}')
    head = exchange(port, b"HEAD /?species=Dalek HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (head.status, head.headers["content-length"]) == (200, "25")
    post = exchange(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert (post.status, post.headers["allow"]) == (405, "GET, HEAD")
