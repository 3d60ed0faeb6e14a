"""Load: both servers under many concurrent clients, slow ones included, with every answer checked.

The audio library takes 20 concurrent uploaders and 100 concurrent readers for 20 s; afterwards every
accepted file must be listed, on disk and served byte-identical. The credentials service takes 200
concurrent keep-alive connections while slow clients trickle their requests a byte at a time or sit on
half-sent headers; every answer must be the exact documented body. Loops are bounded in count and time.
"""

import functools
import http.client
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
from credentials import CREDENTIALS, json_body

from devtools.multipart import Part, multipart, upload_head
from devtools.rawhttp import read_response
from devtools.servers import LOOPBACK, RunningServer, audio_server, credentials_server
from devtools.wav import noise_wav
from tests.library_folders import leftovers, sha256, stored_files
from tests.polling import DEADLINE, wait_until
from tests.reliability.ledger import Ledger


AUDIO_SECONDS = 20.0
UPLOADERS = 20
READERS = 100
MAX_UPLOADS_EACH = 300
MAX_READS_EACH = 2_000
NAMES = 8  # uploads share a few names, so concurrent renaming ("take-3 (17).wav") is under load too

STALLED = 200
CHURN_SECONDS = 8.0
CHURNERS = 4
CHURN_READERS = 16

CREDENTIALS_SECONDS = 5.0
CONNECTIONS = 200
MAX_REQUESTS_EACH = 1_000
TRICKLERS = 20
HALF_SENT = 20
TRICKLE_PAUSE = 0.02  # seconds between bytes
REQUEST_TIMEOUT = 60.0


@dataclass
class Tally:
    """What a group of client threads did; shared, so updated under a lock."""

    requests: int = 0
    errors: list[str] = field(default_factory=list)
    served: Counter[int] = field(default_factory=Counter)  # client number -> answers it got
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, client: int = 0) -> None:
        with self.lock:
            self.requests += 1
            self.served[client] += 1

    def starved(self, clients: int) -> list[int]:
        """The clients that got no good answer at all while the load ran."""
        return [client for client in range(clients) if not self.served[client]]

    def error(self, what: str) -> None:
        with self.lock:
            self.requests += 1
            self.errors.append(what)


class Window:
    """The time the load runs: it opens when every client is ready (a barrier's action) and lasts `seconds`."""

    def __init__(self, seconds: float, clients: int) -> None:
        self.seconds = seconds
        self.end = math.inf
        self.ready = threading.Barrier(clients, action=self.open)

    def open(self) -> None:
        self.end = time.monotonic() + self.seconds

    def closed(self) -> bool:
        return time.monotonic() >= self.end

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def turns(self, limit: int) -> Iterator[int]:
        """Wait until every client is ready, then count a client's turns until the window closes or `limit`."""
        self.ready.wait()
        for turn in range(limit):
            if self.closed():
                return
            yield turn


