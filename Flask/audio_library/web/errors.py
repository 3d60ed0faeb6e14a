"""Every error of every route is JSON `{"error": "<one clear sentence>"}` with the right status.

Werkzeug's HTML error pages and Flask's tracebacks never reach a client: every client error becomes a
RequestError (a status, a sentence and the headers that go with it), which the app sends as JSON and the
page's routes render as the page. An OSError that reaches a route (the folder made read-only or removed, the
disk full, too many open files) is a clear status too (`storage_error`); anything else unexpected is a
JSON 500.
"""

import errno
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from audio_library.web.formatting import human_size


logger = logging.getLogger(__name__)

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_MESSAGE = "The library's disk is full: nothing from this upload was stored."

MESSAGES = {
    400: "The request is malformed.",
    403: "This request is not allowed.",
    404: "There is no such file or page.",
    405: "This method is not allowed here.",
    411: "The request must say its length (Content-Length) or be sent chunked.",
    500: "The server failed to handle this request.",
}
_KEPT_HEADERS = frozenset({"Allow", "Retry-After", "WWW-Authenticate"})
PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
BUSY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN})
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR})
RETRY_AFTER_S = 1


class RequestError(Exception):
    """A request that cannot be answered as asked: the HTTP status, a sentence for the person, the name of the
    file concerned if any, and headers the status needs (Allow, Retry-After, WWW-Authenticate)."""

    def __init__(
        self, status: int, message: str, name: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.name = name
        self.headers = dict(headers or {})

    def to_json(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        body: dict[str, Any] = {"error": self.message}
        if self.name is not None:
            body["name"] = self.name
        return body

    def to_response(self) -> Response:
        """The JSON error response."""
        response = jsonify(self.to_json())
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


class AccessRefusedError(RequestError):
    """A request refused for who sends it (a foreign Host, no credentials): always answered with the error
    alone, never with a view of the library (the page, the original client's names), which would show the
    tracks to exactly those it refuses."""


class UploadError(RequestError):
    """An upload that cannot be accepted (400, 409, 413, 415, 507); `name` is the file's name as sent."""


def from_http_exception(error: HTTPException) -> RequestError:
    """The RequestError for one of werkzeug's HTTP errors (routing, limits), with our sentence for it."""
    status = error.code or 500
    if isinstance(error, RequestEntityTooLarge):
        message = too_large_message(current_app.config["MAX_CONTENT_LENGTH"])
    elif status == 405:
        message = f"The method {request.method} is not allowed here."
    else:
        message = MESSAGES.get(status) or _first_sentence(error.description) or error.name
    headers = {name: value for name, value in error.get_headers() if name in _KEPT_HEADERS}
    return RequestError(status, message, headers=headers)


def too_large_message(limit: int) -> str:
    """The 413 message: what the limit is, in words and in bytes."""
    return f"The upload is too large: the limit is {human_size(limit)} ({limit} bytes) per request."


def storage_error(error: OSError) -> RequestError:
    """The answer for a failure of the library's folder or disk: 507 full, 403 not allowed, 404 gone, 503
    busy (try again), or 500 naming what failed; never a traceback."""
    reason = error.strerror or str(error)
    if error.errno in DISK_FULL_ERRNOS:
        return RequestError(507, f"The library's disk is full ({reason}): nothing was changed.")
    if error.errno in PERMISSION_ERRNOS:
        return RequestError(403, f"The server is not allowed to do this in the library folder ({reason}).")
    if error.errno in GONE_ERRNOS:
        return RequestError(404, f"The file or the library folder is gone ({reason}).")
    if error.errno in BUSY_ERRNOS:
        message = f"The server is out of resources for the moment ({reason}): try again in a second."
        return RequestError(503, message, headers={"Retry-After": str(RETRY_AFTER_S)})
    return RequestError(500, f"The library's folder or disk failed: {reason}.")


def no_such_file(name: str) -> RequestError:
    """The 404 of a route naming a file the library does not hold."""
    return RequestError(404, f'There is no audio file named "{name}" in the library.')


def register_error_handlers(app: Flask) -> None:
    """Make every error of `app` a JSON response (the page's blueprint renders its own as the page)."""

    @app.errorhandler(RequestError)
    def request_error(error: RequestError) -> Response:
        return error.to_response()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return from_http_exception(error).to_response()

    @app.errorhandler(OSError)
    def os_error(error: OSError) -> Response:
        logger.warning("%s %s failed: %s", request.method, request.path, error)
        return storage_error(error).to_response()

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.path, exc_info=error)
        return RequestError(500, MESSAGES[500]).to_response()


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
