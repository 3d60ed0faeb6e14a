"""One run of screwdriver: parse the command line, sign in, run the command; each failure one line on stderr
and an exit status."""

import os
from collections.abc import Sequence
from typing import TextIO

from sonic.advice import advice
from sonic.cli import UsageError, build_parser
from sonic.client import Credentials, LibraryClient
from sonic.commands import Command
from sonic.console import Console
from sonic.environment import Environment
from sonic.errors import ClientError, CredentialsError
from sonic.signin import find_credentials
from sonic.status import ExitStatus


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
        with LibraryClient(args.server, args.timeout, credentials) as client:
            return run(client, console, args)
    except ClientError as error:
        console.error(advice(error, credentials))
        return ExitStatus.CREDENTIALS if isinstance(error, CredentialsError) else ExitStatus.FAILURE
    except KeyboardInterrupt:
        console.error("interrupted")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (`| head`); silence the flush at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, env.stdout.fileno())
        return ExitStatus.FAILURE
