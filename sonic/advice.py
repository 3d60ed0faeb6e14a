"""What the person can do about a failure: the client's typed errors as one line naming the option to change."""

from sonic.client import Credentials
from sonic.errors import (
    ClientError,
    CredentialsRefusedError,
    CredentialsWantedError,
    NoServerError,
    NotAFileError,
    TimedOutError,
)
from sonic.signin import PASSWORD_ENV, USER_ENV


def advice(error: ClientError, credentials: Credentials | None) -> str:
    """The error's line, with what to change or where the refused credentials came from."""
    if isinstance(error, TimedOutError):
        return f"{error} (see --timeout)"
    if isinstance(error, NoServerError):
        return f"{error} (see --server)"
    if isinstance(error, CredentialsWantedError):
        return f"{error}: give --user NAME, set {USER_ENV} and {PASSWORD_ENV}, or add the host to ~/.netrc"
    if isinstance(error, CredentialsRefusedError) and credentials is not None:
        return f"{error} (from {credentials.source})"
    if isinstance(error, NotAFileError) and error.directory:
        return f"{error} (upload -r sends the audio files inside one)"
    return str(error)
