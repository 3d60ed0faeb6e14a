"""screwdriver: the command-line client of the audio library server.

Uploads, lists, downloads and deletes audio files over the server's HTTP API. Data (file names,
JSON, downloaded bytes) goes to stdout; progress, notes and errors go to stderr, one line each.
"""

import argparse
import os
import secrets
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, NoReturn, TextIO
from urllib.parse import urlsplit


EXIT_NO_REQUESTS = 3

try:
    import requests  # noqa: F401 -- only whether it can be imported
except ImportError:
    # The docs promise one line and no traceback, even when the one dependency is missing.
    sys.stderr.write("screwdriver: the Python package 'requests' is missing; install it: pip install requests\n")
    sys.exit(EXIT_NO_REQUESTS)

# After the check: with `python -I`, the folder of this file is not on sys.path either.
from sonic.advice import advice  # noqa: E402
from sonic.client import LibraryClient  # noqa: E402
from sonic.console import Console, Progress  # noqa: E402
from sonic.environment import Environment  # noqa: E402
from sonic.errors import ClientError, CredentialsError, FatalError, ServerError  # noqa: E402
from sonic.output import long_table, name_sort_key, visible  # noqa: E402
from sonic.signin import PASSWORD_ENV, USER_ENV, Credentials, find_credentials  # noqa: E402
from sonic.status import ExitStatus  # noqa: E402


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


@dataclass
class Upload:
    """One file to send, and what became of it."""

    path: Path
    found: bool  # found inside a folder by -r, rather than named on the command line
    size: int
    entry: dict[str, Any] | None = None
    error: str | None = None
    skipped: bool = False

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
    except ServerError as error:
        upload.error = advice(error, client.credentials)
        if upload.found and error.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:
            # A file -r picked by its name that the server finds is not audio: skipped, as its name misled.
            upload.skipped = True
            console.note(f"{upload.path}: skipped, {upload.error}")
        else:
            console.error(f"{upload.path}: {upload.error}")
        return
    except ClientError as error:
        upload.error = advice(error, client.credentials)
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


DEFAULT_SERVER = "http://127.0.0.1:8888"
SERVER_ENV = "SCREWDRIVER_SERVER"
DEFAULT_TIMEOUT = 60.0

EPILOG = f"""\
output:
  stdout carries data only: the library name of each uploaded file, one name per line
  for `list`, JSON for `--json`, the bytes for `download -o -`. Progress bars, notes
  and errors go to stderr; the progress bar only when stderr is a terminal.

credentials (for a server started with --users; HTTP Basic, sent with every request):
  --user NAME[:PASSWORD], else {USER_ENV} and {PASSWORD_ENV}, else the
  server's host in ~/.netrc (or $NETRC). A missing password is asked on the terminal.

environment:
  {SERVER_ENV}    server URL when --server is not given (default {DEFAULT_SERVER})
  {USER_ENV}      user name when --user is not given
  {PASSWORD_ENV}  that user's password, or the password of --user NAME
  NETRC                 the netrc file to read instead of ~/.netrc

exit status:
  0    success; for upload, every file is in the library afterwards
  1    an operation failed: a file not uploaded, no such file, server unreachable, slow or in error
  2    usage error (bad command line)
  3    the Python package requests is not installed
  4    the server wants credentials: none were given, it refused them, or no password could be asked
  130  interrupted (Ctrl-C)
"""


