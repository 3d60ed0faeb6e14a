"""Measure how soon a 300 MB non-audio upload is refused, and what each refusal costs the server.

The upload: one file part of UPLOAD_BYTES that starts as a PDF (certainly not audio from its first bytes), sent
to a real server (waitress, bodies streamed to the application) on loopback. Measured:
- the time from the first byte sent to the 415's status line read, for a client sending at PACE (50 MB/s) and
  reading while it sends (as curl and browsers do); the baseline, in the same run: the time sending the whole
  body at that pace takes, which is what the answer waited for when waitress spooled bodies whole;
- the server's CPU (user + system, all threads) per refused upload, with curl sending as fast as loopback
  allows; the baseline: the server's CPU per honest upload of a WAV of the same size, stored and deleted.
Targets (issue 21): the 415 under 1 s after the first byte; at most 0.1 s of server CPU per refused upload.

The figures are written into docs/audio-library.md between the `bench:early-refusal` markers.
"""

import os
import platform
import select
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench.figures import measure_and_write, within
from devtools.multipart import PART_TAIL, part_head, upload_head
from devtools.rawhttp import read_response
from devtools.resources import cpu_seconds
from devtools.servers import LOOPBACK, REPO, RunningServer, audio_server
from devtools.sparse_files import sparse_pdf
from devtools.wav import write_silence


DOC = REPO / "docs" / "audio-library.md"
UPLOAD_BYTES = 300 * 1000 * 1000
PACE = 50 * 1000 * 1000  # bytes per second
CHUNK = 256 * 1024
PACED_ROUNDS = 5
CPU_ROUNDS = 10
HONEST_ROUNDS = 3
TIME_TARGET_S = 1.0
CPU_TARGET_S = 0.1


def paced_refusal(server: RunningServer) -> tuple[float, int]:
    """Send the PDF upload at PACE, reading while sending: (seconds from the first byte to the 415, bytes sent)."""
    head = part_head("holiday.mp4")
    request = upload_head(server.port, len(head) + UPLOAD_BYTES + len(PART_TAIL)) + head
    zeros = bytes(CHUNK)
    with socket.create_connection((LOOPBACK, server.port), timeout=60) as sock, sock.makefile("rb") as stream:
        started = time.perf_counter()
        sock.sendall(request + b"%PDF-1.4\n" + zeros[9:])
        sent = len(request) + CHUNK
        while sent < UPLOAD_BYTES and not select.select([sock], [], [], 0)[0]:
            ahead = sent / PACE - (time.perf_counter() - started)
            if ahead > 0 and select.select([sock], [], [], ahead)[0]:
                break
            sock.sendall(zeros)
            sent += CHUNK
        response = read_response(stream)
        elapsed = time.perf_counter() - started
    if response.status != 415:
        raise SystemExit(f"expected a 415, got {response.status}: {response.body[:200]!r}")
    return elapsed, sent


def curl_upload(server: RunningServer, path: Path) -> tuple[int, int]:
    """Upload the file with `curl -F` as fast as loopback goes: (status, bytes curl sent)."""
    url = f"{server.url}/api/files"
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}", "-F", f"file=@{path}", url],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    status, uploaded = done.stdout.split()
    return int(status), int(uploaded)


def cpu_per_upload(server: RunningServer, path: Path, rounds: int, status: int) -> tuple[float, list[int]]:
    """The server's CPU seconds per upload of `path` with curl (each answered `status`), and the bytes sent."""
    pid = server.process.pid
    sent = []
    before = cpu_seconds(pid)
    for _ in range(rounds):
        answered, uploaded = curl_upload(server, path)
        if answered != status:
            raise SystemExit(f"expected {status}, got {answered}")
        sent.append(uploaded)
        if status != 415:  # an honest upload: delete it so that the next one is stored again
            requests.delete(f"{server.url}/api/files/{path.name}", timeout=60).raise_for_status()
    return (cpu_seconds(pid) - before) / rounds, sent


def measure(folder: Path) -> list[str]:
    """Measure both figures and their baselines; return the doc's lines."""
    load_before = os.getloadavg()[0]
    library = folder / "library"
    library.mkdir()
    pdf = sparse_pdf(folder / "holiday.mp4", UPLOAD_BYTES)
    wav = write_silence(folder / "honest.wav", UPLOAD_BYTES - 44)
    with audio_server(library) as server:
        paced = [paced_refusal(server) for _ in range(PACED_ROUNDS)]
        refused_cpu, refused_sent = cpu_per_upload(server, pdf, CPU_ROUNDS, 415)
        honest_cpu, _ = cpu_per_upload(server, wav, HONEST_ROUNDS, 201)
    load_after = os.getloadavg()[0]
    seconds = statistics.median(elapsed for elapsed, _ in paced)
    worst = max(elapsed for elapsed, _ in paced)
    whole = UPLOAD_BYTES / PACE
    sent_paced = statistics.median(sent for _, sent in paced)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Measured by `make bench` on {when}: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{sys.version.split()[0]}, load average {load_before:.1f} at the start and {load_after:.1f} at the end "
        f"(a shared, noisy machine). A {UPLOAD_BYTES / 1e6:.0f} MB upload starting as a PDF, to `Flask/server.py` on "
        "loopback:",
        "",
        "| figure | measured | baseline, same run | ratio | target |",
        "| --- | --- | --- | --- | --- |",
        f"| first byte to the 415, sent at {PACE / 1e6:.0f} MB/s (median of {PACED_ROUNDS}; worst {worst:.2f} s) "
        f"| {seconds:.2f} s, {sent_paced / 1e6:.1f} MB sent | {whole:.1f} s: the whole body at that pace "
        f"| {seconds / whole:.3f}x | < {TIME_TARGET_S:.0f} s: {within(seconds, TIME_TARGET_S)} |",
        f"| server CPU per refused upload, `curl -F` at loopback speed (mean of {CPU_ROUNDS}) "
        f"| {refused_cpu:.3f} s, curl sent {statistics.median(refused_sent) / 1e6:.1f} MB "
        f"| {honest_cpu:.3f} s per honest upload of a WAV that size (mean of {HONEST_ROUNDS}) "
        f"| {refused_cpu / honest_cpu:.3f}x | <= {CPU_TARGET_S} s: {within(refused_cpu, CPU_TARGET_S)} |",
    ]


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:early-refusal")


if __name__ == "__main__":
    sys.exit(main())
