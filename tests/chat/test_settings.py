"""The chat service's settings: each flag, else its CHAT_* variable (REDIS_URL too), else its default; a port in use."""

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Mapping

import httpx
import pytest

from devtools.servers import CHAT_SERVER, LOOPBACK, REPO, free_port, running_command
from WebSocket import client
from WebSocket.server import parse_args


ALLOWED = "https://chat.example.org"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("CHAT_PORT", "CHAT_REDIS", "REDIS_URL", "CHAT_URL", "CHAT_ALLOWED_ORIGINS"):
        monkeypatch.delenv(variable, raising=False)


def test_each_setting_comes_from_its_flag_then_its_variable_then_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (parse_args([]).port, parse_args([]).redis) == (8765, None)
    monkeypatch.setenv("CHAT_PORT", "9001")
    monkeypatch.setenv("CHAT_PING_INTERVAL", "5")
    assert (parse_args([]).port, parse_args([]).ping_interval) == (9001, 5.0)
    assert parse_args(["--port", "9002"]).port == 9002


def test_redis_url_is_an_alias_after_chat_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    assert parse_args([]).redis == "redis://127.0.0.1:1/0"
    monkeypatch.setenv("CHAT_REDIS", "redis://127.0.0.1:2/0")
    assert parse_args([]).redis == "redis://127.0.0.1:2/0"
    assert parse_args(["--redis", "redis://127.0.0.1:3/0"]).redis == "redis://127.0.0.1:3/0"


def test_a_bad_variable_is_a_usage_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_PORT", "eighty")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        parse_args([])
    assert exit_.value.code == 2
    assert (
        stderr.getvalue()
        .splitlines()[-1]
        .endswith(" error: CHAT_PORT: 'eighty' is not a TCP port number from 0 to 65535")
    )


def test_the_client_takes_its_url_from_chat_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_URL", "http://chat.example.org/")
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_:
        client.main([], io.StringIO(), io.StringIO())
    assert exit_.value.code == 2
    assert "error: CHAT_URL: not a websocket URL: 'http://chat.example.org/'" in stderr.getvalue()


def ended(command: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """How a command that stops by itself ended."""
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_server_set_up_by_the_environment_alone_and_a_second_one_on_its_port() -> None:
    port = free_port()
    variables = {"CHAT_HOST": LOOPBACK, "CHAT_PORT": str(port), "CHAT_ALLOWED_ORIGINS": f"{ALLOWED}, https://b.example"}
    command = [sys.executable, CHAT_SERVER]
    with running_command(command, port, env={**os.environ, **variables}) as server:
        for origin, status in ((ALLOWED, 200), ("https://b.example", 200), ("https://evil.example", 403)):
            answer = httpx.get(f"{server.url}/api/v1/clients", headers={"Origin": origin}, timeout=10)
            assert answer.status_code == status
        by_flag = [*command, "--host", LOOPBACK, "--port", str(port)]
        for second in (ended(by_flag, os.environ), ended(command, {**os.environ, **variables})):
            assert second.returncode == 1
            assert second.stderr == (
                f"server.py: port {port} on {LOOPBACK} is in use, perhaps by another server: choose another with "
                "--port N, CHAT_PORT=N or `make run-chat PORT=N`\n"
            )
        assert server.process.poll() is None
