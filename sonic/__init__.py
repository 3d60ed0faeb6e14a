"""sonic: the code of screwdriver, the audio library's command-line client; `screwdriver.py` is its entry point.

From the person down to the wire:

- `core`: one run: parse the command line, sign in, run the command, one line per failure and an exit status;
- `cli`: the command line (argparse), with its help; `status`: the exit statuses;
- `commands`: upload, list, download and delete, written with the client and the console;
- `signin`: the credentials to send, from --user, the environment or a netrc file;
- `advice`: the client's typed errors as lines for a person, naming the option to change;
- `console` and `output`: what reaches stdout and stderr, the progress bar, and the formats of names,
  sizes, tables and JSON;
- `client`, `multipart`, `errors` and `entries`: the library's HTTP API over requests, which knows
  nothing of the command line and draws nothing: its errors are typed, an upload calls a callback after
  each chunk sent, and a download hands out its chunks as they arrive;
- `environment`: what one run sees of the world (its streams and variables), so that tests run it in-process.
"""
