"""The library page: the track list with a player, and upload and delete forms that work without JavaScript."""

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from audio_library.library.entries import Entry, Listing
from audio_library.media.second_judge import NON_AUDIO_MESSAGE
from audio_library.web import original_client
from audio_library.web.current_library import get_library
from audio_library.web.errors import AccessRefusedError, RequestError, from_http_exception, storage_error
from audio_library.web.formatting import FORMAT_NAMES, format_duration, format_name, human_size
from audio_library.web.uploads import StoredFile, store_upload, success_status


bp = Blueprint("page", __name__)
bp.add_app_template_filter(human_size, "filesize")
bp.add_app_template_filter(format_duration, "duration")

PAGE_SIZE = 500  # rows per page: the script shows more as you scroll, the plain page has page links
MAX_QUERY_CHARS = 200
MAX_CACHED_ROWS = 4 * PAGE_SIZE
ROWS_KEY = "audio_library.page.rows"  # where the app keeps rendered rows, by entry
TOTAL_KEY = "audio_library.page.total"  # (listing generation, total size)
# Types Chromium, Firefox and Safari all play. Rows of other types link to a playable copy for the page without
# script (with script, the player asks the browser itself).
PLAYED_BY_EVERY_BROWSER = frozenset({"audio/mpeg", "audio/wav", "audio/flac", "audio/mp4", "audio/aac"})


@dataclass(frozen=True)
class Track:
    """One row of the page's table."""

    name: str
    url: str
    delete_url: str
    format: str
    duration: float | None
    size: int
    title: str = ""
    artist: str = ""
    cover_url: str = ""  # empty when the file has no cover picture: the row shows a placeholder, no request
    type: str = ""  # the detected MIME type: the player asks the browser whether it plays it
    copy_url: str = ""  # a playable copy, linked for the page without script where not every browser plays it


@dataclass(frozen=True)
class Notice:
    """A message shown above the list after a form post: `kind` is "success", "error" or "info"."""

    kind: str
    text: str
    name: str = ""


@bp.get("/")
def index() -> str | Response:
    """The page: upload form, the library's tracks and the player (for the original client, its JSON)."""
    if original_client.wants_json():
        return original_client.listing_response()
    return _render_index([])


@bp.post("/")
def upload() -> tuple[str, int] | Response:
    """The plain form's upload (without JavaScript): store the files, then show the page with the outcome.

    The status is the API's: 201 stored, 200 all already there, 415 for a non-audio file, 413, 400, 507.
    """
    stored = store_upload(get_library(), request)
    if original_client.wants_json():
        return original_client.upload_response(stored, success_status(stored))
    return _render_index([_stored_notice(item) for item in stored]), success_status(stored)


@bp.get("/delete/<name>")
def confirm_delete(name: str) -> tuple[str, int]:
    """Delete without JavaScript, first step: a page asking to confirm, whose button posts the deletion."""
    if get_library().entry(name) is None:
        return _render_index([_missing_notice(name)]), 404
    return render_template("page/confirm_delete.html", name=name, delete_url=_delete_url(name)), 200


@bp.post("/delete/<name>")
def delete(name: str) -> tuple[str, int]:
    """Delete without JavaScript, second step: delete, then show the page with the outcome."""
    if not get_library().delete(name):
        return _render_index([_missing_notice(name)]), 404
    return _render_index([Notice("success", "Deleted.", name)]), 200


@bp.errorhandler(RequestError)
def request_error(error: RequestError) -> Response:
    """The page with the error's sentence (413 before the body, 403 cross-origin, 404), with the API's status."""
    return _error_page(error)


@bp.errorhandler(OSError)
def storage_failure(error: OSError) -> Response:
    """The folder or disk failed under one of the page's routes: the page says so, with the API's status."""
    return _error_page(storage_error(error))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """werkzeug's errors in the page's routes, rendered as the page like every other client error."""
    return _error_page(from_http_exception(error))


def _error_page(error: RequestError) -> Response:
    if isinstance(error, AccessRefusedError):
        return error.to_response()  # the page, or the names, would show the tracks to whoever is refused them
    if original_client.wants_json():
        return original_client.error_response(error)
    if error.status >= 500:
        return error.to_response()  # a server error is answered as JSON: rendering the page may be what failed
    if error.status == 415:  # "<why>: <name>", shown as the reason beside the name
        name = error.name or ""
        notice = Notice("error", error.message.removesuffix(f": {name}") or NON_AUDIO_MESSAGE, name)
    else:
        notice = Notice("error", error.message)
    try:
        html = _render_index([notice])
    except OSError:  # the library cannot be listed either: the error alone, as JSON
        return error.to_response()
    page = Response(html, status=error.status, mimetype="text/html")
    page.headers.update(error.headers)
    return page


