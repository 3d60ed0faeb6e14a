"""What every benchmark does with its figures: percentiles of samples, and writing them into a doc's markers."""

import argparse
import os
import platform
import re
import statistics
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of the samples."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


def verdict(met: bool) -> str:
    """How a figure stands against its target, in the words every benchmark's table uses."""
    return "met" if met else "**not met**"


def within(value: float, target: float) -> str:
    """The verdict on a figure whose target is a ceiling."""
    return verdict(value <= target)


def measured_on(script: str, load: tuple[float, float]) -> str:
    """The sentence that says when, where and under what load a benchmark measured (load average at its start
    and end)."""
    moment = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Measured by `make bench` (`bench/{script}`) on {moment}, {os.cpu_count()} cores shared "
        f"with other work, Python {platform.python_version()}, load average {load[0]:.1f} at the start and "
        f"{load[1]:.1f} at the end: the CPU figures are noisy."
    )


def write_between_markers(doc: Path, marker: str, lines: list[str]) -> None:
    """Replace the text between `<!-- MARKER -->` and `<!-- /MARKER -->` in the doc with these lines."""
    text = doc.read_text(encoding="utf-8")
    pattern = re.compile(rf"(<!-- {re.escape(marker)} -->\n).*?(<!-- /{re.escape(marker)} -->)", re.DOTALL)
    if not pattern.search(text):
        raise RuntimeError(f"no {marker} markers in {doc}")
    doc.write_text(pattern.sub(lambda match: match[1] + "\n".join(lines) + "\n" + match[2], text), encoding="utf-8")


def measure_and_write(description: str, measure: Callable[[Path], list[str]], doc: Path, marker: str) -> int:
    """A benchmark's main: measure in a temporary folder, print the lines, and write them into the doc's
    markers unless --no-write is given. Returns the exit status."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the docs alone")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=f"{marker.replace(':', '-')}-") as temporary:
        lines = measure(Path(temporary))
    print("\n".join(lines))
    if not arguments.no_write:
        write_between_markers(doc, marker, lines)
    return 0
