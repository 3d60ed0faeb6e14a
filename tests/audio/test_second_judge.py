"""The second judge: FFmpeg, through PyAV in a bounded child, on what the built-in parsers do not accept.

Formats nobody parses are stored and listed with their type, duration and tags; videos, damaged files and
look-alikes are refused, each with the true reason; noise with sync words is never audio; and the child
runs with its limits, no inherited descriptor and within its wall-clock time.
"""

import json
import os
import shutil
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from audio_library import create_app
from audio_library.media.sandbox import Limits, Outcome, Sandbox, run_child
from audio_library.media.second_judge import JUDGE_LIMITS, SecondJudge
from audio_library.web.current_library import get_library
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.corpus import NON_AUDIO
from devtools.servers import media_children
from tests.audio.flask_client import upload
from tests.fixtures.ffmpeg_formats import (
    DURATION_TOLERANCE,
    SAMPLES,
    STORED,
    Sample,
    add_wm_picture,
    make_samples,
    run,
)
from tests.library_folders import FIXTURES, fixture_bytes, on_disk
from tests.polling import wait_until


# The words a refused upload is told, per reason: tests and users rely on the first.
REFUSALS = {
    "not-audio": "Non-audio file detected",
    "damaged": "Audio, but damaged beyond playing",
    "video": "A video, not audio",
}
SYNC_WORDS = [b"\xff\xfb", b"\xff\xf3", b"\xff\xf1", b"\x0b\x77", b"\x7f\xfe\x80\x01", b"\x47"]
LONG_SILENCE_S = 3600  # an hour of silent FLAC: small, quick to make, many CPU-seconds to re-encode


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder holding every sample of the corpus, made once for the module."""
    return make_samples(tmp_path_factory.mktemp("ffmpeg-formats"))


@pytest.fixture(scope="module")
def long_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A FLAC of an hour of silence: small on disk, long to re-encode."""
    path = tmp_path_factory.mktemp("silence") / "silence.flac"
    lavfi = f"anullsrc=r=8000:cl=mono:d={LONG_SILENCE_S}"
    run("ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", lavfi, "-c:a", "flac", str(path))
    return path


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample.name for sample in SAMPLES])
def test_each_file_is_stored_with_its_type_or_refused_for_its_reason(
    client: FlaskClient, library_dir: Path, corpus: Path, sample: Sample
) -> None:
    response = upload(client, (sample.name, (corpus / sample.name).read_bytes()))
    body = response.json
    assert isinstance(body, dict)
    if sample.type is None:
        assert sample.refused is not None
        assert response.status_code == 415, body
        assert body == {"error": f"{REFUSALS[sample.refused]}: {sample.name}", "name": sample.name}
        assert on_disk(library_dir) == []
        return
    assert response.status_code == 201, body
    stored = body["files"][0]
    assert stored["type"] == sample.type
    assert sample.duration is not None
    assert stored["duration"] == pytest.approx(sample.duration, abs=DURATION_TOLERANCE)
    assert {key: stored[key] for key in sample.tags} == sample.tags
    assert (library_dir / sample.name).read_bytes() == (corpus / sample.name).read_bytes()


@pytest.mark.parametrize("name", NON_AUDIO)
def test_every_look_alike_of_the_parsers_corpus_stays_refused(
    client: FlaskClient, library_dir: Path, name: str
) -> None:
    # What the built-in parsers refuse, FFmpeg is asked about: none of it may become audio. Videos are now
    # told they are videos; everything else is still not audio.
    response = upload(client, (name, fixture_bytes(name)))
    assert response.status_code == 415
    reason = REFUSALS["video"] if name.startswith("video") else REFUSALS["not-audio"]
    assert response.json == {"error": f"{reason}: {name}", "name": name}
    assert on_disk(library_dir) == []


def test_files_copied_in_by_hand_are_listed_with_type_and_duration(library_dir: Path, corpus: Path) -> None:
    for sample in SAMPLES:
        shutil.copyfile(corpus / sample.name, library_dir / sample.name)
    app = create_app({"TESTING": True, "LIBRARY_DIR": library_dir})
    try:
        listing = get_library(app).catalog.listing(wait=60)
        listed = {entry.name: entry for entry in listing.entries}
    finally:
        get_library(app).close()
    assert sorted(listed) == sorted(sample.name for sample in STORED)
    for sample in STORED:
        assert listed[sample.name].type == sample.type
        assert listed[sample.name].duration == pytest.approx(sample.duration, abs=DURATION_TOLERANCE)


