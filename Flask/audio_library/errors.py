"""Every error of every route is JSON `{"error": "<one clear sentence>"}` with the right status.

Werkzeug's HTML error pages and Flask's tracebacks never reach a client: HTTP errors, upload errors and
anything unexpected are all turned into JSON here.
"""

import errno
import logging
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge


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


class UploadError(Exception):
    """An upload that cannot be accepted: the HTTP status, a sentence for the person, and the file's name."""

    def __init__(self, status: int, message: str, name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.name = name

    def to_json(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        body: dict[str, Any] = {"error": self.message}
        if self.name is not None:
            body["name"] = self.name
        return body


def human_size(size: int) -> str:
    """1073741824 → "1 GiB", 1536 → "1.5 KiB"."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def too_large_message(limit: int) -> str:
    """The 413 message: what the limit is, in words and in bytes."""
    return f"The upload is too large: the limit is {human_size(limit)} ({limit} bytes) per request."


def json_error(status: int, message: str, **extra: Any) -> Response:
    """A JSON error response."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    return response


def access_refused(status: int, message: str) -> Response:
    """A JSON error refusing whoever asks (a foreign Host, no credentials), marked so that the page does not
    wrap it in a view of the library, which would show the tracks to exactly those it refuses."""
    g.access_refused = True
    return json_error(status, message)


def was_access_refused() -> bool:
    """Whether this request's answer is an access_refused error."""
    return bool(g.get("access_refused", False))


def no_such_file(name: str) -> Response:
    """The 404 of a route naming a file the library does not hold."""
    return json_error(404, f'There is no audio file named "{name}" in the library.')


def register_error_handlers(app: Flask) -> None:
    """Make every error of `app` a JSON response."""

    @app.errorhandler(UploadError)
    def upload_error(error: UploadError) -> Response:
        response = jsonify(error.to_json())
        response.status_code = error.status
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if isinstance(error, RequestEntityTooLarge):
            message = too_large_message(app.config["MAX_CONTENT_LENGTH"])
        elif status == 405:
            message = f"The method {request.method} is not allowed here."
        else:
            message = MESSAGES.get(status) or _first_sentence(error.description) or error.name
        response = json_error(status, message)
        headers = dict(error.get_headers())
        for header in ("Allow", "Retry-After"):
            if header in headers:
                response.headers[header] = headers[header]
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.path, exc_info=error)
        return json_error(500, MESSAGES[500])


def _first_sentence(text: str | None) -> str:
    if not text:
        return ""
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]
