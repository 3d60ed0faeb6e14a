"""The credentials service as a program: its command line, log, signals, and other WSGI servers."""

import resource
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from devtools.rawhttp import connect, exchange, read_response
from devtools.servers import CREDENTIALS_SERVER, LOOPBACK, REPO, credentials_server, free_port, running_command
from tests.wsgi.credentials_checks import ACCESS_LINE, assert_serves_credentials


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_exit_cleanly(sig: signal.Signals) -> None:
    with tempfile.TemporaryFile() as log, credentials_server(stderr=log.fileno()) as server:
        assert exchange(server.port, b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        assert server.stop(sig) == 0
        log.seek(0)
        text = log.read().decode()
    assert "Traceback" not in text
    assert text.rstrip().endswith("credentials: shut down")


def test_one_access_log_line_per_request_on_stderr() -> None:
    requests = [
        b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /?species=Nobody HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /?species=Dal\x00ek HTTP/1.1\r\nHost: x\r\n\r\n",
        b"BROKEN\r\n\r\n",
    ]
    with tempfile.TemporaryFile() as log:
        with credentials_server(stderr=log.fileno()) as server:
            for request in requests:
                exchange(server.port, request)
        log.seek(0)
        lines = log.read().decode().splitlines()
    access = [match.groups() for line in lines if (match := ACCESS_LINE.fullmatch(line))]
    assert access == [
        ("GET /?species=Dalek HTTP/1.1", "200", "25"),
        ("HEAD /?species=Nobody HTTP/1.1", "404", "0"),
        (r"GET /?species=Dal\x00ek HTTP/1.1", "404", "26"),  # control characters never reach a terminal raw
        ("BROKEN", "400", "24"),
    ]
    assert len(lines) == len(access) + 2  # plus "Serving credentials on ..." and "shut down"


def test_runs_on_a_bare_python_without_the_venv() -> None:
    python = shutil.which("python3", path="/usr/bin:/usr/local/bin") or sys.executable
    port = free_port()
    no_site_packages = ["-I", "-S"]
    command = [python, *no_site_packages, CREDENTIALS_SERVER, "--host", LOOPBACK, "--port", str(port)]
    with running_command(command, port) as server:
        assert_serves_credentials(server.port)
        assert server.stop() == 0


def test_importing_starts_nothing() -> None:
    probe = (
        "import signal, sys, threading; sys.path.insert(0, 'WSGI'); import credentials; "
        "print(threading.active_count(), signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=REPO, capture_output=True, timeout=10, check=True
    )
    assert result.stdout == b"1 True\n"
    assert result.stderr == b""


def test_a_busy_port_is_one_clear_error() -> None:
    with credentials_server() as server:
        result = subprocess.run(
            [sys.executable, CREDENTIALS_SERVER, "--host", LOOPBACK, "--port", str(server.port)],
            cwd=REPO,
            capture_output=True,
            timeout=10,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"credentials: port {server.port} on {LOOPBACK} is in use, perhaps by another server: choose another with "
        "--port N, CREDENTIALS_PORT=N or `make run-credentials PORT=N`\n"
    )


BAD_ARGUMENTS = [
    (["--port", "70000"], "--port must be a TCP port number from 0 to 65535"),
    (["--port", "http"], "--port must be a TCP port number from 0 to 65535"),
    (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--timeout", "-1"], "--timeout must be a positive number of seconds"),
    (["--timeout", "soon"], "--timeout must be a positive number of seconds"),
    (["--timeout", "nan"], "--timeout must be a positive number of seconds"),
    (["--timeout", "inf"], "--timeout must be a positive number of seconds"),
    (["--workers", "1.5"], '--workers must be a whole number of processes, at least 1, or "auto"'),
]


@pytest.mark.parametrize(("arguments", "words"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_refused_in_words(arguments: list[str], words: str) -> None:
    result = subprocess.run(
        [sys.executable, CREDENTIALS_SERVER, *arguments], cwd=REPO, capture_output=True, timeout=10, check=False
    )
    assert result.returncode == 2
    message = result.stderr.decode().splitlines()[-1]
    assert message == f"credentials.py: error: {words}; {arguments[1]!r} is invalid"
    for internal in ("port_number", "positive_seconds", "worker_count", "value:"):
        assert internal not in result.stderr.decode()


def test_served_by_waitress() -> None:
    port = free_port()
    command = [sys.executable, "-m", "waitress", f"--listen={LOOPBACK}:{port}", "credentials:application"]
    with running_command(command, port, cwd=REPO / "WSGI") as server:
        assert_serves_credentials(server.port)


def test_running_out_of_file_descriptors_neither_spins_nor_stops_the_server() -> None:
    port = free_port()
    command = [sys.executable, CREDENTIALS_SERVER, "--host", LOOPBACK, "--port", str(port), "--timeout", "2"]

    def limit_descriptors() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))

    with (
        tempfile.TemporaryFile() as log,
        running_command(command, port, stderr=log.fileno(), preexec_fn=limit_descriptors) as server,
    ):
        try:
            clients = [connect(port) for _ in range(40)]  # more than the server may hold open
            try:
                with clients[0].makefile("rb") as stream:  # those it holds are still answered
                    clients[0].sendall(b"GET /?species=Dalek HTTP/1.1\r\nHost: x\r\n\r\n")
                    assert read_response(stream).status == 200
            finally:
                for client in clients:
                    client.close()
            # Once those connections are gone, it accepts again.
            assert exchange(port, b"GET /?species=Zygon HTTP/1.1\r\nHost: x\r\n\r\n").status == 200
        finally:
            assert server.stop() == 0
        log.seek(0)
        refusals = log.read().decode().count("cannot accept a connection")
    assert 1 <= refusals <= 20  # one line per sweep while full, not a line per turn of a spinning loop
