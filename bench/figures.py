"""What every benchmark does with its figures: percentiles of samples, and writing them into a doc's markers."""

import argparse
import re
import statistics
import tempfile
from collections.abc import Callable
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
