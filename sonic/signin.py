"""Sign-in: the user name and password to send, from --user, else the environment, else a netrc file."""

import netrc
from pathlib import Path
from urllib.parse import urlsplit

from sonic.client import Credentials
from sonic.console import Console
from sonic.environment import Environment
from sonic.errors import CredentialsError


USER_ENV = "SCREWDRIVER_USER"
PASSWORD_ENV = "SCREWDRIVER_PASSWORD"  # noqa: S105 -- the variable's name, not a password


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
