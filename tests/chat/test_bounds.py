"""What bounds the REST side and the connections: body caps, short error echoes, head deadlines, the
connection cap, and one log line a second at the descriptor limit."""

import resource
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx

from devtools.resources import peak_rss
from devtools.servers import CHAT_SERVER, LOOPBACK, RunningServer, chat_server, free_port, running_command
from tests.polling import wait_until


MIB = 1024 * 1024


def post_head(port: int, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /api/v1/announcements HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n"
    ).encode()


def send_until_answered(sock: socket.socket, chunks: Iterator[bytes]) -> bytes:
    """Send chunks until the server answers or stops reading; what it answered."""
    sock.settimeout(0.5)
    for chunk in chunks:
        try:
            sock.sendall(chunk)
        except TimeoutError:
            break  # the server stopped reading
        except OSError:
            break  # it answered and closed
    sock.settimeout(15)
    answer = b""
    try:
        while b"\r\n\r\n" not in answer and (data := sock.recv(4096)):
            answer += data
    except ConnectionResetError:
        pass
    return answer


def test_a_64_mib_body_gets_413_and_the_server_stays_small(server: RunningServer) -> None:
    block = b"x" * MIB
    with socket.create_connection((LOOPBACK, server.port)) as sock:
        answer = send_until_answered(sock, iter([post_head(server.port, 64 * MIB), *[block] * 64]))
    assert answer.startswith(b"HTTP/1.1 413")
    with socket.create_connection((LOOPBACK, server.port)) as sock:
        chunked = (b"%x\r\n%s\r\n" % (len(block), block) for _ in range(64))
        answer = send_until_answered(sock, iter([post_head(server.port, None), *chunked]))
    assert answer.startswith(b"HTTP/1.1 413")
    assert peak_rss(server.process.pid) < 150 * MIB
    assert httpx.get(f"{server.url}/api/v1/clients").status_code == 200


def test_errors_quote_only_a_short_excerpt_and_the_api_pages_are_not_served(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as rest:
        long = rest.post("/api/v1/announcements", json={"text": "z" * 5000})
        assert long.status_code == 422
        assert len(long.content) < 1024
        assert long.json()["detail"][0]["input"].endswith("...")
        broken = rest.post("/api/v1/announcements", content=b'{"text": "\xff\xfe"}')
        assert broken.status_code in {400, 422}
        assert broken.headers["content-type"] == "application/json"
        for page in ("/docs", "/redoc", "/openapi.json"):
            assert rest.get(page).status_code == 404


def test_a_head_that_never_ends_is_cut_off_and_connections_are_capped() -> None:
    with chat_server("--head-timeout", "1", "--max-connections", "4") as capped:
        with socket.create_connection((LOOPBACK, capped.port), timeout=15) as slow:
            slow.sendall(b"GET /api/v1/clients HTTP/1.1\r\nHost: 127")
            started = time.monotonic()
            assert slow.recv(4096) == b""
            assert time.monotonic() - started < 10
        with ExitStack() as stack:
            held = [stack.enter_context(socket.create_connection((LOOPBACK, capped.port))) for _ in range(4)]
            wait_until(lambda: httpx.get(f"{capped.url}/api/v1/clients").status_code == 503, "the cap refusing")
            assert len(held) == 4
        wait_until(lambda: httpx.get(f"{capped.url}/api/v1/clients").status_code == 200, "room again once closed")


def test_at_the_descriptor_limit_the_server_logs_one_line_a_second() -> None:
    def few_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))

    port = free_port()
    command = [sys.executable, CHAT_SERVER, "--host", LOOPBACK, "--port", str(port)]
    with tempfile.TemporaryFile() as log, ExitStack() as stack:
        server = stack.enter_context(running_command(command, port, stderr=log, preexec_fn=few_descriptors))
        sockets = []
        for _ in range(60):
            try:
                sockets.append(stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=1)))
            except OSError:
                break
        time.sleep(3)  # the failing accepts go on meanwhile; what is measured is how often they are logged
        assert server.process.poll() is None
        server.stop(signal.SIGKILL)  # what it does at shutdown with no descriptors to spare is not the point
        log.seek(0)
        lines = log.read().decode().splitlines()
    reports = [line for line in lines if "cannot accept connections" in line]
    assert 1 <= len(reports) <= 6, lines[:20]
    assert not any("Traceback" in line for line in lines)
