"""Measure FFmpeg's part of the audio library: the second judge per upload, transcoding, and memory.

1. The added CPU cost of the second judge for a 10 MB upload the built-in parsers do not accept (a CAF of
   PCM), parent and child together, next to the first judge's cost for a 10 MB WAV in the same run (target:
   <= 0.3 s of CPU per upload). Median of ROUNDS.
2. Transcode speed: seconds of audio per CPU-second of the (single-threaded) child, for Opus in WebM and for
   MP3, from a 10-minute AC-3 (target: >= 20x real time on one core).
3. Peak RSS of a real server that judged the 10 MB upload and made both copies of it, and of one child
   (its whole process: Python, PyAV and FFmpeg) judging and transcoding.

The figures are written into docs/audio-library.md between the `bench:media` markers.
"""

import os
import resource
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import requests
from audio_library.library.playable_copies import transcode_limits
from audio_library.media.detection import detect_audio_type, probe_duration
from audio_library.media.sandbox import CHILD
from audio_library.media.second_judge import DECODE_SECONDS, JUDGE_LIMITS, SecondJudge

from bench.figures import measure_and_write, verdict, within
from devtools.resources import peak_rss, run_with_peak_rss
from devtools.servers import audio_server


DOC = Path(__file__).resolve().parent.parent / "docs" / "audio-library.md"
ROUNDS = 7
UPLOAD_SECONDS = 60  # 60 s of 16-bit stereo PCM at 44.1 kHz: 10.6 MB
TRANSCODED_SECONDS = 600
JUDGE_TARGET_S = 0.3
SPEED_TARGET = 20.0


def ffmpeg(*arguments: str) -> None:
    """Run ffmpeg quietly."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments], check=True, timeout=600)


def make_files(work: Path) -> dict[str, Path]:
    """The 10 MB CAF and WAV (noise, so nothing compresses), and the 10-minute AC-3."""
    noise = f"anoisesrc=d={UPLOAD_SECONDS}:r=44100:a=0.3"
    files = {"caf": work / "upload.caf", "wav": work / "upload.wav", "ac3": work / "long.ac3"}
    ffmpeg("-f", "lavfi", "-i", noise, "-ac", "2", "-c:a", "pcm_s16le", str(files["caf"]))
    ffmpeg("-f", "lavfi", "-i", noise, "-ac", "2", "-c:a", "pcm_s16le", str(files["wav"]))
    music = f"sine=frequency=440:duration={TRANSCODED_SECONDS}:sample_rate=48000"
    ffmpeg("-f", "lavfi", "-i", music, "-ac", "2", "-c:a", "ac3", "-b:a", "192k", str(files["ac3"]))
    return files


def cpu_now() -> float:
    """CPU seconds of this process and of its reaped children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_cpu(action: Callable[[], object]) -> float:
    """The median CPU time (this process and its children) of ROUNDS runs of the action."""
    samples = []
    for _ in range(ROUNDS):
        before = cpu_now()
        action()
        samples.append(cpu_now() - before)
    return statistics.median(samples)


def first_judge(path: Path) -> None:
    """What the built-in parsers do for an upload they accept: detect, then probe the duration."""
    mime = detect_audio_type(path)
    assert mime is not None
    probe_duration(path, mime)


def child_command(task: str, source: Path, work: Path, kind: str = "webm") -> list[str]:
    """A shell command that execs the media child on `source` (descriptor 3, output on 4), so that what the
    kernel counts for the shell's process is the child's own."""
    duration = UPLOAD_SECONDS if task == "measure" else TRANSCODED_SECONDS
    limits = JUDGE_LIMITS if task == "measure" else transcode_limits(duration)
    numbers = [str(limits.cpu_seconds), str(limits.memory_bytes), str(limits.file_bytes)]
    task_arguments = ["3", str(DECODE_SECONDS)] if task == "measure" else ["3", "4", kind]
    parts = [sys.executable, "-I", str(CHILD), task, *numbers, *task_arguments]
    quoted = " ".join(shlex.quote(part) for part in parts)
    return ["sh", "-c", f"exec {quoted} 3<{shlex.quote(str(source))} 4>{shlex.quote(str(work / f'copy.{kind}'))}"]


