"""The crawler end to end: a real server with its private Redis, a real local HTTP target, crawl.py in-process."""

import http.server
import io
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from FastAPI import crawl
from tests.servers import LOOPBACK, RunningServer, crawler_server


class StatusHandler(http.server.BaseHTTPRequestHandler):
    """Answers /CODE with that status code."""

    def do_GET(self) -> None:
        code = int(self.path.strip("/") or "200")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    farm = http.server.ThreadingHTTPServer((LOOPBACK, 0), StatusHandler)
    thread = threading.Thread(target=farm.serve_forever, daemon=True)
    thread.start()
    yield f"{LOOPBACK}:{farm.server_address[1]}"
    farm.shutdown()
    farm.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with crawler_server() as running:
        yield running


def test_crawl_prints_codes_in_order_with_duplicates(server: RunningServer, target: str) -> None:
    urls = [f"{target}/200", f"http://{target}/404", f"{target}/200", f"{target}/503", "127.0.0.1:1/"]
    out, err = io.StringIO(), io.StringIO()
    status = crawl.main(["--server", server.url, "--timeout", "30", *urls], out, err)
    assert status == 1
    lines = out.getvalue().splitlines()
    assert lines == [
        f"200\t{urls[0]}",
        f"404\t{urls[1]}",
        f"200\t{urls[2]}",
        f"503\t{urls[3]}",
        f"error:connect\t{urls[4]}",
    ]


def test_bad_input_and_ids(server: RunningServer) -> None:
    assert httpx.post(f"{server.url}/api/v1/tasks/", json=[]).status_code == 422
    assert httpx.post(f"{server.url}/api/v1/tasks/", json={"a": 1}).status_code == 422
    assert httpx.post(f"{server.url}/api/v1/tasks/", json=["ftp://x/"]).status_code == 422
    assert httpx.get(f"{server.url}/api/v1/tasks/not-a-uuid").status_code == 422
    assert httpx.get(f"{server.url}/api/v1/tasks/{uuid.uuid4()}").status_code == 404


def test_unreachable_server_is_one_line() -> None:
    out, err = io.StringIO(), io.StringIO()
    assert crawl.main(["--server", "http://127.0.0.1:1", "example.org"], out, err) == 1
    assert err.getvalue().count("\n") == 1
    assert "cannot reach the server" in err.getvalue()


def test_usage_error_exits_2() -> None:
    err = io.StringIO()
    assert crawl.main([], io.StringIO(), err) == 2
    assert "usage: crawl.py" in err.getvalue()
