"""Serve the audio library: `python Flask/server.py [OPTIONS]`, the same as the `audio-library` command.

Everything is in `audio_library.serving.cli`: its docstring and `--help` list the options and exit statuses.
"""

import sys

from audio_library.serving.cli import main


if __name__ == "__main__":
    sys.exit(main())
