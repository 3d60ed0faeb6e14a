"""Measure what hostile uploads cost the audio library server: four concurrent 400 MB crafted files per family.

For each container family of devtools/hostile.py (files whose lengths lie, all refused as non-audio), four
uploads of UPLOAD_BYTES each are streamed at once from generators (nothing is built in memory) to one real
server (waitress). Measured on the server process: its peak RSS during the round (sampled every 20 ms) and
its CPU time (user + system, all threads) per upload; and, in this process, the CPU that detecting and
probing one such file takes. The baseline, in the same run: four honest uploads of the same size (WAVs of
noise, stored, then deleted); and the floor: the same bodies sent to a route that answers 404 at once, which
waitress still receives whole (it spools every body before the application runs).
Targets: peak RSS <= 150 MiB, CPU <= 0.5 s per refused upload.

The figures are written into docs/audio-library.md between the `bench:hostile` markers.
"""

import argparse
import dataclasses
import os
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests
from audio_library.media.detection import detect_audio_type, probe_duration

from bench.figures import measured_on, within, write_between_markers
from devtools.hostile import HOSTILE
from devtools.multipart import upload_chunks
from devtools.resources import cpu_seconds
from devtools.servers import RunningServer, audio_server


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
UPLOAD_BYTES = 400 * 1000 * 1000
CONCURRENT = 4
RSS_TARGET = 150 * 1024 * 1024
CPU_TARGET_S = 0.5
SAMPLE_EVERY_S = 0.02
NOISE = os.urandom(1024 * 1024)


def honest_wav(size: int) -> Iterator[bytes]:
    """A 16-bit stereo 44.1 kHz WAV of noise, exactly ``size`` bytes, in 1 MiB chunks."""
    data = size - 44
    yield b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16)
    yield b"data" + struct.pack("<I", data)
    left = data
    while left > 0:
        piece = NOISE[: min(left, len(NOISE))]
        yield piece
        left -= len(piece)


def rss_bytes(pid: int) -> int:
    """The process's resident set size now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


@dataclass(frozen=True)
class Round:
    """What one round of concurrent uploads cost the server."""

    label: str
    statuses: list[int]
    cpu_per_upload: float
    peak_rss: int
    seconds: float
    detection_cpu: float | None = None  # detecting and probing one such file in this process


def upload_round(
    server: RunningServer, label: str, chunks: Callable[[int], Iterator[bytes]], size: int, path: str = "/api/files"
) -> Round:
    """CONCURRENT uploads of ``size`` bytes at once to ``path``; the server's CPU and peak RSS while they ran."""
    pid = server.process.pid
    peak = rss_bytes(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(SAMPLE_EVERY_S):
            peak = max(peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    cpu_before, started = cpu_seconds(pid), time.perf_counter()
    sampler.start()
    try:
        with ThreadPoolExecutor(CONCURRENT) as pool:
            names = [f"{label}-{number}.upload" for number in range(CONCURRENT)]
            results = list(pool.map(lambda name: upload_chunks(server.port, name, size, chunks(size), path), names))
    finally:
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    for status, body in results:
        if status == 201:
            for stored in body["files"]:  # type: ignore[attr-defined]
                requests.delete(f"{server.url}/api/files/{stored['name']}", timeout=60).raise_for_status()
    return Round(label, [status for status, _ in results], cpu / CONCURRENT, max(peak, rss_bytes(pid)), seconds)


def detection_cpu(chunks: Callable[[int], Iterator[bytes]], size: int, folder: Path) -> float:
    """CPU seconds this process spends detecting (and probing, if audio) one such file written to disk."""
    path = folder / "detected.upload"
    with path.open("wb") as sink:
        for chunk in chunks(size):
            sink.write(chunk)
    started = time.process_time()
    mime = detect_audio_type(path)
    if mime is not None:
        probe_duration(path, mime)
    spent = time.process_time() - started
    path.unlink()
    return spent


def figures(rounds: list[Round], baseline: Round, floor: Round, size: int, load: tuple[float, float]) -> list[str]:
    """The Markdown table of the rounds, each next to the baseline."""
    lines = [
        measured_on("bench_hostile_uploads.py", load),
        f"{CONCURRENT} concurrent uploads of {size / 1e6:,.0f} MB per row to one real server (waitress); server "
        "CPU is user + system time of the server process per upload, peak RSS is sampled every 20 ms.",
        "",
        "| family: how it lies | answers | server CPU per upload | ratio to honest | detection CPU, in-process | "
        "server peak RSS | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| baseline: honest WAV of noise, stored | {', '.join(map(str, baseline.statuses))} | "
        f"{baseline.cpu_per_upload:.2f} s | 1.00x | {milliseconds(baseline.detection_cpu)} | "
        f"{baseline.peak_rss / 2**20:.0f} MiB | {baseline.seconds:.1f} s |",
        f"| floor: the same bodies to a route that answers 404 at once | {', '.join(map(str, floor.statuses))} | "
        f"{floor.cpu_per_upload:.2f} s | {floor.cpu_per_upload / baseline.cpu_per_upload:.2f}x | — | "
        f"{floor.peak_rss / 2**20:.0f} MiB | {floor.seconds:.1f} s |",
    ]
    for result in rounds:
        lines.append(
            f"| {result.label}: {HOSTILE[result.label].lie} | {', '.join(map(str, result.statuses))} | "
            f"{result.cpu_per_upload:.2f} s | {result.cpu_per_upload / baseline.cpu_per_upload:.2f}x | "
            f"{milliseconds(result.detection_cpu)} | {result.peak_rss / 2**20:.0f} MiB | {result.seconds:.1f} s |"
        )
    worst_cpu = max(result.cpu_per_upload for result in rounds)
    worst_rss = max(result.peak_rss for result in [*rounds, baseline])
    lines += [
        "",
        f"Worst server peak RSS: {worst_rss / 2**20:.0f} MiB (target <= {RSS_TARGET / 2**20:.0f} MiB: "
        f"{within(worst_rss, RSS_TARGET)}). Worst server CPU per refused upload: {worst_cpu:.2f} s (target <= "
        f"{CPU_TARGET_S} s: {within(worst_cpu, CPU_TARGET_S)}).",
    ]
    return lines


def milliseconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=UPLOAD_BYTES, help="bytes per upload")
    parser.add_argument("--family", action="append", choices=sorted(HOSTILE), help="only these families")
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the docs alone")
    arguments = parser.parse_args()
    families = arguments.family or list(HOSTILE)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as temporary:
        work = Path(temporary)
        with audio_server(work / "library") as server:
            baseline = upload_round(server, "honest", honest_wav, arguments.size)
            floor = upload_round(server, "floor", honest_wav, arguments.size, path="/api/nowhere")
            rounds = [upload_round(server, family, HOSTILE[family].chunks, arguments.size) for family in families]
        baseline = dataclasses.replace(baseline, detection_cpu=detection_cpu(honest_wav, arguments.size, work))
        rounds = [
            dataclasses.replace(result, detection_cpu=detection_cpu(HOSTILE[result.label].chunks, arguments.size, work))
            for result in rounds
        ]
    lines = figures(rounds, baseline, floor, arguments.size, (load_start, os.getloadavg()[0]))
    print("\n".join(lines))
    complete = arguments.family is None and arguments.size == UPLOAD_BYTES
    if not arguments.no_write and complete:  # only a complete run replaces the docs' figures
        write_between_markers(DOC, "bench:hostile", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
