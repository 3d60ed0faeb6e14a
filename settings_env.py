"""The one configuration convention: each setting from its flag, else its environment variable, else its default.

A product's variables are its prefix and the flag's name in capitals (`--max-size` of the audio library is
`AUDIO_LIBRARY_MAX_SIZE`). `environment_defaults(parser, "AUDIO_LIBRARY")`, called once the options are added,
makes an argparse parser read them: a variable that is set (and not empty) becomes the option's default, read
as the flag's own value would be, so a flag on the command line still wins. A bad value is a usage error
(exit status 2) that names the variable. A switch (`--private`) takes 1, true, yes or on, and 0, false, no or
off; a repeatable option (`--allowed-host`) takes a comma-separated list, added to the flags' values.

Beside it are what the products' command lines share about their settings: the argparse types of a port and
of positive numbers, and for a server's port, binding it (`bound_socket`) and the one line that says it is in
use and how to choose another (`cannot_listen`).

The audio library, screwdriver, the chat service, the crawler's client (`crawl.py`) and the SyncAsync servers
share this module. The credentials service and the crawler's server follow the same convention with a few
lines of their own: each must run as one file, the first with the standard library only and the second with
only the crawler's dependencies. docs/development.md#configuration says what a new product does to follow it.
"""

import argparse
import errno
import math
import os
import socket
from collections.abc import Callable, Mapping


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def environment_defaults(
    parser: argparse.ArgumentParser,
    prefix: str,
    variables: Mapping[str, str] | None = None,
    *,
    names: Mapping[str, tuple[str, ...]] | None = None,
) -> None:
    """Give each option of the parser its environment variable's value as default, and name it in the help.

    `names` replaces the variables of the options it lists (by their dest): the first one set wins, so those
    after it are aliases, for example {"cache_ttl": ("CRAWLER_CACHE_TTL", "CACHE_TTL")}; () leaves an option
    to the command line alone. `variables` is os.environ unless given.
    """
    variables = os.environ if variables is None else variables
    for action in parser._actions:
        if not reads_environment(action):
            continue
        read = (names or {}).get(action.dest, (f"{prefix}_{action.dest.upper()}",))
        if not read:
            continue
        if action.help != argparse.SUPPRESS:
            action.help = f"{action.help or ''} [env: {', '.join(read)}]".lstrip()
        variable = next((name for name in read if variables.get(name)), None)
        if variable is not None:
            try:
                action.default = value_of(action, variables[variable])
            except (argparse.ArgumentTypeError, TypeError, ValueError) as error:
                parser.error(f"{variable}: {reason(action, variables[variable], error)}")


def reads_environment(action: argparse.Action) -> bool:
    """Whether an option takes its default from the environment: one taking a value, or a switch; not help,
    a counter or a subcommand. A positional takes one only if it may be left out (a client's server URL)."""
    if argparse.SUPPRESS in (action.default, action.dest):
        return False
    if not action.option_strings:
        return action.nargs == argparse.OPTIONAL
    if action.nargs == 0:
        return isinstance(action.const, bool)
    return action.nargs is None


def value_of(action: argparse.Action, text: str) -> object:
    """A variable's text as the option's value, converted as argparse converts the flag's."""
    if action.nargs == 0:
        word = text.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise argparse.ArgumentTypeError(f"{text!r} is neither 1, true, yes, on nor 0, false, no, off")
        return action.const if word in TRUE_WORDS else not action.const
    if isinstance(action, argparse._AppendAction):
        return [one_value(action, part.strip()) for part in text.split(",") if part.strip()]
    return one_value(action, text)


def one_value(action: argparse.Action, text: str) -> object:
    value = action.type(text) if callable(action.type) else text
    if action.choices is not None and value not in action.choices:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def reason(action: argparse.Action, text: str, error: Exception) -> str:
    """Why a variable's value was refused, in argparse's words for a flag's."""
    if isinstance(error, argparse.ArgumentTypeError):
        return str(error)
    return f"invalid {getattr(action.type, '__name__', 'string')} value: {text!r}"


def port_number(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535 (0: any free port)."""
    return int(number_between(text, int, -1, 65536, "a TCP port number from 0 to 65535"))


def positive_int(text: str) -> int:
    """An argparse type: a whole number above zero."""
    return int(number_between(text, int, 0, math.inf, "a positive whole number"))


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    return number_between(text, float, 0, math.inf, "a positive number of seconds")


def number_between(text: str, kind: Callable[[str], float], above: float, below: float, words: str) -> float:
    """The text as a number of that kind, strictly between the bounds; ArgumentTypeError in words otherwise."""
    try:
        number = kind(text)
    except ValueError:
        number = math.nan
    if not above < number < below:
        raise argparse.ArgumentTypeError(f"{text!r} is not {words}")
    return number


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to the address and not yet listening, for a server that listens once it is ready.

    IPv6 for an address with colons (`::`, `::1`, for IPv6 alone as asyncio binds it), else IPv4 (a name
    is taken by its first IPv4 address). OSError if the port is in use (see cannot_listen).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(host: str, port: int, error: OSError, variable: str, make_target: str) -> str:
    """One line saying why a server cannot listen; for a port in use, how to choose another."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is in use, perhaps by another server: choose another with --port N,"
            f" {variable}=N or `make {make_target} PORT=N`"
        )
    return f"cannot listen on {host}:{port}: {error.strerror or error}"
