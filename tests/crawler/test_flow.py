"""The whole flow through crawl.py against a real server, its private Redis and the local farm."""

import http.server
import io
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from devtools.farm import Farm
from devtools.servers import REPO, RunningServer, free_port
from FastAPI import crawl
from tests.crawler.service import crawler
from tests.polling import wait_until


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with crawler("--allow-private") as running:
        yield running


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = crawl.main(list(args), out, err)
    return status, out.getvalue(), err.getvalue()


def test_prints_codes_in_order_with_duplicates_and_failures(server: RunningServer, farm: Farm) -> None:
    host = f"{farm.hosts[0]}:{farm.port}"
    urls = [
        f"{host}/status/200",
        f"http://{host}/status/404",
        f"{host}/status/200",
        f"{farm.hosts[1]}:{farm.port}/status/503",
        f"127.0.0.1:{free_port()}/",
        f"{host}/status/200",
    ]
    status, out, err = run("--server", server.url, "--timeout", "30", *urls)
    assert status == 1, err
    assert out.splitlines() == [
        f"200\t{urls[0]}",
        f"404\t{urls[1]}",
        f"200\t{urls[2]}",
        f"503\t{urls[3]}",
        f"error:connect\t{urls[4]}",
        f"200\t{urls[5]}",
    ]
    assert farm.hits_of("/status/200") == 1


def test_exits_0_when_every_url_got_a_code(server: RunningServer, farm: Farm) -> None:
    urls = [farm.url("/status/500"), farm.url("/status/204", 2)]
    status, out, err = run("--server", server.url, *urls)
    assert status == 0, err
    assert out == f"500\t{urls[0]}\n204\t{urls[1]}\n"
    assert "task" in err


def test_unreachable_server_is_one_line() -> None:
    status, out, err = run("--server", f"http://127.0.0.1:{free_port()}", "example.org")
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("crawl.py: cannot reach the server at http://127.0.0.1:")


def test_refused_task_is_one_line(server: RunningServer) -> None:
    status, out, err = run("--server", server.url, "ftp://example.org/")
    assert status == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "422" in err
    assert "scheme 'ftp' is not http or https" in err


def test_deadline_ends_with_a_clear_line(server: RunningServer, farm: Farm) -> None:
    status, out, err = run("--server", server.url, "--timeout", "0.3", farm.url("/slow/3"))
    assert status == 1
    assert out == ""
    assert err.splitlines()[-1].endswith("not ready within 0.3 s")


@pytest.mark.parametrize("args", [[], ["--timeout", "0", "x"], ["--timeout", "soon", "x"], ["--bogus", "x"]])
def test_usage_errors_exit_2(args: list[str]) -> None:
    status, out, err = run(*args)
    assert status == 2
    assert out == ""
    assert "usage: crawl.py" in err


def test_process_exit_statuses(server: RunningServer, farm: Farm) -> None:
    script = [sys.executable, str(REPO / "FastAPI" / "crawl.py"), "--server", server.url]
    ok = subprocess.run([*script, farm.url("/status/301")], capture_output=True, text=True, timeout=60, check=False)
    assert (ok.returncode, ok.stdout) == (0, f"301\t{farm.url('/status/301')}\n")
    failed = subprocess.run([*script, farm.url("/garbage")], capture_output=True, text=True, timeout=60, check=False)
    assert (failed.returncode, failed.stdout) == (1, f"error:invalid-response\t{farm.url('/garbage')}\n")
    usage = subprocess.run(script, capture_output=True, text=True, timeout=60, check=False)
    assert usage.returncode == 2


def test_ctrl_c_and_a_closed_pipe_end_quietly(server: RunningServer, farm: Farm) -> None:
    script = [sys.executable, str(REPO / "FastAPI" / "crawl.py"), "--server", server.url]
    slow = farm.url("/slow/20?interrupted")
    interrupted = subprocess.Popen([*script, slow], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: farm.hits_of("/slow/20?interrupted") == 1, "the crawl under way")
    interrupted.send_signal(signal.SIGINT)
    out, err = interrupted.communicate(timeout=30)
    assert (interrupted.returncode, out) == (130, "")
    assert err.splitlines()[-1] == "crawl.py: interrupted"
    piped = subprocess.Popen([*script, farm.url("/status/200?piped")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert piped.stdout is not None
    piped.stdout.close()  # as `| head` does once it has had enough
    _, complaints = piped.communicate(timeout=30)
    assert piped.returncode == 1
    assert b"Traceback" not in complaints
    assert b"Exception ignored" not in complaints


@pytest.fixture
def forgetful() -> Iterator[tuple[str, list[int]]]:
    """A server that takes a task, then does not know it for as many GETs as the list says, then has it ready."""
    unknown_for = [2]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def answer(self, status: int, task: dict[str, object]) -> None:
            body = json.dumps(task).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.answer(201, {"id": "t", "status": "running"})

        def do_GET(self) -> None:
            if unknown_for[0] != 0:
                unknown_for[0] -= 1
                self.answer(404, {"detail": "no task t"})
            else:
                self.answer(200, {"id": "t", "status": "ready", "result": [204]})

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as scripted:
        thread = threading.Thread(target=scripted.serve_forever)
        thread.start()
        try:
            yield f"http://127.0.0.1:{scripted.server_address[1]}", unknown_for
        finally:
            scripted.shutdown()
            thread.join(timeout=10)


def test_a_task_briefly_unknown_is_asked_for_again(forgetful: tuple[str, list[int]]) -> None:
    status, out, err = run("--server", forgetful[0], "example.org")
    assert (status, out) == (0, "204\texample.org\n"), err
    assert "unknown to the server for now" in err


def test_a_task_unknown_for_long_fails(forgetful: tuple[str, list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    forgetful[1][0] = -1  # for ever
    monkeypatch.setattr(crawl, "MISSING_GRACE", 0.3)
    status, out, err = run("--server", forgetful[0], "example.org")
    assert (status, out) == (1, "")
    assert "polling the task failed (404)" in err.splitlines()[-1]
