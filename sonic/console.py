"""A run's console: data lines on stdout; notes, errors and the progress bar on stderr."""

import os
import time
from typing import BinaryIO, TextIO

from sonic.environment import Environment
from sonic.output import format_duration, format_size, json_text, visible


PROGRESS_INTERVAL = 0.1  # seconds between redraws of the progress bar


class Console:
    """A run's output: data lines on stdout; notes, errors and the progress bar on stderr."""

    def __init__(self, env: Environment, quiet: bool) -> None:
        self.env = env
        self.quiet = quiet
        self.show_progress = not quiet and env.stderr_isatty
        self.bar: Progress | None = None

    def data(self, line: str) -> None:
        """A line of data on stdout, flushed so that a pipe sees it at once; control characters (a newline
        too) are shown escaped on a terminal, where they would act: a file name is the server's to choose."""
        self._write(visible(line) if self.env.stdout_isatty else line)

    def json(self, value: object) -> None:
        """A JSON document on stdout, readable (UTF-8, indented) and inert on a terminal as in a pipe."""
        self._write(json_text(value))

    def _write(self, text: str) -> None:
        if self.env.stdout_isatty:
            self._erase_bar()  # stdout may be the bar's terminal too
        self.env.stdout.write(text + "\n")
        self.env.stdout.flush()

    def binary(self) -> BinaryIO:
        """The byte stream beneath stdout, for a download's bytes; text written so far is flushed first."""
        self.env.stdout.flush()
        return self.env.stdout.buffer

    def note(self, message: str) -> None:
        """A line for the person on stderr, unless --quiet."""
        if not self.quiet:
            self.error(message)

    def error(self, message: str) -> None:
        """An error line on stderr; --quiet does not hide it."""
        self._erase_bar()
        self.env.stderr.write(f"screwdriver: {visible(message)}\n")
        self.env.stderr.flush()

    def progress(self, label: str, total: int) -> "Progress | None":
        """A progress bar on stderr, or None when there is to be none (not a terminal, or --quiet)."""
        self.bar = Progress(label, total, self.env.stderr) if self.show_progress else None
        return self.bar

    def _erase_bar(self) -> None:
        """Make room for a line: the bar is drawn again on its next change."""
        if self.bar is not None:
            self.bar.finish()


class Progress:
    """A one-line progress bar on stderr showing bytes, rate and ETA, redrawn at most 10 times a second."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.done = 0
        self.started = time.monotonic()
        self.drawn_at = 0.0
        self._draw()

    def advance(self, count: int) -> None:
        """Count bytes transferred; redraw if the last redraw is old enough or the transfer is complete."""
        self.done += count
        now = time.monotonic()
        if now - self.drawn_at >= PROGRESS_INTERVAL or self.done >= self.total:
            self._draw()

    def relabel(self, label: str) -> None:
        """Show another label (the next file of several), redrawing at once."""
        self.label = label
        self._draw()

    def reach(self, done: int) -> None:
        """Set the count of bytes done (after a file, whatever part of it was sent), redrawing at once."""
        self.done = done
        self._draw()

    def finish(self) -> None:
        """Erase the bar, leaving the line to the result that follows (it is drawn again on the next change)."""
        self.stream.write("\r\x1b[K")
        self.stream.flush()

    def _draw(self) -> None:
        self.drawn_at = time.monotonic()
        elapsed = self.drawn_at - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100 * self.done // self.total if self.total else 100
        eta = format_duration((self.total - self.done) / rate) if rate > 0 else "-:--"
        figures = f" {percent:3d}% {format_size(self.done)} / {format_size(self.total)}"
        figures += f"  {format_size(int(rate))}/s  ETA {eta}"
        width = terminal_width(self.stream)
        label = self.label[: max(width - len(figures) - 1, 0)]
        self.stream.write(f"\r{label}{figures}"[: width + 1] + "\x1b[K")
        self.stream.flush()


def terminal_width(stream: TextIO) -> int:
    """Columns of the terminal behind the stream, 80 when it does not say."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or 80
