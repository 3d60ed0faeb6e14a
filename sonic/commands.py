"""screwdriver's commands: upload, list, download and delete, each the client's calls and the console's lines."""

import argparse
import os
import secrets
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

from sonic.advice import advice
from sonic.client import LibraryClient
from sonic.console import Console, Progress
from sonic.errors import ClientError, FatalError, ServerError
from sonic.output import long_table, name_sort_key
from sonic.status import ExitStatus


# A command: what it does with the client and the console, given the parsed command line; returns the exit status.
Command = Callable[[LibraryClient, Console, argparse.Namespace], int]

# The extensions `upload -r` sends: those of the formats the server knows. The server still decides from
# the bytes; this only spares sending a folder's covers, booklets and videos to be refused.
AUDIO_SUFFIXES = frozenset(
    f".{suffix}"
    for family in (
        "wav wave aif aiff aifc",  # RIFF and AIFF
        "mp1 mp2 mp3 mpga",  # MPEG audio
        "flac ogg oga opus spx",  # FLAC and Ogg
        "m4a m4b mp4 aac",  # MP4 and ADTS
        "mka webm weba",  # Matroska and WebM
    )
    for suffix in family.split()
)


class Upload:
    """One file to send, and what became of it (a plain class: dataclasses costs every run 10 ms to import)."""

    def __init__(self, path: Path, found: bool, size: int) -> None:
        self.path = path
        self.found = found  # found inside a folder by -r, rather than named on the command line
        self.size = size
        self.entry: dict[str, Any] | None = None
        self.error: str | None = None
        self.skipped = False

    def to_json(self) -> dict[str, Any]:
        """The result for `upload --json`: the server's entry with the local path, or why there is none."""
        if self.entry is not None:
            return {"path": str(self.path), **self.entry}
        return {"path": str(self.path), "status": "skipped" if self.skipped else "failed", "error": self.error}


def gather(arguments: Sequence[Path], recursive: bool, console: Console) -> tuple[list[Upload], bool]:
    """The files to send, in order; with -r, folders are walked for audio files (whether all could be read)."""
    uploads: list[Upload] = []
    complete = True

    def unreadable(error: OSError) -> None:
        nonlocal complete
        complete = False
        console.error(f"{error.filename}: cannot read the folder: {error.strerror}")

    for argument in arguments:
        if not (recursive and argument.is_dir()):
            uploads.append(Upload(argument, found=False, size=file_size(argument)))
            continue
        for folder, subfolders, names in os.walk(argument, onerror=unreadable):
            # Hidden files and folders are left out, like ls and shells' globs do (AppleDouble ._song.mp3 too).
            subfolders[:] = sorted((name for name in subfolders if not name.startswith(".")), key=name_sort_key)
            for name in sorted((name for name in names if not name.startswith(".")), key=name_sort_key):
                path = Path(folder, name)
                if path.suffix.lower() in AUDIO_SUFFIXES:
                    uploads.append(Upload(path, found=True, size=file_size(path)))
                else:
                    console.note(f"{path}: skipped, not an audio file name")
    return uploads, complete


