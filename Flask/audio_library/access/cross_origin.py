"""The cross-origin guard: a web page elsewhere must not change a library served on localhost."""

from flask import request

from audio_library.web.errors import RequestError


CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def refuse_cross_origin() -> None:
    """Refuse (403) a changing request sent by a page of another origin; let everything else through.

    Browsers send `Origin` on cross-origin POSTs and `Sec-Fetch-Site` on all requests; a client that sends
    neither (curl, the CLI) cannot be a page of another site, so it passes.
    """
    if request.method not in CHANGING_METHODS:
        return
    origin = request.headers.get("Origin")
    own_origin = f"{request.scheme}://{request.host}"
    if origin is not None and origin.rstrip("/").lower() != own_origin.lower():
        raise RequestError(403, f"Requests from another origin ({origin}) may not change this library.")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise RequestError(403, "Requests from another site may not change this library.")
