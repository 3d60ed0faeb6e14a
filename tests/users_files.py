"""Users files for servers under test: real hashes, in a format the server takes, quick to make and check.

The server's own users (made by `add-user`) are scrypt, about 0.1 s a check; a test that only needs someone
to sign in uses PBKDF2 at a low count instead, which the server accepts as well.
"""

from collections.abc import Mapping
from pathlib import Path

from werkzeug.security import generate_password_hash


QUICK_METHOD = "pbkdf2:sha256:1000"


def quick_hash(password: str) -> str:
    """A valid password hash that is quick to make and check."""
    return generate_password_hash(password, method=QUICK_METHOD)


def write_users_file(path: Path, users: Mapping[str, str]) -> Path:
    """Write a users file of these names and passwords to `path`, and return it."""
    path.write_text("".join(f"{name}:{quick_hash(password)}\n" for name, password in users.items()))
    return path
