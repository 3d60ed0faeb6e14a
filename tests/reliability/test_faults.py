"""Faults against the real server: clients vanishing mid-upload, a full disk, SIGKILL, an unwritable folder.

Each test ends by proving nothing was lost or left half-written: the library lists exactly what it held
before, every file is byte-identical, no temporary file or open spool remains, and the next upload works.
"""

import contextlib
import errno
import io
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import BinaryIO

import pytest
import requests
from audio_library import create_app
from audio_library.library.storage import Library
from audio_library.web.current_library import get_library

from devtools.multipart import CONTENT_TYPE, Part, multipart, upload_head
from devtools.rawhttp import read_response
from devtools.resources import descriptors, open_files_under
from devtools.servers import AUDIO_SERVER, LOOPBACK, REPO, RunningServer, audio_server, free_port
from devtools.wav import noise_wav
from tests.library_folders import leftovers, sha256, stored_files
from tests.polling import wait_until
from tests.reliability.ledger import Ledger
from tests.reliability.mounts import MountNotPermittedError, tmpfs


SCENARIO = "faults"
DISK_FULL = "The library's disk is full: nothing from this upload was stored."


def seed_library(server: RunningServer, count: int = 3) -> dict[str, str]:
    """Upload a few files through the server; return name -> SHA-256 of what it stored."""
    stored = {}
    for seed in range(count):
        content = noise_wav(1000 + seed)
        response = requests.post(f"{server.url}/api/files", files={"file": (f"kept-{seed}.wav", content)}, timeout=30)
        assert response.status_code == 201
        stored[response.json()["files"][0]["name"]] = sha256(content)
    return stored


def listing(server: RunningServer) -> dict[str, int]:
    """Name -> size, as the server lists its library."""
    response = requests.get(f"{server.url}/api/files", timeout=30)
    assert response.status_code == 200
    return {entry["name"]: entry["size"] for entry in response.json()}


def assert_intact(server: RunningServer, library: Path, before: dict[str, str], ledger: Ledger) -> None:
    """The library holds exactly `before`, byte for byte, on disk and in the listing, with no temporaries."""
    assert stored_files(library) == before
    assert sorted(listing(server)) == sorted(before)
    for name, digest in before.items():
        served = requests.get(f"{server.url}/files/{name}", timeout=30)
        assert served.status_code == 200
        assert sha256(served.content) == digest
    assert leftovers(library) == []
    ledger.record(SCENARIO, requests=1 + len(before), files=len(before))


def assert_still_accepts_uploads(server: RunningServer, library: Path, ledger: Ledger) -> None:
    """A fresh upload after the fault is stored and listed."""
    content = noise_wav(4242)
    response = requests.post(f"{server.url}/api/files", files={"file": ("after.wav", content)}, timeout=30)
    assert response.status_code == 201
    assert sha256((library / "after.wav").read_bytes()) == sha256(content)
    ledger.record(SCENARIO, requests=1, files=1)


# A client that disconnects mid-upload


def chunked_head(head: bytes) -> bytes:
    """The same request head, announcing a chunked body instead of its length."""
    length = head.index(b"Content-Length:")
    return head[:length] + b"Transfer-Encoding: chunked\r\n\r\n"


