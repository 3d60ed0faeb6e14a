"""screwdriver's command line: global options, then one of upload, list, download, delete; and its help."""

import argparse
import textwrap
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from settings_env import environment_defaults, positive_seconds
from sonic.commands import Command, run_delete, run_download, run_list, run_upload
from sonic.environment import Environment
from sonic.output import visible
from sonic.signin import PASSWORD_ENV, USER_ENV
from sonic.status import ExitStatus


DEFAULT_SERVER = "http://127.0.0.1:8888"
SERVER_ENV = "SCREWDRIVER_SERVER"
DEFAULT_TIMEOUT = 60.0
TIMEOUT_ENV = "SCREWDRIVER_TIMEOUT"

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
  {TIMEOUT_ENV}   seconds when --timeout is not given (default {DEFAULT_TIMEOUT:g})
  SCREWDRIVER_QUIET     1 for --quiet when it is not given
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
        default=DEFAULT_SERVER,
        help=f"the library server (default: {DEFAULT_SERVER})",
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
    # SCREWDRIVER_USER is a name alone, never NAME:PASSWORD, and sign-in says where it came from: signin.py reads it.
    environment_defaults(parser, "SCREWDRIVER", env.variables, names={"user": ()})
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