def test_a_cover_read_by_ffmpeg_is_served(client: FlaskClient, corpus: Path, tmp_path: Path) -> None:
    path = tmp_path / "covered.wma"
    shutil.copyfile(corpus / "tagged.wma", path)
    add_wm_picture(path, fixture_bytes("image.jpg"))
    stored = upload(client, ("covered.wma", path.read_bytes())).json
    assert isinstance(stored, dict)
    assert stored["files"][0]["cover"] is True
    response = client.get("/files/covered.wma/cover")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.data == fixture_bytes("image.jpg")
    assert upload(client, ("tagged.wma", (corpus / "tagged.wma").read_bytes())).status_code == 201
    assert client.get("/files/tagged.wma/cover").status_code == 404  # the same audio, without a picture


def test_the_page_shows_the_reason_of_a_refusal(client: FlaskClient, corpus: Path) -> None:
    response = upload(client, ("clip.m4a", (corpus / "h264-aac.m4a").read_bytes()), path="/")
    assert response.status_code == 415
    assert "A video, not audio" in response.get_data(as_text=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), words=st.lists(st.sampled_from(SYNC_WORDS), min_size=1, max_size=4))
def test_noise_with_sync_words_is_never_audio(
    tmp_path_factory: pytest.TempPathFactory, seed: int, words: list[bytes]
) -> None:
    data = bytearray(random_bytes(seed, 8192))
    for index, offset in enumerate(range(0, len(data) - 4, 97 + seed % 400)):
        word = words[index % len(words)]
        data[offset : offset + len(word)] = word
    path = tmp_path_factory.mktemp("noise") / "noise.bin"
    path.write_bytes(bytes(data))
    verdict = SecondJudge().judge(path)
    assert verdict.type is None
    assert verdict.refused == "not-audio"


class CountingSandbox(Sandbox):
    """A sandbox that counts the children it starts."""

    def __init__(self) -> None:
        super().__init__(2, wait_seconds=30.0)
        self.started = 0

    def run(self, task: str, arguments: Sequence[str], limits: Limits, pass_fds: Sequence[int] = ()) -> Outcome:
        self.started += 1
        return super().run(task, arguments, limits, pass_fds)


@pytest.mark.parametrize("name", ["image.jpg", "image.png", "image.svg", "notes.txt", "page.html", "script.js"])
def test_pictures_and_text_are_refused_without_a_child(name: str) -> None:
    sandbox = CountingSandbox()
    verdict = SecondJudge(sandbox).judge(FIXTURES / name)
    assert verdict.type is None
    assert verdict.refused == "not-audio"
    assert sandbox.started == 0


def test_other_refusals_ask_a_child(corpus: Path) -> None:
    sandbox = CountingSandbox()
    assert SecondJudge(sandbox).judge(corpus / "h264-aac.m4a").refused == "video"
    assert sandbox.started == 1


def random_bytes(seed: int, size: int) -> bytes:
    """Seeded noise (hypothesis draws the seed, so a failure replays)."""
    import random  # noqa: PLC0415

    return random.Random(seed).randbytes(size)


# The child and its limits


def limits(**changes: float) -> Limits:
    """The judge's limits with some changed."""
    fields = {**JUDGE_LIMITS.__dict__, **changes}
    return Limits(**fields)


def test_the_child_has_its_limits_and_no_other_descriptor(long_silence: Path, tmp_path: Path) -> None:
    seen: dict[str, str | list[str]] = {}
    out = tmp_path / "out.webm"
    passed: list[str] = []

    def transcode() -> None:
        with long_silence.open("rb") as source, out.open("wb") as target:
            fds = (source.fileno(), target.fileno())
            passed.extend(str(fd) for fd in fds)
            arguments = (str(source.fileno()), str(target.fileno()), "webm")
            run_child("transcode", arguments, limits(cpu_seconds=60, file_bytes=2**30, wall_seconds=60), fds)

    worker = threading.Thread(target=transcode)
    try:
        worker.start()

        def child_at_work() -> bool:
            """Once the child has set its limits (before it reads the file), see what it has, and stop it."""
            for pid in media_children(os.getpid()):
                try:
                    limits_text = seen["limits"] = Path(f"/proc/{pid}/limits").read_text()
                    if _limit(limits_text, "Max cpu time") != "unlimited":
                        seen["fds"] = sorted(os.listdir(f"/proc/{pid}/fd"))
                        seen["environ"] = Path(f"/proc/{pid}/environ").read_text()
                        os.kill(pid, signal.SIGKILL)
                        return True
                except (FileNotFoundError, ProcessLookupError):
                    continue
            return False

        wait_until(child_at_work, "the child is at work")
    finally:
        worker.join(timeout=60)
    limits_text = str(seen["limits"])
    assert _limit(limits_text, "Max cpu time") == "60"
    assert _limit(limits_text, "Max address space") == str(JUDGE_LIMITS.memory_bytes)
    assert _limit(limits_text, "Max file size") == str(2**30)
    assert _limit(limits_text, "Max core file size") == "0"
    # stdin, stdout, stderr, the file and the output: none of the parent's others (pytest's, the server's)
    assert seen["fds"] == sorted(["0", "1", "2", *passed])
    assert seen["environ"] == ""


