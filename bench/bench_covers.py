"""Measure what files whose tags multiply cost the audio library server: the upload that examines them, then
their covers asked for CONCURRENT at a time.

Each row is one fresh server (waitress) given one file of devtools/multiplying_tags.py: the shapes the probe
of issue 21 found (an M4A `covr` of 122,000 empty data atoms, an Ogg packet of 190,000 comments) and their kin
in every tag family. Measured on the server process: its CPU time (user + system, all threads) per upload,
over UPLOADS uploads, and per cover request over ROUNDS rounds of CONCURRENT requests, and its peak RSS
(VmHWM) for the whole row.
The baseline, in the same run: the small tagged MP3 fixture, whose cover is the same 765-byte JPEG.
Targets: peak RSS < 150 MB.

The figures are written into docs/audio-library.md between the `bench:covers` markers.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests

from bench.figures import measure_and_write, measured_on, within
from devtools.corpus import FIXTURES_DIR
from devtools.multiplying_tags import FAMILIES, Multiplied
from devtools.resources import cpu_seconds, peak_rss
from devtools.servers import audio_server


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
CONCURRENT = 8
UPLOADS = 5  # of each file, one after the other: the CPU clock ticks every 10 ms
ROUNDS = 5
RSS_TARGET = 150 * 1000 * 1000
ROWS = [
    ("mp4", 122_000, 0, 1, "M4A, `covr` of 122,000 empty data atoms"),
    ("mp4", 20_000, 40, 64, "M4A, 20,000 values, items nested 64 deep"),
    ("ogg", 190_000, 0, 1, "Ogg Vorbis, 190,000 distinct comments"),
    ("flac", 190_000, 0, 1, "FLAC, 190,000 comments"),
    ("flac", 2_000, 500, 200, "FLAC, 3,200 picture and padding blocks"),
    ("id3", 190_000, 0, 1, "MP3, ID3v2 of 95,000 frames"),
    ("id3", 1_000, 1_000, 60, "MP3, ID3v2 chapters nested 60 deep"),
    ("ape", 100_000, 0, 1, "MP3, APEv2 of 100,000 items (not read)"),
    ("matroska", 100_000, 0, 1, "Matroska, 100,000 Tags (not read)"),
]


@dataclass(frozen=True)
class Row:
    """What one file cost a fresh server."""

    label: str
    size: int
    upload_status: int
    upload_cpu: float
    cover_cpu: float | None  # per request; None when the upload was refused
    statuses: set[int]
    peak_rss: int


def measure_file(library: Path, label: str, built: Multiplied) -> Row:
    """Upload one file UPLOADS times to a fresh server, then ask for its cover ROUNDS x CONCURRENT times."""
    with audio_server(library) as server:
        pid = server.process.pid
        before = cpu_seconds(pid)
        for number in range(UPLOADS):
            named = (f"{number}-{built.name}", built.data)
            sent = requests.post(f"{server.url}/api/files", files={"file": named}, timeout=60)
        upload_cpu = (cpu_seconds(pid) - before) / UPLOADS
        if sent.status_code != 201:  # refused (the detector cannot vouch for it): no cover to ask for
            return Row(label, len(built.data), sent.status_code, upload_cpu, None, set(), peak_rss(pid))
        (stored,) = sent.json()["files"]
        url = f"{server.url}/files/{quote(stored['name'])}/cover"
        before = cpu_seconds(pid)
        with ThreadPoolExecutor(CONCURRENT) as pool:
            statuses = set(pool.map(lambda _: requests.get(url, timeout=60).status_code, range(ROUNDS * CONCURRENT)))
        cover_cpu = (cpu_seconds(pid) - before) / (ROUNDS * CONCURRENT)
        peak = peak_rss(pid)
    return Row(label, len(built.data), sent.status_code, upload_cpu, cover_cpu, statuses, peak)


def measure(work: Path) -> list[str]:
    load_start = os.getloadavg()[0]
    baseline = measure_file(
        work / "baseline", "baseline: tagged.mp3", Multiplied("tagged.mp3", (FIXTURES_DIR / "tagged.mp3").read_bytes())
    )
    rows = [
        measure_file(work / f"row-{index}", label, FAMILIES[family](count, size, depth))
        for index, (family, count, size, depth, label) in enumerate(ROWS)
    ]
    lines = [
        measured_on("bench_covers.py", (load_start, os.getloadavg()[0])),
        f"One fresh server per row: {UPLOADS} uploads of the file, then {ROUNDS} x {CONCURRENT} concurrent requests "
        "for its cover; server CPU is user + system time of the server process, peak RSS its VmHWM over the row.",
        "",
        "| file | size | upload: answer, CPU | ratio | CPU per cover | ratio | cover answers | server peak RSS |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in [baseline, *rows]:
        lines.append(
            f"| {row.label} | {row.size / 1e6:.2f} MB | {row.upload_status}, {row.upload_cpu * 1000:.0f} ms | "
            f"{ratio(row.upload_cpu, baseline.upload_cpu)} | {milliseconds(row.cover_cpu)} | "
            f"{ratio(row.cover_cpu, baseline.cover_cpu)} | {', '.join(map(str, sorted(row.statuses))) or '—'} | "
            f"{row.peak_rss / 1e6:.0f} MB |"
        )
    worst = max(row.peak_rss for row in [baseline, *rows])
    lines += [
        "",
        f"Worst server peak RSS: {worst / 1e6:.0f} MB (target < {RSS_TARGET / 1e6:.0f} MB: "
        f"{within(worst, RSS_TARGET)}).",
    ]
    return lines


def ratio(value: float | None, baseline: float | None) -> str:
    """A figure next to the baseline's; CPU times below the clock's tick read as 0, and have no ratio."""
    return f"{value / baseline:.2f}x" if value is not None and baseline else "—"


def milliseconds(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f} ms"


if __name__ == "__main__":
    sys.exit(measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:covers"))
