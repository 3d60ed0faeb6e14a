"""Starting and stopping both servers: --port 0 takes a free port and says which; SIGTERM and Ctrl-C stop them
cleanly, the request in hand answered, then the process exits 0."""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

from tests.polling import wait_until
from tests.rawhttp import Response
from tests.servers import REPO
from tests.syncasync.running import KINDS, NOWHERE, SCRIPTS, get, syncasync_server


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
