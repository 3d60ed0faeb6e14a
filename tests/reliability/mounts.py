"""Small tmpfs mounts for the disk-full and read-only tests (root only; a refusal fails the test under CI=true)."""

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


class MountNotPermittedError(Exception):
    """This machine does not let the tests mount a tmpfs (not root, or in a container that forbids it)."""


@contextmanager
def tmpfs(mountpoint: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """Mount a small tmpfs, always unmounted afterwards.

    Raises MountNotPermittedError where the machine does not allow it, except under CI=true: CI runs as root,
    so there a refused mount fails the test.
    """
    mountpoint.mkdir(parents=True, exist_ok=True)
    options = f"size={size},mode=0755" + (",ro" if read_only else "")
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mountpoint)],
            capture_output=True,
            text=True,
            check=False,
        )
        refusal = "" if mounted.returncode == 0 else mounted.stderr.strip() or f"status {mounted.returncode}"
    except FileNotFoundError:
        refusal = "there is no mount command"
    if refusal:
        reason = f"cannot mount a tmpfs here: {refusal}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        raise MountNotPermittedError(reason)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)
