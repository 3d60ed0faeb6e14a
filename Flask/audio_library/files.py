"""Serving the library's files for playback and download."""

from flask import Blueprint, Response, request, send_file

from audio_library.download_names import content_disposition
from audio_library.errors import no_such_file
from audio_library.extension import get_library
from audio_library.names import sanitize_filename


bp = Blueprint("files", __name__)


@bp.get("/files/<name>")
def serve_file(name: str) -> Response:
    """The bytes of one audio file, with its detected type; Range, ETag and Last-Modified are honoured.

    Only files detected as audio are served, so nothing here is ever text/html or image/svg+xml.
    """
    library = get_library()
    entry = library.entry(name)
    if entry is None:
        raise no_such_file(name)
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
        raise no_such_file(name) from None
    response.headers["Accept-Ranges"] = "bytes"
    if not download_name.isascii():
        # werkzeug's ASCII fallback drops every non-Latin letter (`  .wav`): clients that ignore filename*
        # (curl -OJ) get a readable transliteration instead.
        response.headers["Content-Disposition"] = content_disposition(download_name, attachment=attachment)
    return response
