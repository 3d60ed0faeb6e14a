"""The JSON API: list, upload and delete the library's files."""

from flask import Blueprint, Response, jsonify, request

from audio_library.web.current_library import get_library
from audio_library.web.errors import no_such_file
from audio_library.web.uploads import store_upload, success_status


bp = Blueprint("api", __name__, url_prefix="/api")

# How many files in the folder are still being examined, so not in this listing yet (0 when it is complete).
UNEXAMINED_HEADER = "X-Library-Unexamined"


@bp.get("/files")
def list_files() -> Response:
    """Every audio file in the library, sorted by name; the header says how many are not examined yet."""
    listing = get_library().listing()
    response = Response(listing.json, mimetype="application/json")
    response.headers[UNEXAMINED_HEADER] = str(listing.unexamined)
    return response


@bp.post("/files")
def upload_files() -> tuple[Response, int]:
    """Store every part named "file": 201, or 200 if every part was already in the library."""
    stored = store_upload(get_library(), request)
    return jsonify({"files": [item.to_json() for item in stored]}), success_status(stored)


@bp.delete("/files/<name>")
def delete_file(name: str) -> Response:
    """Delete one file: 204, or 404 if there is no such audio file."""
    if not get_library().delete(name):
        raise no_such_file(name)
    return Response(status=204)