def search_text(entry: Entry) -> str:
    """What the filter box matches an entry against: its name, title and artist (the script does the same)."""
    return "\n".join(text for text in (entry.name, entry.tags.title, entry.tags.artist) if text)


def normalized(text: str) -> str:
    """Text as the filter compares it: case and Unicode form do not matter (the script does the same)."""
    return unicodedata.normalize("NFKC", text).casefold()


@dataclass(frozen=True)
class _View:
    """The rows of the page for one filter and page number, with what the page says about them."""

    rows: Markup
    shown_from: int  # 1-based, 0 when nothing matches
    shown_to: int
    matching: int
    page: int
    pages: int


def _render_index(notices: Sequence[Notice]) -> str:
    listing = get_library().listing()
    query = request.args.get("q", "")[:MAX_QUERY_CHARS]
    view = _view(listing, query, _page_number())
    count = len(listing.entries)
    return render_template(
        "page/index.html",
        view=view,
        query=query,
        count=count,
        total_size=_total_size(listing),
        unexamined=listing.unexamined,
        page_size=PAGE_SIZE,
        notices=notices,
        max_size=current_app.config["MAX_CONTENT_LENGTH"],
        format_names=FORMAT_NAMES,
        blank_track=Track(name="", url="", delete_url="", format="", duration=None, size=0),
    )


def _page_number() -> int:
    text = request.args.get("page", "1")
    return int(text) if text.isdecimal() and len(text) < 7 else 1


def _view(listing: Listing, query: str, page: int) -> _View:
    """One page of the matching rows: at most PAGE_SIZE, each rendered once per entry and then reused."""
    needle = normalized(query)
    matching = listing.entries if not needle else [e for e in listing.entries if needle in normalized(search_text(e))]
    pages = max(1, math.ceil(len(matching) / PAGE_SIZE))
    page = min(page, pages)
    first = (page - 1) * PAGE_SIZE
    chosen = matching[first : first + PAGE_SIZE]
    rows = Markup("").join(_row_html(entry) for entry in chosen)
    return _View(rows, first + 1 if chosen else 0, first + len(chosen), len(matching), page, pages)


def _row_html(entry: Entry) -> Markup:
    """The rendered row of an entry, kept while the entry is unchanged: a change re-renders only its own row."""
    cache: dict[Entry, Markup] = current_app.extensions.setdefault(ROWS_KEY, {})
    row = cache.get(entry)
    if row is None:
        if len(cache) >= MAX_CACHED_ROWS:
            cache.clear()  # a bound, reached only by browsing many pages: the rows on view come back at once
        macros = current_app.jinja_env.get_template("page/macros.html").module
        row = cache[entry] = Markup(macros.track_row(_track(entry)))  # type: ignore[attr-defined]  # noqa: S704
    return row


def _total_size(listing: Listing) -> int:
    """The size of the whole library, added up once per listing."""
    cached: tuple[int, int] | None = current_app.extensions.get(TOTAL_KEY)
    if cached is not None and cached[0] == listing.generation:
        return cached[1]
    total = sum(entry.size for entry in listing.entries)
    current_app.extensions[TOTAL_KEY] = (listing.generation, total)
    return total


def _track(entry: Entry) -> Track:
    quoted = quote(entry.name, safe="")
    return Track(
        name=entry.name,  # already text: names.listed_name escaped it
        url=f"/files/{quoted}",
        delete_url=f"/delete/{quoted}",
        format=format_name(entry.type),
        duration=entry.duration,
        size=entry.size,
        title=entry.tags.title or "",
        artist=entry.tags.artist or "",
        cover_url=f"/files/{quoted}/cover" if entry.tags.cover else "",
        type=entry.type,
        copy_url="" if entry.type in PLAYED_BY_EVERY_BROWSER else f"/files/{quoted}/playable?as=mp3",
    )


def _delete_url(name: str) -> str:
    return f"/delete/{quote(name, safe='')}"


def _stored_notice(item: StoredFile) -> Notice:
    return Notice("info" if item.status == "duplicate" else "success", item.outcome, item.sent_name)


def _missing_notice(name: str) -> Notice:
    return Notice("error", "There is no such file in the library.", name)
