"""Two server processes on one library folder, taking concurrent uploads of the same few names.

Each distinct file is sent to both servers at once under a shared name. Nothing may be overwritten, lost or
torn: the folder ends with exactly one copy of every distinct file, every stored file's bytes are one of the
uploads, the two answers for a file name the same stored name (one stored it, the other found it there),
and both servers list the same library.
"""

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from audio_library.library.names import natural_sort_key

from devtools.servers import audio_server
from devtools.wav import noise_wav
from tests.library_folders import leftovers, sha256, stored_files
from tests.reliability.ledger import Ledger


NAMES = ("shared.wav", "Общий.wav", "same name.wav", "x.wav")
PER_NAME = 20
CLIENTS = 24
SCENARIO = "two servers, one folder"


def test_two_servers_sharing_a_folder_lose_and_overwrite_nothing(tmp_path: Path, ledger: Ledger) -> None:
    library = tmp_path / "library"
    # Every tenth file is 640 KB, so some bodies are spooled by waitress before the app sees them.
    files = [
        (name, noise_wav(5000 + number, 40.0 if number % 10 == 0 else 0.2))
        for number, name in enumerate(name for name in NAMES for _ in range(PER_NAME))
    ]
    with audio_server(library) as first, audio_server(library) as second:
        jobs = [(server.url, name, content) for name, content in files for server in (first, second)]
        random.Random(6).shuffle(jobs)

        def send(job: tuple[str, str, bytes]) -> tuple[str, bytes, int, dict[str, object]]:
            url, name, content = job
            response = requests.post(f"{url}/api/files", files={"file": (name, content)}, timeout=60)
            return sha256(content), content, response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            answers = list(pool.map(send, jobs))
        statuses = Counter(status for _, _, status, _ in answers)
        ledger.record(SCENARIO, requests=len(answers), errors=sum(n for s, n in statuses.items() if s >= 300))
        assert set(statuses) <= {200, 201}

        outcomes: dict[str, list[tuple[str, str]]] = {}  # digest -> [(stored name, status)] of its two uploads
        for digest, _, _, body in answers:
            entry = body["files"][0]  # type: ignore[index]
            outcomes.setdefault(digest, []).append((entry["name"], entry["status"]))
        for pair in outcomes.values():
            assert len(pair) == 2
            assert pair[0][0] == pair[1][0], "both uploads of one file must name the same stored file"
            assert sorted(status for _, status in pair)[0] == "duplicate"
            assert sorted(status for _, status in pair)[1] in {"stored", "renamed"}

        on_disk = stored_files(library)
        sent = {sha256(content) for _, content in files}
        assert Counter(on_disk.values()) == Counter(sent)  # each file exactly once: none lost, torn or doubled
        assert on_disk == {pair[0][0]: digest for digest, pair in outcomes.items()}
        assert leftovers(library) == []
        listings = [requests.get(f"{server.url}/api/files", timeout=30).json() for server in (first, second)]
        assert [entry["name"] for entry in listings[0]] == sorted(on_disk, key=natural_sort_key)
        assert listings[0] == listings[1]
        verified = 0
        for server in (first, second):
            for name, digest in on_disk.items():
                served = requests.get(f"{server.url}/files/{name}", timeout=30)
                assert sha256(served.content) == digest
                verified += 1
    ledger.record(SCENARIO, requests=2 + verified, files=len(on_disk))
