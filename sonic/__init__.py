"""sonic: the code of screwdriver, the audio library's command-line client; `screwdriver.py` is its entry point.

From the person down to the wire:

- `core`: one run: parse the command line, sign in, run the command, one line per failure and an exit status;
- `cli`: the command line (argparse), with its help;
- `commands`: upload, list, download and delete, written with the client and the console;
- `signin`: the credentials to send, from --user, the environment or a netrc file;
- `console` and `output`: what reaches stdout and stderr, the progress bar, and the formats of names,
  sizes, tables and JSON;
- `client`, `multipart`, `errors` and `entries`: the library's HTTP API over requests, which knows
  nothing of the command line: its errors are typed, and progress is a callback it calls;
- `environment`: what one run sees of the world (its streams and variables), so that tests run it in-process.
"""
