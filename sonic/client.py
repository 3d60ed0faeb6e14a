"""The audio library's HTTP API over requests: list, upload, download and delete, every read bounded.

It knows nothing of the command line and draws nothing: failures are the typed errors of `sonic.errors`,
an upload calls a callback after each chunk sent, and a download hands out its chunks as they arrive.
"""

import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import requests

from sonic.entries import TaggedEntry, is_entry
from sonic.errors import (
    ClientError,
    CredentialsRefusedError,
    CredentialsWantedError,
    NotAFileError,
    Phase,
    ServerError,
    network_failure,
)
from sonic.multipart import CHUNK_SIZE, Advance, MultipartUpload
from sonic.output import format_size
from sonic.transport import UploadAdapter


# The most the client reads of an answer that is not a download: whatever a server sends or claims, memory
# stays bounded. A listing of 64 MiB holds about 250,000 files with their tags.
LISTING_LIMIT = 64 * 1024 * 1024
ANSWER_LIMIT = 1024 * 1024
ERROR_LIMIT = 64 * 1024
# How many files the server has found but not examined yet, so that a listing does not hold them.
UNEXAMINED_HEADER = "X-Library-Unexamined"


class Credentials(NamedTuple):
    """A user name and password for HTTP Basic, and where sign-in found them (named in the line if refused)."""

    name: str
    password: str
    source: str


class Download(NamedTuple):
    """A file on its way: its size as the server announced it (0 when it did not), and its bytes as they come."""

    size: int
    chunks: Iterator[bytes]


class Listing(NamedTuple):
    """The library's files, and how many more the server has found but not examined yet (not listed)."""

    entries: list[TaggedEntry]
    unexamined: int


class LibraryClient:
    """The audio library's HTTP API at one server: one session (its connections, its credentials) per run."""

    def __init__(self, server: str, timeout: float, credentials: Credentials | None) -> None:
        self.server = server
        self.timeout = timeout
        self.credentials = credentials
        self.session = requests.Session()
        adapter = UploadAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # Set even without credentials: requests would otherwise read ~/.netrc by itself, from the process's
        # environment rather than the run's, and a refusal could not say whose credentials were sent.
        self.session.auth = basic_auth(credentials) if credentials is not None else NoCredentials()
        # Answers come as sent: a compressed one could expand a thousandfold past the bounds on reading.
        self.session.headers["Accept-Encoding"] = "identity"

    def __enter__(self) -> "LibraryClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session's connections, which matters when the caller goes on running."""
        self.session.close()

    def list_files(self) -> Listing:
        """Return the entries of every file in the library, and the count of files still being examined."""
        with self._request("GET", "/api/files") as response:
            entries = self._json(response, LISTING_LIMIT)
            unexamined = header_number(response, UNEXAMINED_HEADER) or 0
        if not isinstance(entries, list) or not all(map(is_entry, entries)):
            raise ClientError(f"unexpected answer from {self.server}: not a list of files")
        return Listing(entries, unexamined)

    def upload(self, path: Path, advance: Advance | None = None) -> dict[str, Any]:
        """Send one file, telling `advance` of each chunk sent; return the server's entry for it."""
        try:
            mode = path.stat().st_mode
            if not stat.S_ISREG(mode):
                raise NotAFileError(directory=stat.S_ISDIR(mode))
            file = path.open("rb")
        except OSError as error:
            raise ClientError(error.strerror or str(error)) from error
        with file:
            size = os.fstat(file.fileno()).st_size
            body = MultipartUpload(file, path.name, size, advance)
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

    @contextmanager
    def download(self, name: str) -> Iterator[Download]:
        """Ask for a file: its bytes arrive as the Download's chunks are iterated, within the block."""
        with self._request("GET", "/files/" + quote(name, safe="")) as response:
            yield Download(header_number(response, "Content-Length") or 0, self._receive(response))

    def _receive(self, response: requests.Response) -> Iterator[bytes]:
        """A download's bytes, chunk by chunk; a failure on the way is a typed error, as for any request."""
        try:
            yield from response.iter_content(CHUNK_SIZE)
        except requests.RequestException as error:
            raise network_failure(error, self.server, self.timeout, Phase.DOWNLOAD) from error

    def delete(self, name: str) -> None:
        """Remove a file from the library."""
        self._request("DELETE", "/api/files/" + quote(name, safe="")).close()

    def _request(self, method: str, path: str, phase: Phase | None = None, **options: Any) -> requests.Response:
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
                    if self.credentials is None:
                        raise CredentialsWantedError(f"the server at {self.server} needs a user name and password")
                    raise CredentialsRefusedError(
                        f"the server at {self.server} refused the password of {self.credentials.name!r}"
                    )
                raise ServerError(message, response.status_code)
        return response

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


_COUNT = re.compile(r"[0-9]{1,18}")


def header_number(response: requests.Response, name: str) -> int | None:
    """A header holding a count, or None when absent or not plain ASCII digits (str.isdigit takes "²")."""
    value = response.headers.get(name, "").strip()
    return int(value) if _COUNT.fullmatch(value) else None


def too_large(response: requests.Response, limit: int) -> str:
    """The line for an answer longer than the client reads: a misbehaving server or not the audio library."""
    return f"unexpected answer from {response.url}: more than {format_size(limit)}; is it the audio library?"


def basic_auth(credentials: Credentials) -> requests.auth.HTTPBasicAuth:
    """HTTP Basic in UTF-8 (RFC 7617), as the server reads it; requests alone would encode Latin-1."""
    return requests.auth.HTTPBasicAuth(credentials.name.encode(), credentials.password.encode())


class NoCredentials(requests.auth.AuthBase):
    """No Authorization header, and no looking in ~/.netrc by requests behind the client's back."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def parse_json(body: bytes, url: str) -> Any:
    """A body's JSON, or a ClientError saying the server did not send JSON (deep nesting included)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ClientError(f"unexpected answer from {url}: not JSON") from error
