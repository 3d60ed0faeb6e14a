"""Starting and stopping both servers: --port 0 takes a free port and says which; SIGTERM and Ctrl-C stop them
cleanly, the request in hand answered, then the process exits 0."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from devtools.rawhttp import Response
from devtools.servers import LOOPBACK, REPO
from devtools.syncasync_server import KINDS, NOWHERE, SCRIPTS, get, syncasync_server
from tests.polling import wait_until


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_after_the_request_in_hand(kind: str, signum: int) -> None:
    answers: list[Response] = []
    with tempfile.TemporaryFile() as log, syncasync_server(kind, stderr=log.fileno()) as running:
        waiting = threading.Thread(target=lambda: answers.append(get(running.port, "/io_task?seconds=1")))
        waiting.start()

        def in_hand() -> bool:
            log.seek(0)
            return b"IoTask(seconds=1.0)" in log.read()

        wait_until(in_hand, "the server to take the request")
        running.process.send_signal(signum)
        assert running.process.wait(timeout=20) == 0
        waiting.join(timeout=20)
        log.seek(0)
        output = log.read()
    assert [(answer.status, answer.body) for answer in answers] == [(200, b'{"slept":1.0}')]
    assert b"Traceback" not in output
    assert output.rstrip().endswith(b"stopped")


@pytest.mark.parametrize("kind", KINDS)
def test_port_0_listens_on_a_free_port_and_logs_it(kind: str) -> None:
    command = [sys.executable, SCRIPTS[kind], "--port", "0"]
    env = {**os.environ, "OPEN_METEO_URL": NOWHERE, "OPEN_METEO_GEOCODING_URL": NOWHERE}
    with subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE) as process:
        try:
            assert process.stderr is not None
            line = process.stderr.readline().decode()  # the first line it logs says where it listens
            served = re.search(r"serving on http://127\.0\.0\.1:(\d+)$", line.strip())
            assert served, line
            assert get(int(served[1]), "/hello").body == b"Hello, World!"
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "flags",
    [["--port", "70000"], ["--upstream-timeout", "0"], ["--upstream-timeout", "61"], ["--cache-ttl", "nan"]],
    ids=["port", "no timeout", "long timeout", "nan ttl"],
)
def test_bad_flags_are_refused_in_one_line(kind: str, flags: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, SCRIPTS[kind], *flags], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith(f"{Path(SCRIPTS[kind]).name}: error: argument")


@pytest.mark.parametrize("kind", KINDS)
def test_a_port_in_use_is_exit_status_1_and_says_so(kind: str) -> None:
    with socket.create_server((LOOPBACK, 0)) as taken:
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, SCRIPTS[kind], "--port", str(port)],
            cwd=REPO,
            env={**os.environ, "OPEN_METEO_URL": NOWHERE},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert run.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in run.stderr
    assert "Traceback" not in run.stderr
