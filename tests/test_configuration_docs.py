"""Each product's page names every variable its command line reads: the `[env: ...]` of its --help."""

import re
import subprocess
import sys

import pytest

from devtools.servers import REPO


COMMANDS = [
    (["Flask/server.py"], "audio-library.md"),
    (["Flask/server.py", "add-user"], "audio-library.md"),
    (["screwdriver.py"], "screwdriver.md"),
    (["WebSocket/server.py"], "chat.md"),
    (["WebSocket/client.py"], "chat.md"),
    (["FastAPI/server.py"], "crawler.md"),
    (["FastAPI/crawl.py"], "crawler.md"),
    (["WSGI/credentials.py"], "credentials.md"),
    (["SyncAsync/sync_server.py"], "sync-async.md"),
    (["SyncAsync/async_server.py"], "sync-async.md"),
]


@pytest.mark.parametrize(("command", "page"), COMMANDS, ids=[" ".join(command) for command, _ in COMMANDS])
def test_the_page_names_every_variable_of_the_help(command: list[str], page: str) -> None:
    shown = subprocess.run(
        [sys.executable, *command, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60, check=True
    )
    variables = {
        name.strip()
        for names in re.findall(r"\[env: ([^\]]+)\]", " ".join(shown.stdout.split()))
        for name in names.split(",")
    }
    assert variables, "the help names no variable"
    text = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert sorted(name for name in variables if f"`{name}`" not in text) == []
