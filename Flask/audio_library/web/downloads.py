"""Serving the library's files for playback and download."""

import os
from datetime import datetime, timezone
from typing import BinaryIO

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import wrap_file

from audio_library.library.names import sanitize_filename
from audio_library.library.playable_copies import PLAYABLE_TYPES, TranscodeError, TranscodersBusyError
from audio_library.web.current_library import get_library
from audio_library.web.download_names import content_disposition
from audio_library.web.errors import RequestError, no_such_file


bp = Blueprint("files", __name__)
TRANSCODE_RETRY_S = 5


@bp.get("/files/<name>")
def serve_file(name: str) -> Response:
    """The bytes of one audio file, with its detected type; Range, ETag and Last-Modified are honoured.

    Only files detected as audio are served, so nothing here is ever text/html or image/svg+xml.
    """
    library = get_library()
    entry = library.entry(name)
    if entry is None:
        raise no_such_file(name)
    attachment = request.args.get("download") == "1"
    try:
        stream, info = library.open(entry)
    except FileNotFoundError:
        # Deleted since the lookup, or a link swapped in. Once the file is open, a delete no longer matters: the
        # open file keeps its bytes, so the client gets the whole version it asked for, or this 404.
        raise no_such_file(name) from None
    response = _send(stream, info, entry.type)
    # A name copied in by hand may hold a newline, which no header may carry: the suggested name is the one an
    # upload of it would get.
    download_name = sanitize_filename(entry.name)
    if download_name.isascii():
        response.headers.set("Content-Disposition", "attachment" if attachment else "inline", filename=download_name)
    else:
        # werkzeug's ASCII fallback drops every non-Latin letter (`  .wav`): clients that ignore filename*
        # (curl -OJ) get a readable transliteration instead.
        response.headers["Content-Disposition"] = content_disposition(download_name, attachment=attachment)
    return response


def _send(stream: BinaryIO, info: os.stat_result, mimetype: str) -> Response:
    """What send_file does for a path, for a file we opened ourselves: Range, ETag, Last-Modified, 304."""
    response = current_app.response_class(
        wrap_file(request.environ, stream), mimetype=mimetype, direct_passthrough=True
    )
    response.content_length = info.st_size
    response.last_modified = datetime.fromtimestamp(info.st_mtime, tz=timezone.utc)
    response.cache_control.no_cache = True
    # Our own tag from what fstat says, so it describes the very file being sent.
    response.set_etag(f"{info.st_size:x}-{info.st_mtime_ns:x}")
    try:
        response.make_conditional(request.environ, accept_ranges=True, complete_length=info.st_size)
    except RequestedRangeNotSatisfiable:
        stream.close()
        raise
    return response


@bp.get("/files/<name>/playable")
def serve_playable(name: str) -> Response:
    """The audio of a file re-encoded for browsers that cannot play its format: `?as=webm` (Opus in WebM, the
    default) or `?as=mp3`. Made by FFmpeg on first request and cached; Range, ETag and Last-Modified are
    honoured. 503 with Retry-After while every transcoder is at work, 422 when FFmpeg cannot decode it.
    """
    kind = request.args.get("as", "webm")
    if kind not in PLAYABLE_TYPES:
        raise RequestError(400, "Ask for ?as=webm (Opus in WebM) or ?as=mp3.")
    library = get_library()
    entry = library.entry(name)
    if entry is None:
        raise no_such_file(name)
    try:
        stream = library.playable(entry, kind)
    except FileNotFoundError:
        raise no_such_file(name) from None
    except TranscodersBusyError:
        message = "Every transcoder is at work: try again in a few seconds."
        raise RequestError(503, message, headers={"Retry-After": str(TRANSCODE_RETRY_S)}) from None
    except TranscodeError as error:
        raise RequestError(422, f'The audio file "{name}" cannot be made playable: {error}.') from None
    response = _send(stream, os.fstat(stream.fileno()), PLAYABLE_TYPES[kind])
    response.headers["Content-Disposition"] = "inline"
    return response


@bp.get("/files/<name>/cover")
def serve_cover(name: str) -> Response:
    """The cover picture embedded in an audio file's tags: a JPEG, PNG, GIF or WebP of at most 1 MiB.

    Its type is told from its bytes, never from what the tag claims, so nothing else is ever served here.
    404 when the file has no such picture. Where it lies was found when the file was examined: serving it
    reads those bytes alone, never the tags again.
    """
    library = get_library()
    entry = library.entry(name)
    if entry is None:
        raise no_such_file(name)
    try:
        stream, info = library.open(entry, buffered=False)
    except FileNotFoundError:
        raise no_such_file(name) from None
    with stream:
        cover = library.cover(entry, stream, info)
    if cover is None:
        raise RequestError(404, f'The audio file "{name}" has no cover picture.')
    response = Response(cover.data, mimetype=cover.type)
    response.set_etag(f"cover-{info.st_size:x}-{info.st_mtime_ns:x}")
    response.make_conditional(request)
    return response