class UsageError(Exception):
    """argparse finished the run: help was printed (status 0) or the command line is wrong (status 2)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class CommandLine(argparse.ArgumentParser):
    """argparse that writes help and usage errors to the run's own streams and raises instead of exiting."""

    def __init__(self, *args: Any, env: Environment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env = env

    def print_usage(self, file: Any = None) -> None:
        (file or self.env.stdout).write(self.format_usage())

    def print_help(self, file: Any = None) -> None:
        (file or self.env.stdout).write(self.format_help())

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.env.stderr)
        # The message quotes the command line, which may hold control characters: keep it one inert line.
        self.exit(ExitStatus.USAGE, f"{self.prog}: error: {visible(message)}\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.stderr.write(message)
        raise UsageError(status)


def server_url(text: str) -> str:
    """An argparse type: an http(s) URL with a host, without a trailing slash."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL")
    return text.rstrip("/")


def user_name(text: str) -> str:
    """An argparse type: NAME or NAME:PASSWORD, with a name."""
    if not text.partition(":")[0]:
        raise argparse.ArgumentTypeError("the user name is empty")
    return text


def positive_seconds(text: str) -> float:
    """An argparse type: a number of seconds greater than zero."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return seconds


def add_command(
    commands: "argparse._SubParsersAction[CommandLine]",
    name: str,
    run: Command,
    summary: str,
    description: str,
    *,
    env: Environment,
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with the shared epilog (output, environment, exit status)."""
    command = commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 79),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        env=env,
    )
    command.set_defaults(run=run)
    return command


def build_parser(env: Environment) -> CommandLine:
    """The command line: global options, then one of upload, list, download, delete."""
    parser = CommandLine(
        prog="screwdriver",
        description="Command-line client of the audio library server.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        env=env,
    )
    parser.add_argument(
        "--server",
        metavar="URL",
        type=server_url,
        default=env.variables.get(SERVER_ENV) or DEFAULT_SERVER,
        help=f"the library server (default: ${SERVER_ENV}, else {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"give up when connecting, or waiting for the server, takes longer (default: {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "-u",
        "--user",
        metavar="NAME[:PASSWORD]",
        type=user_name,
        help=f"the user to sign in as; without :PASSWORD, ${PASSWORD_ENV} or else asked on the terminal "
        f"(default: ${USER_ENV}, else ~/.netrc)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no notes; errors still show")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = add_command(
        commands,
        "upload",
        run_upload,
        "upload audio files to the library",
        "Upload audio files, one request each. Prints the library name of each file on stdout (the server may "
        "rename a file whose name is taken); a file already in the library counts as uploaded. Files the server "
        "refuses, such as non-audio, are reported on stderr, and the exit status is 1.",
        env=env,
    )
    upload.add_argument("files", metavar="FILE", nargs="+", type=Path, help="an audio file (or with -r, a folder)")
    upload.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="for each FILE that is a folder, upload the audio files inside it and its subfolders: those whose "
        "names end in an audio extension, hidden ones left out; each other file is skipped with a note, as is "
        "one the server finds is not audio",
    )
    upload.add_argument(
        "--json",
        action="store_true",
        help="print the results as one JSON array instead of names: per file its path and the server's entry "
        '(name, size, type, duration, status), or "status": "failed" or "skipped" with the "error"',
    )

    listing = add_command(
        commands,
        "list",
        run_list,
        "print the names of the files in the library",
        "Print the name of every file in the library, one per line, sorted as people expect: case-insensitive, "
        "numbers by value (Track 2 before Track 10).",
        env=env,
    )
    form = listing.add_mutually_exclusive_group()
    form.add_argument(
        "-l",
        "--long",
        action="store_true",
        help="aligned columns: name, title, artist, album, track, size, type, duration (blank when unknown)",
    )
    form.add_argument(
        "--json", action="store_true", help="the server's JSON: name, size, type, duration, modified and tags"
    )

    download = add_command(
        commands,
        "download",
        run_download,
        "save a file from the library",
        "Save a file from the library. The file appears complete or not at all: it is written to a temporary "
        "file next to the target and renamed into place.",
        env=env,
    )
    download.add_argument("name", metavar="NAME", help="the file's name in the library")
    download.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="where to save it: a file, a directory (created when PATH ends in /), or - for stdout "
        "(default: NAME in the current directory)",
    )
    download.add_argument("-f", "--force", action="store_true", help="replace the target file if it exists")

    delete = add_command(
        commands, "delete", run_delete, "remove a file from the library", "Remove a file from the library.", env=env
    )
    delete.add_argument("name", metavar="NAME", help="the file's name in the library")
    return parser


def main(
    argv: Sequence[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    *,
    env: Environment | None = None,
) -> int:
    """Run one command and return its exit status, writing only to the given streams (else the process's own)."""
    env = env if env is not None else Environment.of(stdout, stderr)
    try:
        args = build_parser(env).parse_args(argv)
    except UsageError as done:
        return done.status
    console = Console(env, args.quiet)
    run: Command = args.run
    credentials: Credentials | None = None
    try:
        credentials = find_credentials(args.user, args.server, env, console)
        client = LibraryClient(args.server, args.timeout, credentials)
        with client.session:  # closes its connections, which matters when the caller goes on running
            return run(client, console, args)
    except CredentialsError as error:
        console.error(advice(error, credentials))
        return ExitStatus.CREDENTIALS
    except ClientError as error:
        console.error(advice(error, credentials))
        return ExitStatus.FAILURE
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`); silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, env.stdout.fileno())
        return ExitStatus.FAILURE


if __name__ == "__main__":
    sys.exit(main())
