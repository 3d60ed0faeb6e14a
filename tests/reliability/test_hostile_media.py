"""Hostile files for the second judge, uploaded to a live server: fuzzed containers of every format FFmpeg
alone accepts, and decompression bombs.

Every answer must be a deliberate one (201/200 stored, or 415 with one of the refusals), never a 5xx; each
costs at most its child's limits (the server's reaped children's CPU time, per upload); the server's own
memory stays flat, it keeps answering, and no child outlives its upload.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from audio_library.media.second_judge import JUDGE_LIMITS

from devtools.resources import peak_rss
from devtools.servers import RunningServer, audio_server, children_of_all_threads
from tests.fixtures.ffmpeg_formats import STORED, make_samples
from tests.fixtures.hostile_media import mutated, zlib_bomb
from tests.library_folders import leftovers
from tests.reliability.ledger import Ledger


SCENARIO = "hostile input: media for FFmpeg"
ROUNDS = 3  # fuzzed versions of each stored sample
REFUSALS = ("Non-audio file detected: ", "Audio, but damaged beyond playing: ", "A video, not audio: ", "Not checked: ")
TICKS = 100  # clock ticks per second in /proc/<pid>/stat (USER_HZ)
# The server's own peak memory: what it is at rest plus the upload bodies; FFmpeg's lives in the children.
MAX_SERVER_RSS = 200 * 1024**2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second judge's corpus, whose stored files are fuzzed."""
    return make_samples(tmp_path_factory.mktemp("media-corpus"))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live server's library folder."""
    return tmp_path_factory.mktemp("hostile-media") / "library"


@pytest.fixture(scope="module")
def server(library: Path) -> Iterator[RunningServer]:
    """One live server for the module."""
    with audio_server(library) as running:
        yield running


def children_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the process's children that it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[13]) + int(fields[14])) / TICKS  # cutime, cstime: fields 16 and 17 of stat


def upload_hostile(server: RunningServer, name: str, data: bytes, ledger: Ledger) -> None:
    """Upload one file; check the answer is deliberate and the judging cost no more than one child's limits."""
    before = children_cpu(server.process.pid)
    response = requests.post(f"{server.url}/api/files", files={"file": (name, data)}, timeout=120)
    ledger.record(SCENARIO, requests=1, errors=int(response.status_code >= 500))
    assert response.status_code in (200, 201, 415), (name, response.status_code, response.text[:200])
    if response.status_code == 415:
        assert response.json()["error"].startswith(REFUSALS), response.json()
    spent = children_cpu(server.process.pid) - before
    assert spent <= JUDGE_LIMITS.cpu_seconds + 1, f"{name}: its children took {spent:.1f} s of CPU"
    assert children_of_all_threads(server.process.pid) == set()  # every child reaped


@pytest.mark.fuzz
@pytest.mark.parametrize("index", range(len(STORED)), ids=[sample.name for sample in STORED])
def test_fuzzed_containers_cost_at_most_a_child(
    server: RunningServer, library: Path, corpus: Path, index: int, ledger: Ledger
) -> None:
    name = STORED[index].name
    data = (corpus / name).read_bytes()
    for round_number in range(ROUNDS):
        upload_hostile(server, f"fuzzed-{round_number}-{name}", mutated(data, index * ROUNDS + round_number), ledger)
    assert requests.get(f"{server.url}/api/files", timeout=30).status_code == 200
    assert peak_rss(server.process.pid) <= MAX_SERVER_RSS
    assert leftovers(library) == []


@pytest.mark.fuzz
@pytest.mark.parametrize(
    ("block", "blocks"),
    [(8 << 20, 64), (1 << 30, 1)],
    ids=["64 blocks of 8 MiB", "one block of 1 GiB"],
)
def test_decompression_bombs_cost_at_most_a_child(
    server: RunningServer, library: Path, block: int, blocks: int, ledger: Ledger
) -> None:
    upload_hostile(server, "bomb.mka", zlib_bomb(block, blocks), ledger)
    assert requests.get(f"{server.url}/api/files", timeout=30).status_code == 200
    assert peak_rss(server.process.pid) <= MAX_SERVER_RSS
    assert leftovers(library) == []
