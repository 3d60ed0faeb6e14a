"""Serving the library's files for playback and download."""

from flask import Blueprint, Response, request, send_file

from audio_library.download_names import content_disposition
from audio_library.errors import json_error, no_such_file
from audio_library.names import sanitize_filename
from audio_library.storage import current_library
from audio_library.tags import read_cover


bp = Blueprint("files", __name__)


@bp.get("/files/<name>")
def serve_file(name: str) -> Response:
    """The bytes of one audio file, with its detected type; Range, ETag and Last-Modified are honoured.

    Only files detected as audio are served, so nothing here is ever text/html or image/svg+xml.
    """
    library = current_library()
    entry = library.entry(name)
    if entry is None:
        return no_such_file(name)
    path = library.path(entry)
    attachment = request.args.get("download") == "1"
    # A name copied in by hand may hold a newline, which no header may carry: the suggested name is the one an
    # upload of it would get.
    download_name = sanitize_filename(entry.name)
    try:
        info = path.stat()
        response = send_file(
            path,
            mimetype=entry.type,
            as_attachment=attachment,
            download_name=download_name,
            conditional=True,
            # Our own tag: werkzeug's hashes the path as UTF-8, which fails for names on disk that are not.
            etag=f"{info.st_size:x}-{info.st_mtime_ns:x}",
            max_age=None,
        )
    except FileNotFoundError:
        # Deleted since the lookup. Once send_file has opened it, a delete no longer matters: the open file
        # keeps its bytes, so the client gets the whole version it asked for, or this 404.
        return no_such_file(name)
    response.headers["Accept-Ranges"] = "bytes"
    if not download_name.isascii():
        # werkzeug's ASCII fallback drops every non-Latin letter (`  .wav`): clients that ignore filename*
        # (curl -OJ) get a readable transliteration instead.
        response.headers["Content-Disposition"] = content_disposition(download_name, attachment=attachment)
    return response


@bp.get("/files/<name>/cover")
def serve_cover(name: str) -> Response:
    """The cover picture embedded in an audio file's tags: a JPEG, PNG, GIF or WebP of at most 1 MiB.

    Its type is told from its bytes, never from what the tag claims, so nothing else is ever served here.
    404 when the file has no such picture.
    """
    library = current_library()
    entry = library.entry(name)
    if entry is None:
        return no_such_file(name)
    path = library.path(entry)
    try:
        info = path.stat()
        cover = read_cover(path, entry.type)
    except FileNotFoundError:
        return no_such_file(name)
    if cover is None:
        return json_error(404, f'The audio file "{name}" has no cover picture.')
    response = Response(cover.data, mimetype=cover.type)
    response.set_etag(f"cover-{info.st_size:x}-{info.st_mtime_ns:x}")
    response.make_conditional(request)
    return response
