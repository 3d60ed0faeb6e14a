"""screwdriver's exit statuses, as its help and docs/screwdriver.md list them."""

import enum


class ExitStatus(enum.IntEnum):
    """How a run ended."""

    OK = 0  # for upload: every file is in the library afterwards
    FAILURE = 1  # an operation failed
    USAGE = 2  # a bad command line
    NO_REQUESTS = 3  # requests is not installed (said by screwdriver.py, which cannot import this before)
    CREDENTIALS = 4  # the server wants credentials it was not given
    INTERRUPTED = 130  # Ctrl-C
