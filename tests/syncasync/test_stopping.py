"""SIGTERM and Ctrl-C stop both servers cleanly: the request in hand is answered, then the process exits 0."""

import signal
import tempfile
import threading

import pytest

from tests.polling import wait_until
from tests.rawhttp import Response
from tests.syncasync.running import KINDS, get, syncasync_server


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
