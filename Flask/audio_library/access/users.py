"""The users file: who may write to the library, one `name:hash` line each, and the command that adds one.

A hash is Werkzeug's `generate_password_hash` format, `scrypt:32768:8:1$<salt>$<hex digest>`: the key
derivation function is the standard library's `hashlib.scrypt` (or `hashlib.pbkdf2_hmac`, written
`pbkdf2:sha256:1000000$<salt>$<hex digest>`), with a random salt per user and the parameters in the string.
The file is read once, at start-up; a line that is not a user is an error that names the line, never a user
silently dropped, and parameters too costly to check on every sign-in are refused.
"""

import argparse
import contextlib
import getpass
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import TextIO

from werkzeug.security import generate_password_hash

from settings_env import environment_defaults


HASH_METHOD = "scrypt"  # Werkzeug's default parameters, n=32768 r=8 p=1: about 32 MiB and 0.1 s per check
MAX_FILE_BYTES = 1024 * 1024
MAX_USERS = 10_000
MAX_NAME_LENGTH = 128
MAX_PASSWORD_LENGTH = 1024
# Bounds on what a hash in the file may ask of every uncached sign-in.
MAX_SCRYPT_MEMORY = 64 * 1024 * 1024
MAX_PBKDF2_ITERATIONS = 2_000_000
PBKDF2_DIGESTS = frozenset({"sha256", "sha512"})

_NAME_RE = re.compile(r"[^\x00-\x20:\x7f][^\x00-\x1f:\x7f]*")  # no colon or control character, no leading space
_SCRYPT_RE = re.compile(r"scrypt:(?P<n>[0-9]{1,8}):(?P<r>[0-9]{1,3}):(?P<p>[0-9]{1,3})")
_PBKDF2_RE = re.compile(r"pbkdf2:(?P<digest>[a-z0-9]+):(?P<iterations>[0-9]{1,8})")
_SALT_RE = re.compile(r"[A-Za-z0-9]{8,64}")
_DIGEST_RE = re.compile(r"[0-9a-f]{32,128}")


class UsersError(Exception):
    """The users file cannot be used, or a user cannot be added; the message says why and where."""


def check_name(name: str) -> str | None:
    """Why `name` cannot be a user name (it goes before the colon of HTTP Basic credentials), or None."""
    if not name:
        return "a user name cannot be empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"a user name has at most {MAX_NAME_LENGTH} characters"
    if not _NAME_RE.fullmatch(name) or name != name.strip() or name.startswith("#"):
        return "a user name cannot contain a colon or control characters, or start with # or a space"
    return None


def check_hash(password_hash: str) -> str | None:
    """Why `password_hash` is not a hash this server will check, or None."""
    method, _, rest = password_hash.partition("$")
    salt, _, digest = rest.partition("$")
    if not _SALT_RE.fullmatch(salt) or not _DIGEST_RE.fullmatch(digest):
        return "the hash is not of the form method$salt$hex-digest"
    if scrypt := _SCRYPT_RE.fullmatch(method):
        return _check_scrypt(*(int(scrypt[key]) for key in "nrp"))
    if pbkdf2 := _PBKDF2_RE.fullmatch(method):
        return _check_pbkdf2(pbkdf2["digest"], int(pbkdf2["iterations"]))
    return "the method is neither scrypt:N:R:P nor pbkdf2:DIGEST:ITERATIONS"


def _check_scrypt(n: int, r: int, p: int) -> str | None:
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        return "scrypt needs n a power of 2 and r, p of at least 1"
    if 128 * n * r * p > MAX_SCRYPT_MEMORY:
        return f"scrypt parameters needing over {MAX_SCRYPT_MEMORY >> 20} MiB per check are refused"
    return None


def _check_pbkdf2(digest: str, iterations: int) -> str | None:
    if digest not in PBKDF2_DIGESTS:
        return f"pbkdf2 takes {' or '.join(sorted(PBKDF2_DIGESTS))}"
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        return f"pbkdf2 takes 1 to {MAX_PBKDF2_ITERATIONS} iterations"
    return None


def parse_users(text: str, source: str) -> dict[str, str]:
    """The user → hash table of a users file's text; blank lines and lines starting with # are skipped."""
    users: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, colon, password_hash = line.partition(":")
        problem = "the line is not user:hash" if not colon else check_name(name) or check_hash(password_hash)
        if problem is None and name in users:
            problem = f"the user {name} is there twice"
        if problem is not None:
            raise UsersError(f"{source}, line {number}: {problem}")
        users[name] = password_hash
    if len(users) > MAX_USERS:
        raise UsersError(f"{source}: more than {MAX_USERS} users")
    return users