def file_size(path: Path) -> int:
    """A file's size for the progress bar; 0 when it cannot be read (the upload says why)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def run_upload(client: LibraryClient, console: Console, args: argparse.Namespace) -> int:
    """Upload each file in turn; print its library name on stdout (or all results as JSON), failures on stderr."""
    uploads, complete = gather(args.files, args.recursive, console)
    total = sum(upload.size for upload in uploads)
    progress = console.progress(uploads[0].path.name, total) if uploads else None
    sent = 0
    try:
        for number, upload in enumerate(uploads, 1):
            if progress is not None and len(uploads) > 1:
                progress.relabel(f"{number}/{len(uploads)} {upload.path.name}")
            send(client, console, upload, progress)
            sent += upload.size
            if progress is not None:
                progress.reach(sent)
            if upload.entry is not None and not args.json:
                console.data(upload.entry["name"])
    except FatalError as error:
        for upload in uploads:
            if upload.entry is None and upload.error is None:
                upload.error = advice(error, client.credentials)
        raise
    finally:
        if progress is not None:
            progress.finish()
        if args.json:
            console.json([upload.to_json() for upload in uploads])
    failed = any(upload.entry is None and not upload.skipped for upload in uploads)
    return ExitStatus.FAILURE if failed or not complete else ExitStatus.OK


def send(client: LibraryClient, console: Console, upload: Upload, progress: Progress | None) -> None:
    """Upload one file and record the outcome, with its note or error line on stderr."""
    try:
        entry = client.upload(upload.path, None if progress is None else progress.advance)
    except FatalError:
        raise
    except ClientError as error:
        upload.error = advice(error, client.credentials)
        refused = isinstance(error, ServerError) and error.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
        if upload.found and refused:
            # A file -r picked by its name that the server finds is not audio: skipped, as its name misled.
            upload.skipped = True
            console.note(f"{upload.path}: skipped, {upload.error}")
        else:
            console.error(f"{upload.path}: {upload.error}")
        return
    name = entry.get("name")
    if not isinstance(name, str):
        upload.error = f"unexpected answer from {client.server}: no stored name"
        console.error(f"{upload.path}: {upload.error}")
        return
    upload.entry = entry
    if entry.get("status") == "duplicate":
        console.note(f"{upload.path}: already in the library as {name}")
    elif entry.get("status") == "renamed":
        console.note(f"{upload.path}: stored as {name}, as a different file already had that name")


def run_list(client: LibraryClient, console: Console, args: argparse.Namespace) -> int:
    """Print the library: names, a long table, or the JSON; on stderr, what the listing does not show yet."""
    listing = client.list_files()
    entries = sorted(listing.entries, key=lambda entry: name_sort_key(entry["name"]))
    if args.json:
        console.json(entries)
    elif args.long:
        for line in long_table(entries, header=console.env.stdout_isatty):
            console.data(line)
    else:
        for entry in entries:
            console.data(entry["name"])
    if listing.unexamined:
        files = "1 file is" if listing.unexamined == 1 else f"{listing.unexamined} files are"
        console.note(f"{files} still being examined by the server and not listed yet; list again in a moment")
    elif not entries and not args.json and console.env.stderr_isatty:
        # stdout stays empty for scripts; a person at a terminal is told that nothing was printed on purpose.
        console.note("the library is empty")
    return ExitStatus.OK


def run_download(client: LibraryClient, console: Console, args: argparse.Namespace) -> int:
    """Save a file from the library: into a temp file next to the target, renamed into place once complete."""
    name: str = args.name
    if args.output == "-":
        stdout = console.binary()
        receive(client, console, name, stdout.write)
        stdout.flush()
        return ExitStatus.OK
    target = Path(args.output) if args.output else Path(Path(name).name)
    if args.output and args.output.endswith(os.sep):
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ClientError(f"cannot create the folder {target}: {error.strerror}") from error
    if target.is_dir():
        target /= Path(name).name
    if not args.force and os.path.lexists(target):
        raise ClientError(f"{target} already exists; use --force to replace it")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise ClientError(f"cannot write {target}: {error.strerror}") from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            receive(client, console, name, file.write)
        os.replace(temporary, target)
    except OSError as error:
        raise ClientError(f"cannot write {target}: {error.strerror}") from error
    finally:
        temporary.unlink(missing_ok=True)
    console.note(f"saved {name} to {target}")
    return ExitStatus.OK


def run_delete(client: LibraryClient, console: Console, args: argparse.Namespace) -> int:
    """Remove a file from the library."""
    client.delete(args.name)
    console.note(f"deleted {args.name}")
    return ExitStatus.OK


def receive(client: LibraryClient, console: Console, name: str, write: Callable[[bytes], object]) -> None:
    """Fetch a file's bytes and pass them to `write` chunk by chunk, with a progress bar when its size is known."""
    with client.download(name) as download:
        progress = console.progress(name, download.size) if download.size else None
        try:
            for chunk in download.chunks:
                write(chunk)
                if progress is not None:
                    progress.advance(len(chunk))
        finally:
            if progress is not None:
                progress.finish()
