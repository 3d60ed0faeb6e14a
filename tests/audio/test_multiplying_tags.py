"""Tag structures that multiply (issue 21), against a live server: files whose tags hold countless items, deep
nesting or big values, in every tag family, uploaded and their covers asked for concurrently. The server's peak
RSS stays under 150 MB and the CPU each request costs stays bounded."""

import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.multiplying_tags import COVER, FAMILIES, WITH_COVER, Multiplied
from devtools.resources import cpu_seconds, peak_rss
from devtools.servers import RunningServer, audio_server


PEAK_RSS_LIMIT = 150 * 1024 * 1024
CONCURRENT = 8  # cover requests at once: the probe that found the bloat sent eight
CPU_PER_COVER_S = 0.2  # a cover is a range read of a file examined once; the bloat cost seconds
CPU_PER_UPLOAD_S = 2.0  # receiving and examining a file of about 2 MB: detection, tags, digest
# The shapes the probe found (122,000 empty data atoms in `covr`, 190,000 comments) and their kin in every family.
WORST = [
    ("mp4", 60_000, 0, 1),
    ("mp4", 122_000, 0, 1),
    ("mp4", 20_000, 40, 64),
    ("ogg", 190_000, 0, 1),
    ("ogg", 1_000, 2_000, 1),
    ("flac", 190_000, 0, 1),
    ("flac", 2_000, 500, 200),
    ("id3", 190_000, 0, 1),
    ("id3", 1_000, 1_000, 60),
    ("ape", 100_000, 0, 1),
    ("matroska", 100_000, 0, 1),
    ("matroska", 2_000, 10, 200),
]
_names = iter(range(1_000_000))
_names_lock = threading.Lock()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with audio_server(tmp_path_factory.mktemp("library")) as running:
        yield running


def upload(server: RunningServer, built: Multiplied, *, alone: bool = True) -> str | None:
    """Upload a built file under a name of its own; its name in the library, or None if it was refused as
    not audio (the answer a file the detector cannot vouch for gets). The CPU it cost the server is checked
    when it is ``alone`` (no other request running)."""
    with _names_lock:
        name = f"{next(_names)}-{built.name}"
    before = cpu_seconds(server.process.pid)
    sent = requests.post(f"{server.url}/api/files", files={"file": (name, built.data)}, timeout=60)
    spent = cpu_seconds(server.process.pid) - before
    assert sent.status_code in (201, 415), sent.text
    assert not alone or spent <= CPU_PER_UPLOAD_S, f"{built.name}: the upload cost {spent:.2f} s of CPU"
    if sent.status_code == 415:
        return None
    (stored,) = sent.json()["files"]
    title = stored["title"]
    assert title is None or (len(title) <= 500 and title.isprintable())
    return str(stored["name"])


def covers(server: RunningServer, name: str, family: str) -> None:
    """Ask for the file's cover once alone and CONCURRENT times at once: each answer is the cover (or a 404
    for a family that carries none), each within its CPU bound, and the server stays small."""
    url = f"{server.url}/files/{quote(name)}/cover"
    before = cpu_seconds(server.process.pid)
    alone = requests.get(url, timeout=30)
    spent = cpu_seconds(server.process.pid) - before
    assert spent <= CPU_PER_COVER_S, f"{name}: a cover cost {spent:.2f} s of CPU"
    assert alone.status_code in (200, 404)
    if family in WITH_COVER and alone.status_code == 200:
        assert (alone.headers["Content-Type"], alone.content) == ("image/jpeg", COVER)
    before = cpu_seconds(server.process.pid)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(lambda _: requests.get(url, timeout=30), range(CONCURRENT)))
    spent = cpu_seconds(server.process.pid) - before
    assert [answer.status_code for answer in answers] == [alone.status_code] * CONCURRENT
    assert all(answer.content == alone.content for answer in answers)
    assert spent <= CONCURRENT * CPU_PER_COVER_S, f"{name}: {CONCURRENT} covers cost {spent:.2f} s of CPU"
    peak = peak_rss(server.process.pid)
    assert peak < PEAK_RSS_LIMIT, f"server peak RSS {peak / 2**20:.0f} MiB after {name}"


@pytest.mark.fuzz
@pytest.mark.parametrize(("family", "count", "size", "depth"), WORST)
def test_the_worst_shapes_keep_the_server_small(
    server: RunningServer, family: str, count: int, size: int, depth: int
) -> None:
    name = upload(server, FAMILIES[family](count, size, depth))
    if family in WITH_COVER and name is not None:
        covers(server, name, family)


@pytest.mark.fuzz
def test_uploads_and_covers_of_every_family_at_once_keep_the_server_small(server: RunningServer) -> None:
    built = [FAMILIES[family](count, size, depth) for family, count, size, depth in WORST]
    first = [name for name in (upload(server, file) for file in built[::2]) if name is not None]
    covers_first = [f"{server.url}/files/{quote(name)}/cover" for name in first] * 3

    def request(task: Multiplied | str) -> int | None:
        if isinstance(task, Multiplied):  # an upload, while the others run
            name = upload(server, task, alone=False)
            return None if name is None else 201
        return requests.get(task, timeout=30).status_code

    mixed: list[Multiplied | str] = [*built[1::2], *built[::2], *covers_first]
    random.Random(21).shuffle(mixed)  # uploads and cover requests interleaved
    with ThreadPoolExecutor(CONCURRENT) as pool:
        answers = list(pool.map(request, mixed))
    assert set(answers) <= {200, 201, 404, None}
    listed = requests.get(f"{server.url}/api/files", timeout=30).json()
    urls = [f"{server.url}/files/{quote(entry['name'])}/cover" for entry in listed if entry["cover"]]
    before = cpu_seconds(server.process.pid)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(lambda url: requests.get(url, timeout=30).status_code, urls))
    spent = cpu_seconds(server.process.pid) - before
    assert statuses == [200] * len(urls)
    assert len(urls) >= 2 * len(WITH_COVER)
    assert spent <= len(urls) * CPU_PER_COVER_S
    assert peak_rss(server.process.pid) < PEAK_RSS_LIMIT


@pytest.mark.fuzz
@settings(max_examples=40, deadline=None)
@given(
    family=st.sampled_from(sorted(FAMILIES)),
    count=st.integers(1, 250_000),
    size=st.sampled_from([0, 1, 3, 17, 255, 4096, 70_000]),
    depth=st.integers(1, 300),
)
def test_multiplied_tags_keep_the_server_small(
    server: RunningServer, family: str, count: int, size: int, depth: int
) -> None:
    name = upload(server, FAMILIES[family](count, size, depth))
    if name is not None:
        covers(server, name, family)