def chunked(data: bytes, size: int = 65_536) -> bytes:
    """Bytes in HTTP/1.1 chunks, without the last (empty) chunk: a body still on its way."""
    return b"".join(b"%x\r\n%b\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size))


@pytest.mark.parametrize(
    "cut",
    ["in-headers", "in-part-headers", "early-body", "spooled-body", "spooled-chunked-body", "before-last-boundary"],
)
def test_a_client_vanishing_mid_upload_leaves_nothing(tmp_path: Path, ledger: Ledger, cut: str) -> None:
    library = tmp_path / "library"
    with audio_server(library) as server:
        before = seed_library(server)
        baseline = descriptors(server.process.pid)
        body = multipart([Part(noise_wav(7, seconds=120), b"vanishing.wav")])  # 1.9 MB: waitress spools it
        head = upload_head(server.port, len(body))
        sent = {
            "in-headers": head[: len(head) // 2],
            "in-part-headers": head + body[:40],
            "early-body": head + body[:10_000],
            "spooled-body": head + body[: len(body) // 2],
            "spooled-chunked-body": chunked_head(head) + chunked(body[: len(body) // 2]),
            "before-last-boundary": head + body[:-10],
        }[cut]
        with socket.create_connection((LOOPBACK, server.port), timeout=30) as sock:
            sock.sendall(sent)
            if cut.startswith("spooled") or cut == "before-last-boundary":
                # Past 512 KiB the body is in a file (waitress's spool, or the upload's temporary file): see it open
                # before hanging up, or the checks below could pass before the server had even read the body.
                wait_until(lambda: open_files_under(server.process.pid, library) != [], "the body is in a file")
        wait_until(lambda: open_files_under(server.process.pid, library) == [], "the spool file is closed")
        wait_until(lambda: leftovers(library) == [], "no temporary file is left in the library")
        wait_until(lambda: descriptors(server.process.pid) <= baseline, "the connection's descriptors are closed")
        assert_intact(server, library, before, ledger)
        assert_still_accepts_uploads(server, library, ledger)
    ledger.record(SCENARIO, requests=len(before) + 1, faults=1)


# The disk filling up


def send_and_read(port: int, request: bytes) -> tuple[int, dict[str, object]]:
    """Send a whole request on a raw socket, then read the response: status and JSON body."""
    with socket.create_connection((LOOPBACK, port), timeout=60) as sock, sock.makefile("rb") as stream:
        sock.sendall(request)
        response = read_response(stream)
    body = response.json()
    assert isinstance(body, dict)
    return response.status, body


def upload_on_a_full_disk(server: RunningServer, body: bytes, ledger: Ledger) -> tuple[int, dict[str, object]]:
    """Send a whole upload; its status and JSON body. A reset or a 5xx other than 507 is counted an error."""
    try:
        status, answer = send_and_read(server.port, upload_head(server.port, len(body)) + body)
    except OSError:
        ledger.record(SCENARIO, requests=1, errors=1)
        raise
    ledger.record(SCENARIO, requests=1, errors=int(status >= 500 and status != 507))
    return status, answer


def used_bytes(folder: Path) -> int:
    """Bytes in use on the filesystem holding `folder`."""
    stats = os.statvfs(folder)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


@pytest.mark.parametrize(
    ("seconds", "where"),
    [
        (200.0, "the server's spool of the body"),  # 3.2 MB: more than the whole disk
        (1000.0, "the server's spool, the rest of the body still on its way"),  # 16 MB: read only at the end
        # 2.1 MB: just past the free space. The body streams into the library's temporary file with no spool
        # beside it, so that file is where the disk fills (a 1.1 MB body, spooled and copied once, is now stored).
        (132.0, "the library's temporary file"),
    ],
    ids=["body-larger-than-disk", "body-eight-times-the-disk", "copy-larger-than-free-space"],
)
def test_a_full_disk_is_a_507_and_leaves_nothing(tmp_path: Path, ledger: Ledger, seconds: float, where: str) -> None:
    try:
        with tmpfs(tmp_path / "small-disk", "2m") as library:
            log = tmp_path / "server.log"
            with log.open("wb") as stderr, audio_server(library, stderr=stderr.fileno()) as server:
                before = seed_library(server)
                wait_until(lambda: open_files_under(server.process.pid, library) == [], "the seeding is done")
                baseline = used_bytes(library)
                body = multipart([Part(noise_wav(8, seconds=seconds), b"too-big.wav")])
                assert upload_on_a_full_disk(server, body, ledger) == (507, {"error": DISK_FULL}), where
                wait_until(lambda: open_files_under(server.process.pid, library) == [], "the spool is closed")
                assert leftovers(library) == []
                wait_until(lambda: used_bytes(library) <= baseline, "every byte of the failed upload is given back")
                assert_intact(server, library, before, ledger)
                assert_still_accepts_uploads(server, library, ledger)
            output = log.read_bytes()
            assert b"Traceback" not in output
            assert b"uncaptured python exception" not in output
    except MountNotPermittedError:
        disk_full_injected_at_the_storage_layer(tmp_path / "library")
    ledger.record(SCENARIO, faults=1)


def test_a_disk_full_to_the_brim_still_serves_and_refuses_uploads_clearly(tmp_path: Path, ledger: Ledger) -> None:
    try:
        with tmpfs(tmp_path / "full-disk", "2m") as library, audio_server(library) as server:
            before = seed_library(server)
            with (library / ".filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
                for _ in range(64):  # 4 MiB: more than the disk; written by other means, until nothing fits
                    filler.write(bytes(65536))
            for size in (4_000, 100_000, 1_000_000):  # in memory, and spooled, in waitress
                body = multipart([Part(noise_wav(size, seconds=size / 16_000), b"no-room.wav")])
                assert upload_on_a_full_disk(server, body, ledger) == (507, {"error": DISK_FULL}), size
            (library / ".filler").unlink()
            assert_intact(server, library, before, ledger)  # listing and downloads worked on the full disk too
            assert_still_accepts_uploads(server, library, ledger)
    except MountNotPermittedError:
        disk_full_injected_at_the_storage_layer(tmp_path / "library")
    ledger.record(SCENARIO, faults=1)


class _FullDisk(io.RawIOBase):
    """A file on a disk with no space left: every write fails as the kernel reports it."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def disk_full_injected_at_the_storage_layer(library_dir: Path) -> None:
    """Where no tmpfs can be mounted: the same outcome with ENOSPC injected into the library's writes."""
    app = create_app({"TESTING": True, "LIBRARY_DIR": library_dir})
    library: Library = get_library(app)
    real_create = library.create_temporary

    def create_on_full_disk() -> tuple[Path, BinaryIO]:
        path, sink = real_create()
        sink.close()
        return path, io.BufferedWriter(_FullDisk())

    library.create_temporary = create_on_full_disk  # type: ignore[method-assign]
    try:
        body = multipart([Part(noise_wav(8, seconds=2), b"song.wav")])
        response = app.test_client().post("/api/files", data=body, content_type=CONTENT_TYPE)
        assert (response.status_code, response.json) == (507, {"error": DISK_FULL})
        assert leftovers(library_dir) == []
        assert stored_files(library_dir) == {}
    finally:
        library.close()


# The server killed mid-upload


def upload_temporaries(library: Path) -> list[str]:
    """The hidden files the app writes uploads to, before their rename into place."""
    return [name for name in leftovers(library) if name.startswith(".upload-")]


def kill_while_storing(server: RunningServer, library: Path) -> None:
    """SIGKILL the server while it copies an upload into its temporary file in the library.

    64 MB take the server a moment to copy; it is killed as soon as the temporary file appears.
    """
    already = set(upload_temporaries(library))
    body = multipart([Part(noise_wav(9, seconds=4000), b"killed.wav")])
    with socket.create_connection((LOOPBACK, server.port), timeout=60) as sock:
        sock.sendall(upload_head(server.port, len(body)) + body)
        wait_until(lambda: set(upload_temporaries(library)) > already, "the server writes its temporary file", 60)
        server.stop(signal.SIGKILL)
    assert set(upload_temporaries(library)) > already  # left behind by the killed process


def instance_locks(library: Path) -> list[str]:
    """The lock files of the server processes using the folder."""
    return sorted(name for name in os.listdir(library) if name.startswith(".instance-"))


@pytest.mark.parametrize("moment", ["while-receiving", "while-storing"])
def test_a_server_killed_mid_upload_restarts_clean(tmp_path: Path, ledger: Ledger, moment: str) -> None:
    library = tmp_path / "library"
    with audio_server(library) as first:
        before = seed_library(first)
        if moment == "while-receiving":
            body = multipart([Part(noise_wav(9, seconds=120), b"killed.wav")])
            head = upload_head(first.port, len(body))
            with socket.create_connection((LOOPBACK, first.port), timeout=30) as sock:
                sock.sendall(head + body[: len(body) // 2])
                wait_until(lambda: open_files_under(first.process.pid, library) != [], "the body is spooled")
                first.stop(signal.SIGKILL)
        else:
            kill_while_storing(first, library)
        assert first.process.returncode == -signal.SIGKILL
    with audio_server(library) as second:
        assert leftovers(library) == []  # the dead process's temporaries are gone, and its lock file
        assert len(instance_locks(library)) == 1
        assert_intact(second, library, before, ledger)
        assert_still_accepts_uploads(second, library, ledger)
    ledger.record(SCENARIO, requests=len(before), faults=1)


def test_a_restart_beside_a_live_server_removes_only_the_dead_ones_leftovers(tmp_path: Path, ledger: Ledger) -> None:
    library = tmp_path / "library"
    with audio_server(library) as survivor:
        before = seed_library(survivor)
        (survivor_lock,) = instance_locks(library)
        instance = survivor_lock.removeprefix(".instance-").removesuffix(".lock")
        in_progress = library / f".upload-{instance}-{'0' * 16}.part"  # as if the survivor were mid-upload
        in_progress.write_bytes(b"the first half of an upload")
        with audio_server(library) as victim:
            kill_while_storing(victim, library)
        assert len(upload_temporaries(library)) == 2
        with audio_server(library) as newcomer:
            assert upload_temporaries(library) == [in_progress.name]  # the live server's work is left alone
            assert survivor_lock in instance_locks(library)
            assert len(instance_locks(library)) == 2  # the survivor's and the newcomer's: the victim's is gone
            in_progress.unlink()
            assert_intact(newcomer, library, before, ledger)
            assert_still_accepts_uploads(survivor, library, ledger)
            assert listing(survivor) == listing(newcomer)
    ledger.record(SCENARIO, requests=2, faults=1)


# An unwritable library folder


def start_expecting_failure(library: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, AUDIO_SERVER, "--library", str(library), "--port", str(free_port())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_read_only_library_is_refused_at_start_up(tmp_path: Path, ledger: Ledger) -> None:
    try:
        with tmpfs(tmp_path / "read-only", "1m", read_only=True) as library:
            finished = start_expecting_failure(library)
    except MountNotPermittedError as refused:
        pytest.skip(str(refused))
    assert finished.returncode == 2
    assert finished.stderr == f"server.py: the library folder {library} is not writable: Read-only file system\n"
    ledger.record(SCENARIO, faults=1)


def test_a_library_under_a_file_is_refused_at_start_up(tmp_path: Path, ledger: Ledger) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    finished = start_expecting_failure(blocker / "library")
    assert finished.returncode == 2
    assert finished.stderr == f"server.py: cannot create the library folder {blocker / 'library'}: Not a directory\n"
    ledger.record(SCENARIO, faults=1)
