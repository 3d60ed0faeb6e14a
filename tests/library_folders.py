"""The audio library as the tests see it: the fixture corpus, what lies in its folder, and what the server lists."""

import hashlib
import os
from pathlib import Path

import requests
from audio_library.web.api import UNEXAMINED_HEADER

from devtools.servers import REPO
from tests.polling import wait_until


FIXTURES = REPO / "tests" / "fixtures" / "audio"
BOOKKEEPING = (".instance-", ".metadata.json")  # the server's own hidden files, not upload leftovers


def fixture_bytes(name: str) -> bytes:
    """The bytes of one file of the shared fixture corpus."""
    return (FIXTURES / name).read_bytes()


def sha256(data: bytes) -> str:
    """The hex SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def on_disk(folder: Path) -> list[str]:
    """Every name in the folder, hidden ones included, except the server's own bookkeeping files."""
    return sorted(path.name for path in folder.iterdir() if not path.name.startswith(BOOKKEEPING))


def leftovers(library: Path) -> list[str]:
    """Every name in the folder except the listed files and the server's bookkeeping: temporaries, mostly."""
    return sorted(name for name in os.listdir(library) if name.startswith(".") and not name.startswith(BOOKKEEPING))


def stored_files(library: Path) -> dict[str, str]:
    """Name -> SHA-256 of every visible file in the library folder."""
    return {
        path.name: sha256(path.read_bytes())
        for path in library.iterdir()
        if not path.name.startswith(".") and path.is_file()
    }


def listed_names(url: str) -> list[str]:
    """The names the server at `url` lists through its API, in its order."""
    response = requests.get(f"{url}/api/files", timeout=10)
    response.raise_for_status()
    return [entry["name"] for entry in response.json()]


def wait_until_examined(url: str) -> None:
    """Wait until the server at `url` has examined every file in its folder, so that its listing is whole.

    A listing waits a second at most for files being examined; on a busy machine new files may take longer.
    """
    wait_until(
        lambda: requests.get(f"{url}/api/files", timeout=10).headers[UNEXAMINED_HEADER] == "0", "every file examined"
    )
