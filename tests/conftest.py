"""Fixtures and settings every suite shares."""

import signal
from pathlib import Path

import pytest
from hypothesis import settings


# Started as `make test &`, under nohup or by some CI runners, pytest inherits SIGINT ignored, and every
# process it starts would inherit that too, so Ctrl-C tests of the servers would hang. A handler, unlike
# SIG_IGN, is reset to the default on exec, so installing Python's own restores the default in children.
signal.signal(signal.SIGINT, signal.default_int_handler)


# Every property test's failure prints the `@reproduce_failure` blob that replays it, in CI too, where the
# example database of the run is thrown away with the clone.
settings.register_profile("replayable", print_blob=True)
settings.load_profile("replayable")


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    """An empty audio library folder for one test (the only meaning of `library_dir` in every suite)."""
    folder = tmp_path / "library"
    folder.mkdir()
    return folder