def _limit(limits_text: str, name: str) -> str:
    line = next(line for line in limits_text.splitlines() if line.startswith(name))
    return line[len(name) :].split()[0]


def test_a_child_past_its_cpu_time_is_stopped(long_silence: Path, tmp_path: Path) -> None:
    with long_silence.open("rb") as source, (tmp_path / "out.mp3").open("wb") as target:
        arguments = (str(source.fileno()), str(target.fileno()), "mp3")
        cpu = limits(cpu_seconds=1, file_bytes=2**30, wall_seconds=60)
        outcome = run_child("transcode", arguments, cpu, (source.fileno(), target.fileno()))
    assert outcome.status in (-signal.SIGXCPU, -signal.SIGKILL)
    assert outcome.over_limits


def test_a_child_past_its_wall_clock_time_is_killed(corpus: Path) -> None:
    with (corpus / "tta.tta").open("rb") as source:
        outcome = run_child("measure", (str(source.fileno()), "3"), limits(wall_seconds=0.01), (source.fileno(),))
    assert outcome.timed_out
    assert outcome.over_limits
    assert not outcome.succeeded


def test_a_child_that_prints_too_much_is_killed(corpus: Path) -> None:
    with (corpus / "tagged.wma").open("rb") as source:
        outcome = run_child("measure", (str(source.fileno()), "3"), limits(output_bytes=16), (source.fileno(),))
    assert outcome.overflowed
    assert outcome.over_limits


def test_a_child_without_enough_memory_fails_without_harm(corpus: Path) -> None:
    with (corpus / "tagged.wma").open("rb") as source:
        outcome = run_child(
            "measure", (str(source.fileno()), "3"), limits(memory_bytes=64 * 1024**2), (source.fileno(),)
        )
    assert not outcome.succeeded
    assert outcome.output == b""


def test_children_beyond_the_cap_wait_then_are_refused(long_silence: Path, tmp_path: Path) -> None:
    sandbox = Sandbox(1, wait_seconds=0.0)
    started = threading.Event()

    def occupy() -> None:
        with long_silence.open("rb") as source, (tmp_path / "out.webm").open("wb") as target:
            arguments = (str(source.fileno()), str(target.fileno()), "webm")
            started.set()
            sandbox.run(
                "transcode", arguments, limits(cpu_seconds=2, file_bytes=2**30), (source.fileno(), target.fileno())
            )

    worker = threading.Thread(target=occupy)
    worker.start()
    try:
        assert started.wait(10)
        wait_until(media_child_running, "the first child runs")
        with pytest.raises(BlockingIOError):
            sandbox.run("measure", ("0", "3"), JUDGE_LIMITS)
    finally:
        worker.join(timeout=60)


def media_child_running() -> bool:
    """Whether a media child of this process is running."""
    return bool(media_children(os.getpid()))


def test_the_measure_reports_json(corpus: Path) -> None:
    with (corpus / "dolby.ac3").open("rb") as source:
        outcome = run_child("measure", (str(source.fileno()), "3"), JUDGE_LIMITS, (source.fileno(),))
    measured = json.loads(outcome.output)
    assert measured["format"] == "ac3"
    assert measured["bad_packets"] == 0
    assert measured["eof"] is True


def test_the_child_refuses_a_task_it_does_not_know() -> None:
    outcome = run_child("format-disk", (), JUDGE_LIMITS)
    assert outcome.status == 2


def test_no_child_outlives_its_job(corpus: Path) -> None:
    verdict = SecondJudge().judge(corpus / "tta.tta")
    assert verdict.type == "audio/x-tta"
    assert not media_child_running()