def run_threads(workers: list[Callable[[], None]], window: Window) -> None:
    """Run each worker in its own thread and wait for all; each stops when the window closes."""
    threads = [threading.Thread(target=worker, daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(window.seconds + 2 * REQUEST_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a client thread overran its deadline"


# The audio library


def test_the_library_under_20_uploaders_and_100_readers(tmp_path: Path, ledger: Ledger) -> None:
    library = tmp_path / "library"
    accepted: dict[str, str] = {}  # stored name -> SHA-256 of what was sent
    uploads, reads = Tally(), Tally()
    # Every client here shares one address; the cap per address is raised past them all.
    with audio_server(library, "--connections-per-client", str(2 * (UPLOADERS + READERS))) as server:
        window = Window(AUDIO_SECONDS, UPLOADERS + READERS)

        def uploader(number: int) -> None:
            session = requests.Session()
            for count in window.turns(MAX_UPLOADS_EACH):
                # Mostly small files; every tenth is 640 KB, past waitress's 512 KiB in-memory limit.
                content = noise_wav(
                    number * MAX_UPLOADS_EACH + count, 40.0 if count % 10 == 0 else 0.05 * (1 + count % 7)
                )
                try:
                    response = session.post(
                        f"{server.url}/api/files",
                        files={"file": (f"take-{count % NAMES}.wav", content)},
                        timeout=REQUEST_TIMEOUT,
                    )
                except requests.RequestException as error:
                    uploads.error(f"upload: {error!r}")
                    continue
                if response.status_code != 201:
                    uploads.error(f"upload: {response.status_code} {response.text[:200]}")
                    continue
                stored = response.json()["files"][0]["name"]
                with uploads.lock:
                    taken = stored in accepted
                    accepted.setdefault(stored, sha256(content))
                if taken:
                    uploads.error(f"upload: {stored} was given to two different uploads")
                else:
                    uploads.ok(number)

        def reader(number: int) -> None:
            session = requests.Session()
            for count in window.turns(MAX_READS_EACH):
                kind = (number + count) % 3
                if kind == 2:
                    with uploads.lock:
                        names = list(accepted)
                    target = f"/files/{names[count % len(names)]}" if names else "/"
                else:
                    target = ("/api/files", "/")[kind]
                try:
                    response = session.get(f"{server.url}{target}", timeout=REQUEST_TIMEOUT)
                except requests.RequestException as error:
                    reads.error(f"GET {target}: {error!r}")
                    continue
                if response.status_code != 200:
                    reads.error(f"GET {target}: {response.status_code}")
                else:
                    reads.ok(number)

        workers: list[Callable[[], None]] = [
            *(functools.partial(uploader, n) for n in range(UPLOADERS)),
            *(functools.partial(reader, n) for n in range(READERS)),
        ]
        run_threads(workers, window)
        verified = verify_library(server, library, accepted)
    ledger.record(
        f"audio library: {UPLOADERS} uploaders + {READERS} readers, {AUDIO_SECONDS:g} s",
        requests=uploads.requests + reads.requests + 1 + len(accepted),
        errors=len(uploads.errors) + len(reads.errors),
        files=verified,
    )
    assert uploads.errors == []
    assert reads.errors == []
    assert uploads.starved(UPLOADERS) == []  # every client was served: none waited out the load unanswered
    assert reads.starved(READERS) == []
    assert len(accepted) >= UPLOADERS  # the load really stored files
    assert verified == len(accepted)


def test_the_library_answers_others_while_200_clients_stall(tmp_path: Path, ledger: Ledger) -> None:
    library = tmp_path / "library"
    served = Tally()
    with audio_server(library, "--connections-per-client", str(2 * STALLED)) as server:
        stalled = []
        try:
            for number in range(STALLED):
                sock = socket.create_connection((LOOPBACK, server.port), timeout=REQUEST_TIMEOUT)
                stalled.append(sock)
                if number % 2:  # headers that never end
                    sock.sendall(f"GET /api/files HTTP/1.1\r\nHost: {LOOPBACK}\r\nX-Slow: ".encode())
                else:  # an upload that stops after its first bytes
                    sock.sendall(upload_head(server.port, 10_000_000) + multipart([Part(b"RIFF")])[:120])
            content = noise_wav(77)
            try:  # a stalled server would keep these waiting for its 120 s idle timeout
                listed = requests.get(f"{server.url}/api/files", timeout=DEADLINE)
                uploaded = requests.post(
                    f"{server.url}/api/files", files={"file": ("q.wav", content)}, timeout=DEADLINE
                )
            except requests.RequestException as error:
                served.error(repr(error))
            else:
                for response in (listed, uploaded):
                    if response.ok:
                        served.ok()
                    else:
                        served.error(f"{response.request.method} {response.status_code}")
        finally:
            for sock in stalled:
                sock.close()
        wait_until(lambda: leftovers(library) == [], "the stalled uploads leave nothing")
    ledger.record(f"audio library: {STALLED} stalled clients", requests=served.requests, errors=len(served.errors))
    assert served.errors == []
    assert stored_files(library) == {"q.wav": sha256(content)}


def test_downloads_racing_deletes_get_a_version_or_a_404(tmp_path: Path, ledger: Ledger) -> None:
    library = tmp_path / "library"
    versions: dict[str, set[str]] = {f"churn-{n}.wav": set() for n in range(CHURNERS)}  # name -> digests sent
    churn, reads, whole_versions = Tally(), Tally(), Tally()
    with audio_server(library) as server:
        window = Window(CHURN_SECONDS, CHURNERS + CHURN_READERS)

        def churner(number: int) -> None:
            """Uploads a new version of its name, then deletes it, again and again."""
            session, name = requests.Session(), f"churn-{number}.wav"
            for count in window.turns(MAX_UPLOADS_EACH):
                content = noise_wav(900_000 + number * MAX_UPLOADS_EACH + count, 0.5)
                with churn.lock:
                    versions[name].add(sha256(content))
                try:
                    posted = session.post(f"{server.url}/api/files", files={"file": (name, content)}, timeout=60)
                    deleted = session.delete(f"{server.url}/api/files/{name}", timeout=60)
                except requests.RequestException as error:
                    churn.error(f"{name}: {error!r}")
                    continue
                if (posted.status_code, deleted.status_code) == (201, 204):
                    churn.ok(number)
                else:
                    churn.error(f"{name}: upload {posted.status_code}, delete {deleted.status_code}")

        def reader(number: int) -> None:
            """Downloads the churned names (a version, or 404 between versions), lists, shows the page."""
            session = requests.Session()
            for count in window.turns(MAX_READS_EACH):
                name = f"churn-{(number + count) % CHURNERS}.wav"
                target = (f"/files/{name}", f"/files/{name}", "/api/files", "/")[count % 4]
                try:
                    response = session.get(f"{server.url}{target}", timeout=REQUEST_TIMEOUT)
                except requests.RequestException as error:
                    reads.error(f"GET {target}: {error!r}")
                    continue
                with churn.lock:
                    sent = set(versions[name])
                if target in {"/api/files", "/"}:
                    good = response.status_code == 200
                else:  # a download is one whole version that was uploaded, or a 404
                    whole = response.status_code == 200 and sha256(response.content) in sent
                    good = whole or response.status_code == 404
                    if whole:
                        whole_versions.ok()
                if good:
                    reads.ok(number)
                else:
                    reads.error(f"GET {target}: {response.status_code}")

        workers: list[Callable[[], None]] = [
            *(functools.partial(churner, n) for n in range(CHURNERS)),
            *(functools.partial(reader, n) for n in range(CHURN_READERS)),
        ]
        run_threads(workers, window)
        wait_until(lambda: leftovers(library) == [], "no temporary file is left")
        assert stored_files(library) == {}  # every version was deleted again
    ledger.record(
        f"audio library: {CHURNERS} upload-delete loops + {CHURN_READERS} readers, {CHURN_SECONDS:g} s",
        requests=2 * churn.requests + reads.requests,
        errors=len(churn.errors) + len(reads.errors),
        files=whole_versions.requests,
    )
    assert churn.errors == []
    assert reads.errors == []


def verify_library(server: RunningServer, library: Path, accepted: dict[str, str]) -> int:
    """Every accepted file is listed, on disk and served with the bytes sent; nothing else is there."""
    listed = requests.get(f"{server.url}/api/files", timeout=REQUEST_TIMEOUT).json()
    assert sorted(entry["name"] for entry in listed) == sorted(accepted)
    assert stored_files(library) == accepted
    assert leftovers(library) == []
    session = requests.Session()
    verified = 0
    for name, digest in accepted.items():
        served = session.get(f"{server.url}/files/{name}", timeout=REQUEST_TIMEOUT)
        assert served.status_code == 200
        assert sha256(served.content) == digest, name
        verified += 1
    return verified


# The credentials service


def expected_answer(species: str) -> tuple[int, bytes]:
    body = CREDENTIALS.get(species)
    return (200, json_body({"credentials": body})) if body else (404, json_body({"credentials": "Unknown"}))


SPECIES = [*CREDENTIALS, "Unknown Thing"]


def query(species: str) -> str:
    return "/?species=" + species.replace(" ", "%20")


def test_the_credentials_service_under_200_connections_and_slow_clients(ledger: Ledger) -> None:
    fast, slow = Tally(), Tally()
    with credentials_server() as service:
        window = Window(CREDENTIALS_SECONDS, CONNECTIONS + TRICKLERS + HALF_SENT)

        def keep_alive_client(number: int) -> None:
            connection = http.client.HTTPConnection(LOOPBACK, service.port, timeout=REQUEST_TIMEOUT)
            connection.connect()
            try:
                for count in window.turns(MAX_REQUESTS_EACH):
                    species = SPECIES[(number + count) % len(SPECIES)]
                    try:
                        connection.request("GET", query(species))
                        response = connection.getresponse()
                        answer = (response.status, response.read())
                    except OSError as error:
                        fast.error(f"{species}: {error!r}")
                        connection.close()
                        continue
                    if answer != expected_answer(species):
                        fast.error(f"{species}: {answer!r}")
                    else:
                        fast.ok(number)
            finally:
                connection.close()

        def trickler(number: int) -> None:
            """Sends each request one byte at a time."""
            species = SPECIES[number % len(SPECIES)]
            request = f"GET {query(species)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            for _ in window.turns(MAX_REQUESTS_EACH):
                bytewise = [request[i : i + 1] for i in range(len(request))]
                slow_exchange(service.port, species, bytewise, lambda: TRICKLE_PAUSE, slow)

        def half_sender(number: int) -> None:
            """Sends half its headers, sits on them until the load ends, then finishes the request."""
            species = SPECIES[number % len(SPECIES)]
            request = f"GET {query(species)} HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n".encode()
            window.ready.wait()
            slow_exchange(service.port, species, [request[:30], request[30:]], window.left, slow)

        workers: list[Callable[[], None]] = [
            *(functools.partial(keep_alive_client, n) for n in range(CONNECTIONS)),
            *(functools.partial(trickler, n) for n in range(TRICKLERS)),
            *(functools.partial(half_sender, n) for n in range(HALF_SENT)),
        ]
        run_threads(workers, window)
    ledger.record(
        f"credentials: {CONNECTIONS} connections + {TRICKLERS + HALF_SENT} slow clients, {CREDENTIALS_SECONDS:g} s",
        requests=fast.requests + slow.requests,
        errors=len(fast.errors) + len(slow.errors),
    )
    assert fast.errors == []
    assert slow.errors == []
    assert fast.starved(CONNECTIONS) == []
    assert slow.requests >= TRICKLERS + HALF_SENT
    assert fast.requests >= CONNECTIONS


def slow_exchange(port: int, species: str, pieces: list[bytes], pause: Callable[[], float], tally: Tally) -> None:
    """Send a request in pieces, sleeping `pause()` seconds between them, and check the answer."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=REQUEST_TIMEOUT) as sock:
            for index, piece in enumerate(pieces):
                if index:
                    time.sleep(pause())
                sock.sendall(piece)
            with sock.makefile("rb") as stream:
                response = read_response(stream)
    except OSError as error:
        tally.error(f"slow {species}: {error!r}")
        return
    if (response.status, response.body) != expected_answer(species):
        tally.error(f"slow {species}: {response.status} {response.body!r}")
    else:
        tally.ok()
