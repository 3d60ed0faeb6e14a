"""The library folder: what is listed, start-up clean-up, the metadata cache, and an unusable folder."""

import shutil
import threading
from pathlib import Path

import pytest
from audio_library import create_app
from audio_library.library import catalog, metadata_cache
from audio_library.library.storage import Library, LibraryError
from audio_library.media import examiner
from audio_library.media.detection import detect_audio_type
from audio_library.web.current_library import get_library
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import FIXTURES


Step = tuple[str, int, int]


def test_audio_copied_in_by_other_means_is_listed_with_its_detected_type(
    client: FlaskClient, library_dir: Path
) -> None:
    shutil.copy(FIXTURES / "flac.flac", library_dir / "copied.flac")
    shutil.copy(FIXTURES / "ogg-named.mp3", library_dir / "really ogg.mp3")
    listed = {entry["name"]: entry["type"] for entry in client.get("/api/files").json}  # type: ignore[union-attr]
    assert listed == {"copied.flac": "audio/flac", "really ogg.mp3": "audio/ogg"}


def test_hidden_files_folders_and_temporaries_are_never_listed(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / ".secret.wav").write_bytes(noise_wav(1))
    (library_dir / f".upload-{'0' * 16}-{'1' * 16}.part").write_bytes(noise_wav(2))
    (library_dir / "folder.wav").mkdir()
    upload(client, ("visible.wav", noise_wav(3)))
    assert [entry["name"] for entry in client.get("/api/files").json] == ["visible.wav"]  # type: ignore[union-attr]


def test_a_file_copied_in_right_after_a_listing_is_listed_at_once(client: FlaskClient, library_dir: Path) -> None:
    upload(client, ("a.wav", noise_wav(1)))
    for number in range(2, 6):
        assert len(client.get("/api/files").json) == number - 1  # type: ignore[arg-type]
        (library_dir / f"{number}.wav").write_bytes(noise_wav(number))
    assert len(client.get("/api/files").json) == 5  # type: ignore[arg-type]


