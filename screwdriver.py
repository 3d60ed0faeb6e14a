"""screwdriver: the command-line client of the audio library server.

Uploads, lists, downloads and deletes audio files over the server's HTTP API. Data (file names,
JSON, downloaded bytes) goes to stdout; progress, notes and errors go to stderr, one line each.
"""

import argparse
import enum
import http.client
import json
import netrc
import os
import re
import secrets
import stat
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, TextIO
from urllib.parse import quote, urlsplit


EXIT_NO_REQUESTS = 3

try:
    import requests
    import urllib3.exceptions
except ImportError:
    # The docs promise one line and no traceback, even when the one dependency is missing.
    sys.stderr.write("screwdriver: the Python package 'requests' is missing; install it: pip install requests\n")
    sys.exit(EXIT_NO_REQUESTS)

# After the check: with `python -I`, the folder of this file is not on sys.path either.
from sonic.console import Console, Progress  # noqa: E402
from sonic.entries import TaggedEntry, is_entry  # noqa: E402
from sonic.environment import Environment  # noqa: E402
from sonic.output import format_size, long_table, name_sort_key, visible  # noqa: E402


DEFAULT_SERVER = "http://127.0.0.1:8888"
SERVER_ENV = "SCREWDRIVER_SERVER"
USER_ENV = "SCREWDRIVER_USER"
PASSWORD_ENV = "SCREWDRIVER_PASSWORD"  # noqa: S105 -- the variable's name, not a password
DEFAULT_TIMEOUT = 60.0
CHUNK_SIZE = 1024 * 1024
# The most the client reads of an answer that is not a download: whatever a server sends or claims, memory
# stays bounded. A listing of 64 MiB holds about 250,000 files with their tags.
LISTING_LIMIT = 64 * 1024 * 1024
ANSWER_LIMIT = 1024 * 1024
ERROR_LIMIT = 64 * 1024
# How many files the server has found but not examined yet, so that a listing does not hold them.
UNEXAMINED_HEADER = "X-Library-Unexamined"

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_CREDENTIALS = 4
EXIT_INTERRUPTED = 130

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
        self.exit(EXIT_USAGE, f"{self.prog}: error: {visible(message)}\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.env.stderr.write(message)
        raise UsageError(status)


class ClientError(Exception):
    """A failure to report to the person as one line; the message says what failed."""


class ServerError(ClientError):
    """The server answered with an error status; the message is its own reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


class FatalError(ClientError):
    """A failure after which nothing further can succeed: the run stops at the first."""


class UnreachableError(FatalError):
    """The server could not be connected to."""


class CredentialsError(FatalError):
    """The server wants a user's credentials and has none it accepts, or a password cannot be had."""


class MultipartUpload:
    """A multipart/form-data body with one `file` part, read from disk chunk by chunk as it is sent.

    Its length is known in advance, so the request carries a Content-Length and the server can refuse
    a file that is too large before any of it is sent; memory use stays at one chunk.
    """

    def __init__(self, file: BinaryIO, filename: str, size: int, progress: Progress | None) -> None:
        self.file = file
        self.size = size
        self.progress = progress
        boundary = "screwdriver-" + secrets.token_hex(16)
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{quote_filename(filename)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        remaining = self.size
        while remaining > 0:
            try:
                chunk = self.file.read(min(CHUNK_SIZE, remaining))
            except OSError as error:
                # Not an OSError any more: requests would report it as a network failure.
                raise ClientError(f"cannot read the file: {error.strerror}") from error
            if not chunk:
                raise ClientError("the file shrank while it was being uploaded")
            remaining -= len(chunk)
            yield chunk
            if self.progress is not None:
                self.progress.advance(len(chunk))
        yield self.tail


@dataclass
class Listing:
    """The library's files, and how many more the server has found but not examined yet (not listed)."""

    entries: list[TaggedEntry]
    unexamined: int


class LibraryClient:
    """The audio library's HTTP API, seen from the command line."""

    def __init__(self, server: str, timeout: float, console: Console, credentials: "Credentials | None") -> None:
        self.server = server
        self.timeout = timeout
        self.console = console
        self.credentials = credentials
        self.session = requests.Session()
        # Set even without credentials: requests would otherwise read ~/.netrc by itself, from the process's
        # environment rather than the run's, and a refusal could not say whose credentials were sent.
        self.session.auth = credentials.auth() if credentials is not None else NoCredentials()
        # Answers come as sent: a compressed one could expand a thousandfold past the bounds on reading.
        self.session.headers["Accept-Encoding"] = "identity"

    def list_files(self) -> Listing:
        """Return the entries of every file in the library, and the count of files still being examined."""
        with self._request("GET", "/api/files") as response:
            entries = self._json(response, LISTING_LIMIT)
            unexamined = header_number(response, UNEXAMINED_HEADER) or 0
        if not isinstance(entries, list) or not all(map(is_entry, entries)):
            raise ClientError(f"unexpected answer from {self.server}: not a list of files")
        return Listing(entries, unexamined)

    def upload(self, path: Path, progress: Progress | None) -> dict[str, Any]:
        """Send one file, counting its bytes on the progress bar; return the server's entry for it."""
        try:
            mode = path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise ClientError("is a directory, not a file (upload -r sends the audio files inside one)")
            if not stat.S_ISREG(mode):
                raise ClientError("not a regular file")
            file = path.open("rb")
        except OSError as error:
            raise ClientError(error.strerror or str(error)) from error
        with file:
            size = os.fstat(file.fileno()).st_size
            body = MultipartUpload(file, path.name, size, progress)
            response = self._request(
                "POST", "/api/files", Phase.UPLOAD, data=body, headers={"Content-Type": body.content_type}
            )
        with response:
            answer = self._json(response, ANSWER_LIMIT)
        files = answer.get("files") if isinstance(answer, dict) else None
        if not isinstance(files, list) or len(files) != 1 or not isinstance(files[0], dict):
            raise ClientError(f"unexpected answer from {self.server}: no entry for the file")
        entry: dict[str, Any] = files[0]
        return entry

    def download(self, name: str, write: Callable[[bytes], object]) -> None:
        """Fetch a file's bytes and pass them to `write` chunk by chunk."""
        with self._request("GET", "/files/" + quote(name, safe="")) as response:
            total = header_number(response, "Content-Length") or 0
            progress = self.console.progress(name, total) if total else None
            try:
                for chunk in response.iter_content(CHUNK_SIZE):
                    write(chunk)
                    if progress is not None:
                        progress.advance(len(chunk))
            except requests.RequestException as error:
                raise network_failure(error, self.server, self.timeout, Phase.DOWNLOAD) from error
            finally:
                if progress is not None:
                    progress.finish()

    def delete(self, name: str) -> None:
        """Remove a file from the library."""
        self._request("DELETE", "/api/files/" + quote(name, safe="")).close()

    def _request(self, method: str, path: str, phase: "Phase | None" = None, **options: Any) -> requests.Response:
        """Send a request; turn every failure, and every status but 2xx, into a one-line ClientError.

        The body is not read yet (stream=True): each caller reads it within a bound of its own.
        """
        url = self.server + path
        try:
            response = self.session.request(
                method, url, timeout=self.timeout, allow_redirects=False, stream=True, **options
            )
        except requests.RequestException as error:
            raise network_failure(error, self.server, self.timeout, phase or Phase.REQUEST) from error
        if not 200 <= response.status_code < 300:
            with response:
                message = self._server_error(response)
                if response.status_code == HTTPStatus.UNAUTHORIZED:
                    raise CredentialsError(self._refused())
                raise ServerError(message, response.status_code)
        return response

    def _refused(self) -> str:
        """The line for a 401: what to give, or whose credentials were refused."""
        if self.credentials is None:
            return (
                f"the server at {self.server} needs a user name and password: give --user NAME, set "
                f"{USER_ENV} and {PASSWORD_ENV}, or add the host to ~/.netrc"
            )
        who = self.credentials
        return f"the server at {self.server} refused the password of {who.name!r} (from {who.source})"

    def _body(self, response: requests.Response, limit: int) -> bytes:
        """The whole body of an answer, refused as soon as it passes `limit` bytes, however long it claims to be."""
        length = header_number(response, "Content-Length")
        if length is not None and length > limit:
            raise ClientError(too_large(response, limit))
        if response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
            raise ClientError(f"unexpected answer from {response.url}: compressed, though asked not to be")
        body = bytearray()
        try:
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > limit:
                    raise ClientError(too_large(response, limit))
        except requests.RequestException as error:
            raise network_failure(error, self.server, self.timeout, Phase.ANSWER) from error
        return bytes(body)

    def _json(self, response: requests.Response, limit: int) -> Any:
        """The answer's JSON, read within `limit` bytes, or a ClientError saying the server did not send JSON."""
        return parse_json(self._body(response, limit), response.url)

    def _server_error(self, response: requests.Response) -> str:
        """One line saying what the server answered: its own message and the status."""
        try:
            body = self._body(response, ERROR_LIMIT)
        except ClientError:
            body = b""
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            message: str = answer["error"]
        else:
            lines = [line.strip() for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()]
            message = lines[0] if lines else response.reason or "no message"
        return message[:200]


class Phase(enum.Enum):
    """What the client was doing when the exchange failed: the same exception means other things in each."""

    REQUEST = "request"  # sending a request without a body, or waiting for the answer's head
    UPLOAD = "upload"  # sending a file, or waiting for the answer to it
    ANSWER = "answer"  # reading the body of a short answer (JSON)
    DOWNLOAD = "download"  # reading a file's bytes


def causes(error: BaseException) -> list[BaseException]:
    """The exception and everything inside it: urllib3 and requests wrap the socket's error several times over."""
    found: list[BaseException] = []
    pending = [error]
    while pending and len(found) < 32:
        current = pending.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        reason = getattr(current, "reason", None)
        inner = [reason, *current.args, current.__cause__, current.__context__]
        pending += [item for item in inner if isinstance(item, BaseException)]
    return found


def network_failure(  # noqa: PLR0911, PLR0912 -- one flat decision list, most specific first, reads best
    error: requests.RequestException, server: str, timeout: float, phase: Phase
) -> ClientError:
    """One line naming what went wrong with the server, whatever wrapping requests and urllib3 put around it."""
    chain = causes(error)

    def among(*kinds: type[BaseException]) -> bool:
        return any(isinstance(item, kinds) for item in chain)

    waited = f"{timeout:g} s (see --timeout)"
    # urllib3's NewConnectionError is a ConnectTimeoutError too, for compatibility: test it first.
    if among(urllib3.exceptions.NameResolutionError):
        return UnreachableError(
            f"cannot find the server {server}: {describe(error)}; is the name right? (see --server)"
        )
    if among(urllib3.exceptions.NewConnectionError):
        return UnreachableError(
            f"cannot reach the server at {server}: {describe(error)}; is it running? (see --server)"
        )
    if among(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError):
        return UnreachableError(f"the server at {server} did not accept a connection within {waited}; is it running?")
    if among(requests.exceptions.SSLError):
        return UnreachableError(f"no secure connection to the server at {server}: {describe(error)}")
    if among(requests.exceptions.ProxyError):
        return UnreachableError(f"the proxy between here and {server} failed: {describe(error)}")
    if among(requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        if phase is Phase.DOWNLOAD:
            return ClientError(f"the download from {server} stalled: nothing arrived for {waited}")
        if phase is Phase.UPLOAD and not among(requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            return ClientError(f"the server at {server} stopped reading the upload: nothing was taken for {waited}")
        return ClientError(f"the server at {server} did not answer within {waited}")
    if among(requests.exceptions.ContentDecodingError):
        return ClientError(f"the server at {server} sent a compressed answer that does not decompress")
    if among(requests.exceptions.ChunkedEncodingError, http.client.IncompleteRead):
        what = "the download" if phase is Phase.DOWNLOAD else "the answer"
        return ClientError(f"{what} from {server} broke off: the server sent less than it announced")
    if among(http.client.HTTPException) and not among(http.client.RemoteDisconnected):
        return ClientError(f"the server at {server} answered something that is not HTTP: {describe(error)}")
    if among(ConnectionError, http.client.RemoteDisconnected, urllib3.exceptions.ProtocolError):
        if phase is Phase.DOWNLOAD:
            return ClientError(f"the download from {server} broke off: the server closed the connection")
        during = " during the upload" if phase is Phase.UPLOAD else ""
        return ClientError(f"the server at {server} closed the connection{during} without answering")
    return ClientError(f"the exchange with {server} failed: {describe(error)}")


_COUNT = re.compile(r"[0-9]{1,18}")


def header_number(response: requests.Response, name: str) -> int | None:
    """A header holding a count, or None when absent or not plain ASCII digits (str.isdigit takes "²")."""
    value = response.headers.get(name, "").strip()
    return int(value) if _COUNT.fullmatch(value) else None


def too_large(response: requests.Response, limit: int) -> str:
    """The line for an answer longer than the client reads: a misbehaving server or not the audio library."""
    return f"unexpected answer from {response.url}: more than {format_size(limit)}; is it the audio library?"


@dataclass
class Credentials:
    """A user name and password for HTTP Basic, and where they came from (for the line if refused)."""

    name: str
    password: str
    source: str

    def auth(self) -> requests.auth.HTTPBasicAuth:
        """HTTP Basic in UTF-8 (RFC 7617), as the server reads it; requests alone would encode Latin-1."""
        return requests.auth.HTTPBasicAuth(self.name.encode(), self.password.encode())


class NoCredentials(requests.auth.AuthBase):
    """No Authorization header, and no looking in ~/.netrc by requests behind the client's back."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def find_credentials(user: str | None, server: str, env: Environment, console: Console) -> Credentials | None:
    """The credentials to send: --user NAME[:PASSWORD], else SCREWDRIVER_USER, else ~/.netrc; None if none."""
    if user is not None:
        name, colon, password = user.partition(":")
        source = "--user"
    elif env.variables.get(USER_ENV):
        name, colon, password = env.variables[USER_ENV], "", ""
        source = USER_ENV
    else:
        return netrc_credentials(server, env, console)
    if not colon:
        password = env.variables.get(PASSWORD_ENV) or ask_password(name, server, env)
    return Credentials(name, password, source)


def ask_password(name: str, server: str, env: Environment) -> str:
    """The password typed on the terminal; a CredentialsError when there is no terminal to ask on."""
    if not env.stdin_isatty:
        raise CredentialsError(
            f"no password for {name!r}: give --user {name}:PASSWORD or set {PASSWORD_ENV}, "
            "or run on a terminal to be asked"
        )
    try:
        return env.ask_password(f"Password for {name} at {server}: ")
    except EOFError as error:
        raise CredentialsError(f"no password for {name!r}: the terminal was closed") from error


def netrc_credentials(server: str, env: Environment, console: Console) -> Credentials | None:
    """The login and password for the server's host (else the default entry) in $NETRC or ~/.netrc."""
    if env.variables.get("NETRC"):
        path = Path(env.variables["NETRC"])
    elif env.variables.get("HOME"):
        path = Path(env.variables["HOME"], ".netrc")
    else:
        return None
    host = urlsplit(server).hostname or ""
    try:
        entry = netrc.netrc(path).authenticators(host)
    except FileNotFoundError:
        return None
    except (OSError, netrc.NetrcParseError) as error:
        console.note(f"{path} is not used: {getattr(error, 'msg', None) or getattr(error, 'strerror', error)}")
        return None
    if entry is None:
        return None
    login, _, password = entry
    return Credentials(login, password or "", str(path)) if login else None


def quote_filename(name: str) -> str:
    """Escape a file name for a multipart header the way browsers do: raw UTF-8, with `"` and CR/LF escaped."""
    return name.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def parse_json(body: bytes, url: str) -> Any:
    """A body's JSON, or a ClientError saying the server did not send JSON (deep nesting included)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ClientError(f"unexpected answer from {url}: not JSON") from error


_REPR = re.compile(r"\w\(|\('|object at 0x")


def describe(error: BaseException) -> str:
    """The innermost useful words of a requests/urllib3 exception chain, without object reprs."""
    chain = causes(error)
    for item in reversed(chain):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror.lower()
    for item in reversed(chain):
        # urllib3 prefixes messages with the repr of the connection object; keep the part after it.
        text = str(item).rsplit(">: ", 1)[-1].strip()
        if text and not _REPR.search(text):
            return text[:200]
    return "no details"


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


def run_upload(client: LibraryClient, args: argparse.Namespace) -> int:
    """Upload each file in turn; print its library name on stdout (or all results as JSON), failures on stderr."""
    console = client.console
    uploads, complete = gather(args.files, args.recursive, console)
    total = sum(upload.size for upload in uploads)
    progress = console.progress(uploads[0].path.name, total) if uploads else None
    sent = 0
    try:
        for number, upload in enumerate(uploads, 1):
            if progress is not None and len(uploads) > 1:
                progress.relabel(f"{number}/{len(uploads)} {upload.path.name}")
            send(client, upload, progress)
            sent += upload.size
            if progress is not None:
                progress.reach(sent)
            if upload.entry is not None and not args.json:
                console.data(upload.entry["name"])
    except FatalError as error:
        for upload in uploads:
            if upload.entry is None and upload.error is None:
                upload.error = str(error)
        raise
    finally:
        if progress is not None:
            progress.finish()
        if args.json:
            console.json([upload.to_json() for upload in uploads])
    failed = any(upload.entry is None and not upload.skipped for upload in uploads)
    return EXIT_FAILURE if failed or not complete else EXIT_OK


def send(client: LibraryClient, upload: Upload, progress: Progress | None) -> None:
    """Upload one file and record the outcome, with its note or error line on stderr."""
    console = client.console
    try:
        entry = client.upload(upload.path, progress)
    except FatalError:
        raise
    except ServerError as error:
        upload.error = str(error)
        if upload.found and error.status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:
            # A file -r picked by its name that the server finds is not audio: skipped, as its name misled.
            upload.skipped = True
            console.note(f"{upload.path}: skipped, {error}")
        else:
            console.error(f"{upload.path}: {error}")
        return
    except ClientError as error:
        upload.error = str(error)
        console.error(f"{upload.path}: {error}")
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


def run_list(client: LibraryClient, args: argparse.Namespace) -> int:
    """Print the library: names, a long table, or the JSON; on stderr, what the listing does not show yet."""
    listing = client.list_files()
    entries = sorted(listing.entries, key=lambda entry: name_sort_key(entry["name"]))
    if args.json:
        client.console.json(entries)
    elif args.long:
        for line in long_table(entries, header=client.console.env.stdout_isatty):
            client.console.data(line)
    else:
        for entry in entries:
            client.console.data(entry["name"])
    if listing.unexamined:
        files = "1 file is" if listing.unexamined == 1 else f"{listing.unexamined} files are"
        client.console.note(f"{files} still being examined by the server and not listed yet; list again in a moment")
    elif not entries and not args.json and client.console.env.stderr_isatty:
        # stdout stays empty for scripts; a person at a terminal is told that nothing was printed on purpose.
        client.console.note("the library is empty")
    return EXIT_OK


def run_download(client: LibraryClient, args: argparse.Namespace) -> int:
    """Save a file from the library: into a temp file next to the target, renamed into place once complete."""
    name: str = args.name
    if args.output == "-":
        stdout = client.console.binary()
        client.download(name, stdout.write)
        stdout.flush()
        return EXIT_OK
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
            client.download(name, file.write)
        os.replace(temporary, target)
    except OSError as error:
        raise ClientError(f"cannot write {target}: {error.strerror}") from error
    finally:
        temporary.unlink(missing_ok=True)
    client.console.note(f"saved {name} to {target}")
    return EXIT_OK


def run_delete(client: LibraryClient, args: argparse.Namespace) -> int:
    """Remove a file from the library."""
    client.delete(args.name)
    client.console.note(f"deleted {args.name}")
    return EXIT_OK


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
    run: Callable[[LibraryClient, argparse.Namespace], int],
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
    run: Callable[[LibraryClient, argparse.Namespace], int] = args.run
    try:
        credentials = find_credentials(args.user, args.server, env, console)
        client = LibraryClient(args.server, args.timeout, console, credentials)
        with client.session:  # closes its connections, which matters when the caller goes on running
            return run(client, args)
    except CredentialsError as error:
        console.error(str(error))
        return EXIT_CREDENTIALS
    except ClientError as error:
        console.error(str(error))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        console.error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`); silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, env.stdout.fileno())
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
