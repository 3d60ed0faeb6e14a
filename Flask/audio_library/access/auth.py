"""Who may write, and on a private library who may read: HTTP Basic credentials checked against the users.

With users configured, a request that changes the library (POST, PUT, PATCH, DELETE) needs the credentials of
one of them; on a private library every request does. Anything else is a 401 whose `WWW-Authenticate` makes
a browser ask for a name and password by itself and send them again with the following requests.

Checking a password costs a key derivation (scrypt: about 0.1 s and 32 MiB), so credentials once verified are
remembered, as a keyed digest, never as the password, in a small bounded cache; so are credentials once refused,
which a flood repeating them then costs no derivation (the users are read once, so what was wrong stays
wrong; its answer is still held back). The checks themselves take
their turn in a fair queue, and wrong passwords back off (`check_queue`): a request whose check cannot start
within a few seconds is answered 503 with Retry-After, and the 401 to a wrong password is held back.
"""

import base64
import binascii
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

from flask import current_app, request
from werkzeug.security import check_password_hash, generate_password_hash

from audio_library.access.check_queue import BACKOFF_MOST, CONCURRENT_CHECKS, Backoff, CheckQueue, ChecksBusyError
from audio_library.access.clients import client_of
from audio_library.access.cross_origin import CHANGING_METHODS
from audio_library.access.users import HASH_METHOD, MAX_NAME_LENGTH, MAX_PASSWORD_LENGTH
from audio_library.web.errors import AccessRefusedError, RequestError


USERS_KEY = "audio_library.users"
REALM = "Audio library"
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'
# "Basic " and the base64 of the longest name, a colon and the longest password, each character up to 4 bytes.
MAX_AUTHORIZATION_LENGTH = len("Basic ") + 4 * (4 * (MAX_NAME_LENGTH + 1 + MAX_PASSWORD_LENGTH) + 2) // 3
CACHE_SIZE = 256  # credentials verified, remembered
REFUSED_CACHE_SIZE = 1024  # credentials refused, remembered
# A callable the server may put in the WSGI environ: hold the answer this many seconds before sending it,
# without holding the worker thread (serving.connections); without it, the worker sleeps.
HOLD_ANSWER_KEY = "audio_library.hold_answer"


class Credentials(NamedTuple):
    """A user name and password, as sent."""

    name: str
    password: str


def basic_credentials(header: str | None) -> Credentials | None:
    """The credentials of an `Authorization: Basic …` header (RFC 7617, UTF-8), or None for anything else:
    no header, another scheme, too long, not base64, not UTF-8, no colon."""
    if header is None or len(header) > MAX_AUTHORIZATION_LENGTH:
        return None
    scheme, _, token = header.strip(" \t").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(" \t").encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        return None
    name, colon, password = decoded.partition(":")
    return Credentials(name, password) if colon else None


class Remembered:
    """Digests of credentials, at most `size`, the least recently seen forgotten first; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._digests: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, digest: bytes) -> bool:
        """Whether `digest` is remembered (it is then the most recently seen)."""
        with self._lock:
            if digest not in self._digests:
                return False
            self._digests.move_to_end(digest)
            return True

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._digests[digest] = None
            if len(self._digests) > self.size:
                self._digests.popitem(last=False)


class Verdict(NamedTuple):
    """Whether credentials are a user's, and the seconds the answer to them is to be held (after a failure)."""

    verified: bool
    hold: float = 0.0


class Users:
    """The users who may write, and the check of their passwords."""

    def __init__(self, hashes: Mapping[str, str], most_backoff: float = BACKOFF_MOST) -> None:
        """`most_backoff`: the longest the answer to a wrong password is held, in seconds (0: never)."""
        self._hashes = dict(hashes)
        # An unknown name is checked against this, so it takes as long as a known name with a wrong password.
        method = next((value.partition("$")[0] for value in self._hashes.values()), HASH_METHOD)
        self._decoy = generate_password_hash(secrets.token_urlsafe(16), method=method)
        self._cache_key = secrets.token_bytes(32)
        self._verified = Remembered(CACHE_SIZE)
        self._refused = Remembered(REFUSED_CACHE_SIZE)
        self._checks = CheckQueue(CONCURRENT_CHECKS)
        self._backoff = Backoff(most_backoff)

    def __len__(self) -> int:
        return len(self._hashes)

    def verify(self, credentials: Credentials, client: str) -> Verdict:
        """Whether these are the name and password of a user, sent by this client (`clients.client_of`);
        constant time in what is compared.

        Raises ChecksBusyError when the credentials are not remembered (verified or refused) and no check slot
        comes free in time.
        """
        name, password = credentials
        if len(name) > MAX_NAME_LENGTH or len(password) > MAX_PASSWORD_LENGTH:
            return Verdict(verified=False)
        key = hmac.digest(self._cache_key, f"{len(name)}:{name}:{password}".encode(), "sha256")
        if self._verified.seen(key):
            return Verdict(verified=True)
        if self._refused.seen(key):
            return Verdict(verified=False, hold=self._backoff.failed(client, name))
        known = self._hashes.get(name)
        with self._checks.turn(client):
            matches = check_password_hash(known or self._decoy, password)
        if not (matches and known):
            self._refused.add(key)
            return Verdict(verified=False, hold=self._backoff.failed(client, name))
        self._verified.add(key)
        return Verdict(verified=True)


def require_credentials() -> None:
    """Answer 401 to a request that needs a user's credentials and does not carry them; pass the rest."""
    users: Users | None = current_app.extensions.get(USERS_KEY)
    if users is None:
        return
    private: bool = current_app.config["PRIVATE"]
    if not private and request.method not in CHANGING_METHODS:
        return
    credentials = basic_credentials(request.headers.get("Authorization"))
    if credentials is not None:
        try:
            verdict = users.verify(credentials, client_of(request.remote_addr or ""))
        except ChecksBusyError:
            message = "The server is busy checking other passwords: try again in a second."
            raise RequestError(503, message, headers={"Retry-After": "1"}) from None
        if verdict.verified:
            return
        hold_answer(request.environ, verdict.hold)
    if private:
        message = "This library is private: sign in with a user name and password."
    else:
        message = "Sign in with a user name and password to change this library."
    raise AccessRefusedError(401, message, headers={"WWW-Authenticate": CHALLENGE})


def hold_answer(environ: dict[str, Any], seconds: float) -> None:
    """Have the answer to this request sent `seconds` late: by the server, if it offers to, else by sleeping."""
    hold = environ.get(HOLD_ANSWER_KEY)
    if hold is not None:
        hold(seconds)
    elif seconds > 0:
        time.sleep(seconds)