def test_an_unreadable_file_is_left_out_until_it_can_be_read(
    client: FlaskClient, library: Library, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (library_dir / "locked.wav").write_bytes(noise_wav(1))
    (library_dir / "open.wav").write_bytes(noise_wav(2))
    real_detect = detect_audio_type
    readable = False

    def detect(path: Path) -> str | None:
        if path.name == "locked.wav" and not readable:  # as root, chmod 000 would not stop us reading
            raise PermissionError(13, "Permission denied", str(path))
        return real_detect(path)

    monkeypatch.setattr(examiner, "detect_audio_type", detect)
    monkeypatch.setattr(catalog, "REVALIDATE_NS", 0)
    response = client.get("/api/files")
    assert response.status_code == 200
    assert [entry["name"] for entry in response.json] == ["open.wav"]  # type: ignore[union-attr]
    assert client.get("/files/locked.wav").status_code == 404
    readable = True
    assert [entry["name"] for entry in client.get("/api/files").json] == ["locked.wav", "open.wav"]  # type: ignore[union-attr]


def test_a_file_deleted_by_hand_disappears_from_the_listing(client: FlaskClient, library_dir: Path) -> None:
    upload(client, ("a.wav", noise_wav(1)), ("b.wav", noise_wav(2)))
    (library_dir / "a.wav").unlink()
    assert [entry["name"] for entry in client.get("/api/files").json] == ["b.wav"]  # type: ignore[union-attr]


def test_stale_temporaries_of_a_dead_process_are_removed_at_start_up(library_dir: Path) -> None:
    stale = library_dir / f".upload-{'a' * 16}-{'b' * 16}.part"
    stale.write_bytes(b"half an upload")
    stale_lock = library_dir / f".instance-{'a' * 16}.lock"
    stale_lock.touch()  # its process died: nobody holds the lock
    library = Library(library_dir)
    try:
        assert not stale.exists()
        assert not stale_lock.exists()
        assert sorted(library.removed_stale) == sorted([stale.name, stale_lock.name])
    finally:
        library.close()


def test_temporaries_of_a_live_process_sharing_the_folder_are_kept(library_dir: Path) -> None:
    first = Library(library_dir)
    try:
        path, sink = first.create_temporary()
        sink.write(b"an upload in progress")
        sink.close()
        second = Library(library_dir)
        second.close()
        assert path.exists()
        assert second.removed_stale == []
    finally:
        first.close()
    third = Library(library_dir)
    third.close()
    assert not path.exists()


def test_the_listing_does_not_read_files_again(
    client: FlaskClient, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(5):
        (library_dir / f"{number}.wav").write_bytes(noise_wav(number))
    assert len(client.get("/api/files").json) == 5  # type: ignore[arg-type]
    examined: list[Path] = []
    real_detect = detect_audio_type

    def counting_detect(path: Path) -> str | None:
        examined.append(path)
        return real_detect(path)

    monkeypatch.setattr(examiner, "detect_audio_type", counting_detect)
    assert len(client.get("/api/files").json) == 5  # type: ignore[arg-type]
    assert examined == []
    # Rewritten in place: the folder's mtime stays, so it shows once the listing revalidates its files.
    monkeypatch.setattr(catalog, "REVALIDATE_NS", 0)
    (library_dir / "3.wav").write_bytes(noise_wav(33, seconds=0.5))
    listed = {entry["name"]: entry["duration"] for entry in client.get("/api/files").json}  # type: ignore[union-attr]
    assert examined == [library_dir / "3.wav"]
    assert listed["3.wav"] == pytest.approx(0.5, abs=0.01)


def test_the_cache_survives_a_restart(library_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = create_app({"LIBRARY_DIR": library_dir})
    for number in range(3):
        (library_dir / f"{number}.wav").write_bytes(noise_wav(number))
    before = first.test_client().get("/api/files").json
    get_library(first).close()
    assert (library_dir / metadata_cache.CACHE_FILE).is_file()

    def no_reading(path: Path) -> str | None:
        raise AssertionError(f"{path} was read again after a restart")

    monkeypatch.setattr(examiner, "detect_audio_type", no_reading)
    second = create_app({"LIBRARY_DIR": library_dir})
    try:
        assert second.test_client().get("/api/files").json == before
    finally:
        get_library(second).close()


def test_a_corrupt_cache_is_ignored(library_dir: Path) -> None:
    (library_dir / "song.wav").write_bytes(noise_wav(1))
    (library_dir / metadata_cache.CACHE_FILE).write_text("{not json", encoding="utf-8")
    app = create_app({"LIBRARY_DIR": library_dir})
    try:
        assert [entry["name"] for entry in app.test_client().get("/api/files").json] == ["song.wav"]  # type: ignore[union-attr]
    finally:
        get_library(app).close()


def test_a_library_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(LibraryError, match="is not a folder"):
        Library(not_a_folder)


def test_an_unwritable_library_is_refused_at_once(tmp_path: Path) -> None:
    # /proc refuses new files even to root, so this holds whoever runs the tests.
    with pytest.raises(LibraryError, match="not writable"):
        Library(Path("/proc"))


def test_a_missing_library_folder_is_created(tmp_path: Path) -> None:
    library = Library(tmp_path / "new" / "library")
    library.close()
    assert (tmp_path / "new" / "library").is_dir()


# One step on the folder, done by hand as another program would: (action, file number, content seed).
FOLDER_STEPS = st.lists(
    st.tuples(st.sampled_from(["add", "rewrite", "delete", "junk"]), st.integers(0, 7), st.integers(0, 3)),
    max_size=12,
)


@settings(max_examples=40, deadline=None)  # no timing asserts: the machine may be busy
@given(steps=FOLDER_STEPS)
def test_listings_always_agree_with_the_folder(tmp_path_factory: pytest.TempPathFactory, steps: list[Step]) -> None:
    folder = tmp_path_factory.mktemp("library")
    library = Library(folder)
    try:
        expected: dict[str, float] = {}
        for action, number, seed in steps:
            path = folder / f"{number}.wav"
            if action in ("add", "rewrite"):
                seconds = 0.25 * (seed + 1)
                path.write_bytes(noise_wav(number * 10 + seed, seconds=seconds))
                expected[path.name] = seconds
            elif action == "delete":
                path.unlink(missing_ok=True)
                expected.pop(path.name, None)
            else:
                path.write_bytes(b"not audio at all " * seed)
                expected.pop(path.name, None)
            # Several clients at once, as the server's threads would: each must see the folder as it is now.
            seen: list[dict[str, float | None]] = []
            threads = [threading.Thread(target=look, args=(library, seen)) for _ in range(3)]
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(catalog, "REVALIDATE_NS", 0)  # a rewrite in place shows at once
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(timeout=60)
            for durations in seen:
                assert durations.keys() == expected.keys()
                for name, seconds in expected.items():
                    assert durations[name] == pytest.approx(seconds, abs=0.01)
            assert len(seen) == 3
    finally:
        library.close()


def look(library: Library, seen: list[dict[str, float | None]]) -> None:
    """List the library, as one client would, and note the duration of every file listed."""
    listing = library.catalog.listing(wait=30)
    assert listing.unexamined == 0
    seen.append({entry.name: entry.duration for entry in listing.entries})