def transcode_speed(source: Path, kind: str, work: Path) -> float:
    """Seconds of audio transcoded per CPU-second of the child."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(child_command("transcode", source, work, kind), check=True, capture_output=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return TRANSCODED_SECONDS / cpu


def child_peak_rss(source: Path, task: str, work: Path) -> int:
    """The peak RSS of one child doing `task` (measure, or transcode to WebM) on the file."""
    return run_with_peak_rss(child_command(task, source, work)).peak_rss


def server_peak_rss(work: Path, upload: Path) -> int:
    """A real server's peak RSS after it judged the upload and made both copies of it."""
    with audio_server(work / "library") as server:
        with upload.open("rb") as body:
            answer = requests.post(f"{server.url}/api/files", files={"file": ("upload.caf", body)}, timeout=120)
        assert answer.status_code == 201, answer.text
        for kind in ("webm", "mp3"):
            copy = requests.get(f"{server.url}/files/upload.caf/playable?as={kind}", timeout=600)
            assert copy.status_code == 200, copy.text
        return peak_rss(server.process.pid)


def measure(work: Path) -> list[str]:
    """Run the measurements; the Markdown that reports them."""
    files = make_files(work)
    load_before = os.getloadavg()[0]
    judge = SecondJudge()
    assert judge.judge(files["caf"]).type == "audio/x-caf"
    second = median_cpu(lambda: judge.judge(files["caf"]))
    first = median_cpu(lambda: first_judge(files["wav"]))
    speeds = {kind: transcode_speed(files["ac3"], kind, work) for kind in ("webm", "mp3")}
    judging_child = child_peak_rss(files["caf"], "measure", work)
    transcoding_child = child_peak_rss(files["ac3"], "transcode", work)
    server = server_peak_rss(work, files["caf"])
    load_after = os.getloadavg()[0]
    size_mb = files["caf"].stat().st_size / 1e6
    slowest = min(speeds.values())
    return [
        f"Measured by `make bench` (`bench/bench_media.py`) on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load_before:.1f} at the start "
        f"and {load_after:.1f} at the end (a shared, noisy machine); CPU is user + system time, median of "
        f"{ROUNDS} runs.",
        "",
        "| measured | figure | baseline in the same run | ratio | target |",
        "| --- | --- | --- | --- | --- |",
        f"| second judge, CPU per upload of a {size_mb:.1f} MB CAF (server and child) | {second:.3f} s | "
        f"first judge, {size_mb:.1f} MB WAV: {first * 1000:.1f} ms | {second / first:,.0f}x | <= {JUDGE_TARGET_S} s: "
        f"{within(second, JUDGE_TARGET_S)} |",
        f"| transcode, {TRANSCODED_SECONDS // 60}-minute AC-3 to Opus in WebM (96 kbit/s), one core | "
        f"{speeds['webm']:.0f}x real time | — | — | >= {SPEED_TARGET:.0f}x: "
        f"{verdict(speeds['webm'] >= SPEED_TARGET)} |",
        f"| transcode, the same to MP3 (160 kbit/s), one core | {speeds['mp3']:.0f}x real time | Opus: "
        f"{speeds['webm']:.0f}x | {speeds['mp3'] / speeds['webm']:.2f}x | >= {SPEED_TARGET:.0f}x: "
        f"{verdict(speeds['mp3'] >= SPEED_TARGET)} |",
        f"| peak RSS of a child judging the CAF | {judging_child / 2**20:.0f} MiB | — | — | address space <= "
        f"{JUDGE_LIMITS.memory_bytes / 2**20:.0f} MiB |",
        f"| peak RSS of a child transcoding the AC-3 | {transcoding_child / 2**20:.0f} MiB | judging child: "
        f"{judging_child / 2**20:.0f} MiB | {transcoding_child / judging_child:.2f}x | — |",
        f"| peak RSS of the server that judged the upload and made both copies | {server / 2**20:.0f} MiB | — | — "
        "| FFmpeg never runs in it |",
        "",
        f"Slowest transcode: {slowest:.0f}x real time.",
    ]


def main() -> int:
    return measure_and_write(__doc__.splitlines()[0], measure, DOC, "bench:media")


if __name__ == "__main__":
    sys.exit(main())
