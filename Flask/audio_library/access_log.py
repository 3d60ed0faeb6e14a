"""The audio library's access log: one line per request on stderr, in the Common Log Format plus the seconds
the request took. Written by the waitress tasks in serving.py."""

import re
import sys
import threading
import time
from typing import IO


LOGGED_TARGET = 2000  # characters of a request target an access-log line keeps; the rest is cut
# Control characters in a logged target would reach the operator's terminal (0x9B is a CSI) or forge a line;
# a quote or backslash would make the quoted request ambiguous: all become \xNN.
# The user:password@ of an absolute-form target, never to be logged.
USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@")
LOG_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0), ord('"'), ord("\\"))}


def loggable_target(target: str) -> str:
    """A request target as the log shows it: cut at LOGGED_TARGET characters, its user:password@ masked."""
    return USERINFO.sub(r"\1***@", target[:LOGGED_TARGET])


def escape_log(text: str) -> str:
    """Text for a log line: every C0 and C1 control, DEL, quote and backslash as \\xNN."""
    return text.translate(LOG_ESCAPES)


class AccessLog:
    """One line per request on a stream (stderr), in the Common Log Format plus the seconds it took. The
    request line is the only thing taken from the request: never a header, so never credentials."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lock = threading.Lock()  # worker threads log at once; one line must not cut into another

    def request(self, client: str, request: str, status: str, size: int, seconds: float) -> None:
        """Write one line; a stream that cannot take it loses the line, never the answer."""
        date = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        line = f'{escape_log(client)} - - [{date}] "{escape_log(request)}" {status} {size} {seconds:.3f}\n'
        with self.lock:
            try:
                self.stream.write(line)
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr
                pass


ACCESS_LOG = AccessLog(sys.stderr)
