"""Files copied into the library by hand under names that are not UTF-8, or that look like escapes: screwdriver
lists each under a name of its own, and downloads and deletes exactly that file."""

import os
from pathlib import Path

import pytest

from devtools.wav import noise_wav
from tests.cli.screwdriver_runs import Screwdriver
from tests.library_folders import on_disk, wait_until_examined
from tests.name_bytes import ISSUE_NAMES


def test_six_names_that_look_alike_are_six_files(
    screwdriver: Screwdriver, library_dir: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = {}
    for number, raw in enumerate(ISSUE_NAMES, start=1):
        contents[raw] = noise_wav(number)
        (library_dir / os.fsdecode(raw)).write_bytes(contents[raw])

    wait_until_examined(screwdriver.url)
    listed = screwdriver("list")
    names = listed.stdout.splitlines()
    assert listed.returncode == 0
    assert sorted(names) == sorted(screwdriver.names())
    assert len(set(names)) == len(ISSUE_NAMES)

    # Each download is saved under its listed name, which is one-to-one with the names on the server.
    monkeypatch.chdir(files)
    for name in names:
        assert screwdriver("download", name).returncode == 0
    saved = {path.name: path.read_bytes() for path in files.iterdir()}
    assert sorted(saved) == sorted(names)
    assert sorted(saved.values()) == sorted(contents.values())

    owner = {content: raw for raw, content in contents.items()}
    for name in names:
        remaining = set(on_disk(library_dir))
        assert screwdriver("delete", name).returncode == 0
        assert remaining - set(on_disk(library_dir)) == {os.fsdecode(owner[saved[name]])}  # that file, no other
    assert on_disk(library_dir) == []
