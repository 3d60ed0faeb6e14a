"""What one run of screwdriver sees of the world: its streams, whether each is a terminal, its variables."""

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from typing import NamedTuple, TextIO


# Asks the person for a password, showing the prompt; getpass.getpass reads it from the terminal without echo.
AskPassword = Callable[[str], str]


class Environment(NamedTuple):
    """What one run sees of the world: its streams, whether each is a terminal, and its environment variables.

    `main` builds one from the process's own (sys.stdout, os.environ, ...) unless it is given one, so that
    tests run the client in-process with streams of their own and nothing read from the global state.
    """

    stdout: TextIO
    stderr: TextIO
    stdout_isatty: bool
    stderr_isatty: bool
    stdin_isatty: bool
    variables: Mapping[str, str]
    ask_password: AskPassword = getpass.getpass

    @classmethod
    def of(
        cls, stdout: TextIO | None = None, stderr: TextIO | None = None, variables: Mapping[str, str] | None = None
    ) -> "Environment":
        """The given streams (else the process's own), asking each whether it is a terminal."""
        stdout = sys.stdout if stdout is None else stdout
        stderr = sys.stderr if stderr is None else stderr
        return cls(
            stdout=stdout,
            stderr=stderr,
            stdout_isatty=stdout.isatty(),
            stderr_isatty=stderr.isatty(),
            stdin_isatty=sys.stdin is not None and sys.stdin.isatty(),
            variables=os.environ if variables is None else variables,
        )
