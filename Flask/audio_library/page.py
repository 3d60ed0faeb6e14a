"""The library page: the track list with a player, and upload and delete forms that work without JavaScript."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup

from audio_library.catalog import Entry, Listing, display_name
from audio_library.errors import UploadError, human_size
from audio_library.storage import current_library
from audio_library.uploads import StoredFile, store_upload, success_status


bp = Blueprint("page", __name__)
bp.add_app_template_filter(human_size, "filesize")

NON_AUDIO = "Non-audio file detected"
TABLE_KEY = "audio_library.page.table"  # where the app keeps the last rendered table

# What the page calls each detected type; anything else is named after its subtype ("audio/x-foo" → "FOO").
FORMAT_NAMES: Mapping[str, str] = {
    "audio/mpeg": "MP3",
    "audio/wav": "WAV",
    "audio/x-wav": "WAV",
    "audio/wave": "WAV",
    "audio/vnd.wave": "WAV",
    "audio/ogg": "Ogg",
    "audio/opus": "Opus",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
    "audio/mp4": "M4A",
    "audio/x-m4a": "M4A",
    "audio/aac": "AAC",
    "audio/aiff": "AIFF",
    "audio/x-aiff": "AIFF",
    "audio/webm": "WebM",
    "audio/x-matroska": "MKA",
}


@dataclass(frozen=True)
class Track:
    """One row of the page's table."""

    name: str
    url: str
    delete_url: str
    format: str
    duration: float | None
    size: int


@dataclass(frozen=True)
class Notice:
    """A message shown above the list after a form post: `kind` is "success", "error" or "info"."""

    kind: str
    text: str
    name: str = ""


def format_name(mime_type: str) -> str:
    """A short human name for a detected MIME type: "audio/mpeg" → "MP3"."""
    bare = mime_type.split(";", 1)[0].strip().lower()
    if bare in FORMAT_NAMES:
        return FORMAT_NAMES[bare]
    subtype = bare.partition("/")[2].removeprefix("x-")
    return subtype.upper() or "—"


@bp.app_template_filter("duration")
def format_duration(seconds: float | None) -> str:
    """Seconds as "m:ss" or "h:mm:ss"; an unknown duration as a dash."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


@bp.get("/")
def index() -> str:
    """The page: upload form, the library's tracks and the player."""
    return _render_index([])


@bp.post("/")
def upload() -> tuple[str, int]:
    """The plain form's upload (without JavaScript): store the files, then show the page with the outcome.

    The status is the API's: 201 stored, 200 all already there, 415 for a non-audio file, 413, 400, 507.
    """
    try:
        stored = store_upload(current_library(), request)
    except UploadError as error:
        rejected = error.status == 415
        notice = Notice("error", NON_AUDIO, error.name or "") if rejected else Notice("error", error.message)
        return _render_index([notice]), error.status
    return _render_index([_stored_notice(item) for item in stored]), success_status(stored)


@bp.get("/delete/<name>")
def confirm_delete(name: str) -> tuple[str, int]:
    """Delete without JavaScript, first step: a page asking to confirm, whose button posts the deletion."""
    if current_library().entry(name) is None:
        return _render_index([_missing_notice(name)]), 404
    return render_template("page/confirm_delete.html", name=display_name(name), delete_url=_delete_url(name)), 200


@bp.post("/delete/<name>")
def delete(name: str) -> tuple[str, int]:
    """Delete without JavaScript, second step: delete, then show the page with the outcome."""
    if not current_library().delete(name):
        return _render_index([_missing_notice(name)]), 404
    return _render_index([Notice("success", "Deleted.", display_name(name))]), 200


@bp.after_request
def speak_html(response: Response) -> Response:
    """Show the app's JSON errors for the page's forms (413 before the body, 403 cross-origin) as the page."""
    if not 400 <= response.status_code < 500 or not response.is_json:
        return response  # a server error is answered as it is: rendering the page may be what failed
    body = response.get_json(silent=True)
    message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str):
        return response
    page = Response(_render_index([Notice("error", message)]), status=response.status_code, mimetype="text/html")
    for header in ("Allow", "Retry-After", "Connection"):
        if header in response.headers:
            page.headers[header] = response.headers[header]
    return page


def _render_index(notices: Sequence[Notice]) -> str:
    table = _table()
    return render_template(
        "page/index.html",
        rows=table.rows,
        count=table.count,
        total_size=table.total_size,
        notices=notices,
        max_size=current_app.config["MAX_UPLOAD_SIZE"],
        format_names=FORMAT_NAMES,
        blank_track=Track(name="", url="", delete_url="", format="", duration=None, size=0),
    )


@dataclass(frozen=True)
class _Table:
    """The rendered rows of one listing of the library, with the totals the page shows."""

    listing: Listing
    rows: Markup
    count: int
    total_size: int


def _table() -> _Table:
    """The table's rows, rendered again only when the library's listing changed.

    The catalog hands out the same Listing object for as long as the folder is unchanged, so a page view of
    a large library costs one string copy instead of rendering thousands of rows.
    """
    listing = current_library().catalog.listing()
    cached: _Table | None = current_app.extensions.get(TABLE_KEY)
    if cached is not None and cached.listing is listing:
        return cached
    rows = render_template("page/rows.html", tracks=[_track(entry) for entry in listing.entries])
    safe_rows = Markup(rows)  # noqa: S704 - the output of an autoescaping template, not raw input
    table = _Table(listing, safe_rows, len(listing.entries), sum(entry.size for entry in listing.entries))
    current_app.extensions[TABLE_KEY] = table
    return table


def _track(entry: Entry) -> Track:
    quoted = quote(entry.name, safe="", errors="surrogateescape")
    return Track(
        name=entry.name,  # already displayable: make_entry decoded it
        url=f"/files/{quoted}",
        delete_url=f"/delete/{quoted}",
        format=format_name(entry.type),
        duration=entry.duration,
        size=entry.size,
    )


def _delete_url(name: str) -> str:
    return f"/delete/{quote(name, safe='', errors='surrogateescape')}"


def _stored_notice(item: StoredFile) -> Notice:
    if item.status == "duplicate":
        return Notice("info", f"Already in the library as “{item.entry.name}”", item.sent_name)
    if item.status == "renamed":
        return Notice("success", f"Uploaded as “{item.entry.name}”", item.sent_name)
    return Notice("success", "Uploaded", item.sent_name)


def _missing_notice(name: str) -> Notice:
    return Notice("error", "There is no such file in the library.", display_name(name))
