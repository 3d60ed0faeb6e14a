"""What can go wrong in an exchange with the library, as typed errors: each says what failed, in words for a
person, and names no option of the command line; the command line adds its advice by type (`sonic.advice`)."""

import enum
import http.client
import re

import requests
import urllib3.exceptions


class ClientError(Exception):
    """A failure to report to the person as one line; the message says what failed."""


class ServerError(ClientError):
    """The server answered with an error status; the message is its own reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status


class NotAFileError(ClientError):
    """What was to be uploaded is not a regular file: a directory, a device, a pipe."""

    def __init__(self, directory: bool) -> None:
        super().__init__("is a directory, not a file" if directory else "not a regular file")
        self.directory = directory


class TimedOutError(ClientError):
    """Nothing moved for as long as the client waits (its timeout)."""


class FatalError(ClientError):
    """A failure after which nothing further can succeed: the run stops at the first."""


class UnreachableError(FatalError):
    """The server could not be connected to."""


class NoServerError(UnreachableError):
    """The server's address leads nowhere: its host name is unknown, or nothing listens on its port."""


class ConnectTimeoutError(UnreachableError, TimedOutError):
    """The server did not accept a connection within the timeout."""


class CredentialsError(FatalError):
    """The server wants a user's credentials and has none it accepts, or a password cannot be had."""


class CredentialsWantedError(CredentialsError):
    """The server wants credentials and none were sent."""


class CredentialsRefusedError(CredentialsError):
    """The server refused the credentials that were sent."""


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

    waited = f"{timeout:g} s"
    # urllib3's NewConnectionError is a ConnectTimeoutError too, for compatibility: test it first.
    if among(urllib3.exceptions.NameResolutionError):
        return NoServerError(f"cannot find the server {server}: {describe(error)}; is the name right?")
    if among(urllib3.exceptions.NewConnectionError):
        return NoServerError(f"cannot reach the server at {server}: {describe(error)}; is it running?")
    if among(requests.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError):
        return ConnectTimeoutError(
            f"the server at {server} did not accept a connection within {waited}; is it running?"
        )
    if among(requests.exceptions.SSLError):
        return UnreachableError(f"no secure connection to the server at {server}: {describe(error)}")
    if among(requests.exceptions.ProxyError):
        return UnreachableError(f"the proxy between here and {server} failed: {describe(error)}")
    if among(requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError):
        if phase is Phase.DOWNLOAD:
            return TimedOutError(f"the download from {server} stalled: nothing arrived for {waited}")
        if phase is Phase.UPLOAD and not among(requests.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
            return TimedOutError(f"the server at {server} stopped reading the upload: nothing was taken for {waited}")
        return TimedOutError(f"the server at {server} did not answer within {waited}")
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
