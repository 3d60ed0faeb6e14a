"""The audio library: a Flask application that keeps uploaded audio files in a plain folder."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from audio_library.access.auth import USERS_KEY, Users, require_credentials
from audio_library.access.check_queue import BACKOFF_MOST
from audio_library.access.cross_origin import refuse_cross_origin
from audio_library.access.hosts import HOSTS_KEY, refuse_foreign_host
from audio_library.access.users import UsersError, read_users
from audio_library.library.playable_copies import DEFAULT_TRANSCODES
from audio_library.web import api, current_library, downloads, page
from audio_library.web.content_policy import set_content_security_policy
from audio_library.web.errors import RequestError, register_error_handlers, too_large_message
from host_rules import HostAllowlist


DEFAULT_LIBRARY_DIR = "var/library"
DEFAULT_MAX_UPLOAD_SIZE = 1024**3  # 1 GiB per request
MAX_FORM_FIELD_SIZE = 64 * 1024  # plain (non-file) form fields and part headers
MAX_FORM_PARTS = 1000


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application on the library folder config["LIBRARY_DIR"].

    Config keys: LIBRARY_DIR (default var/library), MAX_CONTENT_LENGTH (the largest upload request body in
    bytes, default 1 GiB; Flask's own name, so werkzeug enforces it too), MAX_FORM_PARTS, MAX_FORM_MEMORY_SIZE,
    USERS_FILE (the users who may write; default none: anyone may), PRIVATE (reads need a user too, default
    off), ALLOWED_HOSTS (DNS names answered to besides localhost and the machine's name), TRANSCODES (how many
    playable copies FFmpeg may make at once, default 2) and PASSWORD_BACKOFF (the longest the answer to a
    wrong password is held, in seconds; 0: never). The environment is read by the command line alone
    (`serving/cli.py`: flag, then AUDIO_LIBRARY_*, then default).

    Raises storage.LibraryError if the folder cannot be created or written, users.UsersError if the users file
    cannot be read or PRIVATE is set without one, host_rules.HostNameError for an allowed host that is no name.
    """
    app = Flask(__name__)
    app.config.from_mapping(
        LIBRARY_DIR=DEFAULT_LIBRARY_DIR,
        MAX_CONTENT_LENGTH=DEFAULT_MAX_UPLOAD_SIZE,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_FIELD_SIZE,
        MAX_FORM_PARTS=MAX_FORM_PARTS,
        USERS_FILE=None,
        PRIVATE=False,
        ALLOWED_HOSTS=[],
        TRANSCODES=DEFAULT_TRANSCODES,
        PASSWORD_BACKOFF=BACKOFF_MOST,
    )
    if config is not None:
        app.config.update(config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    app.extensions[HOSTS_KEY] = HostAllowlist(app.config["ALLOWED_HOSTS"])
    if app.config["USERS_FILE"] is not None:
        app.extensions[USERS_KEY] = Users(read_users(Path(app.config["USERS_FILE"])), app.config["PASSWORD_BACKOFF"])
    elif app.config["PRIVATE"]:
        raise UsersError("a private library needs users: give the users file too")
    current_library.init_app(app)

    register_error_handlers(app)
    app.before_request(refuse_foreign_host)
    app.before_request(refuse_cross_origin)
    app.before_request(require_credentials)
    app.before_request(refuse_oversized_body)
    app.after_request(forbid_sniffing)
    app.after_request(set_content_security_policy)
    app.register_blueprint(api.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(page.bp)
    return app


def refuse_oversized_body() -> None:
    """Answer 413 from the Content-Length alone, before a byte of an oversized body is stored."""
    limit: int = request.max_content_length or 0
    if limit and request.content_length is not None and request.content_length > limit:
        raise RequestError(413, too_large_message(limit))


def forbid_sniffing(response: Response) -> Response:
    """Browsers must take the Content-Type we send, never guess HTML or script from the bytes."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
