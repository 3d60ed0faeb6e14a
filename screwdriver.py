"""screwdriver: the command-line client of the audio library server.

Uploads, lists, downloads and deletes audio files over the server's HTTP API. Data (file names,
JSON, downloaded bytes) goes to stdout; progress, notes and errors go to stderr, one line each.
This file is the entry point (`python screwdriver.py …`, and the `screwdriver` command); the code is
in the `sonic` package beside it, and `main` is `sonic.core.main`.
"""

import sys


EXIT_NO_REQUESTS = 3  # sonic.status.ExitStatus.NO_REQUESTS, said before anything from sonic is imported

try:
    import requests  # noqa: F401 -- only whether it can be imported
except ImportError:
    # The docs promise one line and no traceback, even when the one dependency is missing.
    sys.stderr.write("screwdriver: the Python package 'requests' is missing; install it: pip install requests\n")
    sys.exit(EXIT_NO_REQUESTS)

from sonic.core import main  # noqa: E402 -- after the check, which must come first


__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
