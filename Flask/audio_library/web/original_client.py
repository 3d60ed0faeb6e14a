"""The JSON the task's original client gets from `/`: `{"message": "...", "files": ["name", ...]}`.

That client (the first published screwdriver.py) lists with `GET /` and uploads with `POST /` (form field
`file`), asking for `Accept: application/json`, and prints the message and the names. A request that prefers
JSON to HTML gets this shape from the page's routes, with the statuses of the API; browsers get the page.
`files` is always the library's names after the request, in the listing's order; errors carry the API's
`error` (and `name`) beside `message`.
"""

from typing import Any

from flask import Response, jsonify, request

from audio_library.library.entries import Listing
from audio_library.web.current_library import get_library
from audio_library.web.errors import RequestError
from audio_library.web.uploads import StoredFile


def wants_json() -> bool:
    """True if the client prefers JSON to HTML (an Accept without either, or `*/*`, means the page)."""
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"


def listing_response() -> Response:
    """GET /: how many files there are, and their names."""
    listing = get_library().listing()
    count = len(listing.entries)
    message = "The library is empty." if not count else f"{count} audio file{'' if count == 1 else 's'} in the library."
    if listing.unexamined:
        message += f" {listing.unexamined} more still being examined: ask again to see them."
    return _response(200, message, listing)


def upload_response(stored: list[StoredFile], status: int) -> Response:
    """POST /: what became of each file sent, and the library's names afterwards."""
    message = " ".join(f"{item.sent_name}: {item.outcome}." for item in stored)
    return _response(status, message, get_library().listing())


def error_response(error: RequestError) -> Response:
    """Any error of the page's routes: the API's error body, with `message` and `files` beside it."""
    try:
        names = _names(get_library().listing())
    except OSError:  # the library cannot be listed either
        names = []
    body: dict[str, Any] = {"message": error.message, "files": names, **error.to_json()}
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _response(status: int, message: str, listing: Listing) -> Response:
    response = jsonify({"message": message, "files": _names(listing)})
    response.status_code = status
    return response


def _names(listing: Listing) -> list[str]:
    return [entry.name for entry in listing.entries]