def read_text(path: Path) -> str:
    """The text of the users file at `path`; UsersError if it cannot be read, is too large or is not UTF-8."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise UsersError(f"cannot read the users file {path}: {error.strerror}") from error
    if len(data) > MAX_FILE_BYTES:
        raise UsersError(f"the users file {path} is over {MAX_FILE_BYTES >> 20} MiB")
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise UsersError(f"the users file {path} is not UTF-8") from error


def read_users(path: Path) -> dict[str, str]:
    """The user → hash table of the users file at `path`; UsersError if it cannot be read or is malformed."""
    return parse_users(read_text(path), str(path))


def write_text(path: Path, text: str) -> None:
    """Replace the file atomically (a reader sees the old file or the new one, never half of one), keeping
    the old file's permissions and, where allowed, its owner; a new file is readable by its owner only."""
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".part")  # 0600
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            if old is not None:
                os.fchmod(file.fileno(), stat.S_IMODE(old.st_mode))
                with contextlib.suppress(PermissionError):  # only root may give a file away
                    os.fchown(file.fileno(), old.st_uid, old.st_gid)
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def with_user(text: str, name: str, password_hash: str) -> tuple[str, bool]:
    """The users file's text with `name`'s line set to this hash, comments and order kept; and whether the
    name was new (its line is then added at the end)."""
    line = f"{name}:{password_hash}\n"
    lines = text.splitlines(keepends=True)
    for number, old in enumerate(lines):
        if not old.startswith("#") and old.partition(":")[0] == name:
            lines[number] = line
            return "".join(lines), False
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join([*lines, line]), True


def add_user(path: Path, name: str, password: str) -> bool:
    """Add `name` with `password` to the users file (created if missing), keeping the rest of it; True if the
    user was new, False if their password was replaced."""
    if problem := check_name(name):
        raise UsersError(problem)
    if not password:
        raise UsersError("the password is empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UsersError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    text = read_text(path) if path.exists() else ""
    users = parse_users(text, str(path))
    if name not in users and len(users) >= MAX_USERS:
        raise UsersError(f"the users file {path} has {MAX_USERS} users already")
    new_text, new = with_user(text, name, generate_password_hash(password, method=HASH_METHOD))
    try:
        write_text(path, new_text)
    except OSError as error:
        raise UsersError(f"cannot write the users file {path}: {error.strerror}") from error
    return new


def read_password(name: str, stdin: TextIO) -> str:
    """The new password: asked twice without echo on a terminal, else the first line of stdin."""
    if stdin.isatty():
        try:
            password = getpass.getpass(f"Password for {name}: ")
            again = getpass.getpass("The same password again: ")
        except (EOFError, KeyboardInterrupt) as error:
            raise UsersError("no password was given") from error
        if again != password:
            raise UsersError("the two passwords differ")
        return password
    line = stdin.readline(MAX_PASSWORD_LENGTH + 2)
    if len(line.rstrip("\r\n")) > MAX_PASSWORD_LENGTH:
        raise UsersError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    return line.rstrip("\r\n")


def add_user_command(argv: list[str], stdin: TextIO, stderr: TextIO) -> int:
    """`server.py add-user NAME [--users FILE]`: exit 0 when the user is written, 2 when nothing was."""
    parser = argparse.ArgumentParser(
        prog="server.py add-user",
        description="Add a user who may write to the library, or change their password. The password is asked "
        "on the terminal, or read from the first line of standard input.",
    )
    parser.add_argument("name", help="the user name (no colon)")
    parser.add_argument(
        "--users",
        metavar="FILE",
        help="the users file, created if missing",
    )
    environment_defaults(parser, "AUDIO_LIBRARY")
    arguments = parser.parse_args(argv)
    if not arguments.users:
        parser.error("say which users file: --users FILE or AUDIO_LIBRARY_USERS")
    path = Path(arguments.users)
    try:
        if problem := check_name(arguments.name):
            raise UsersError(problem)
        new = add_user(path, arguments.name, read_password(arguments.name, stdin))
    except UsersError as error:
        print(f"server.py add-user: {error}; nothing was written.", file=stderr)
        return 2
    done = "added" if new else "changed the password of"
    print(f"server.py add-user: {done} {arguments.name} in {path}.", file=stderr)
    return 0
