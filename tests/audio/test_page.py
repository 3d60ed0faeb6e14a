"""The library page through Flask's test client: listing, empty state, the plain form's messages, escaping."""

import os
import re
import threading
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import audio_library
import pytest
from audio_library import create_app
from audio_library.library import catalog
from audio_library.library.entries import Entry
from audio_library.media import examiner
from audio_library.media.detection import detect_audio_type
from audio_library.media.second_judge import CONTAINER_TYPES, FFMPEG_TYPES, RAW_STREAM_TYPES
from audio_library.web import page as page_module
from audio_library.web.api import UNEXAMINED_HEADER
from audio_library.web.current_library import get_library
from audio_library.web.formatting import FORMAT_NAMES, format_duration, format_name
from audio_library.web.page import PAGE_SIZE
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from devtools.wav import noise_wav
from tests.audio.flask_client import upload
from tests.library_folders import fixture_bytes, on_disk
from tests.polling import wait_until


@dataclass
class Page:
    """What a person sees on the rendered page: the rows of the table, the messages, and the empty state."""

    rows: list[list[str]] = field(default_factory=list)  # play, name, format, duration, size, actions
    links: dict[str, str] = field(default_factory=dict)  # track name -> its href
    tags: dict[str, list[str]] = field(default_factory=dict)  # track name -> its title and artist columns
    covers: dict[str, str] = field(default_factory=dict)  # track name -> its cover's src, for a file with one
    copies: dict[str, str] = field(default_factory=dict)  # track name -> its playable copy's link, where it has one
    types: dict[str, str] = field(default_factory=dict)  # track name -> the type the player asks the browser about
    notices: list[str] = field(default_factory=list)
    empty_shown: bool = False
    table_shown: bool = False


class _PageParser(HTMLParser):
    """Collects the visible text of table rows (outside <template>) and notices.

    The title and artist columns go to `tags`; the line under a name (title, artist and duration, shown only
    where their columns do not fit) is left out.
    """

    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.in_template = 0
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.tag_cell = False  # whether the cell is the title or the artist column
        self.tags: list[str] = []
        self.notice: list[str] | None = None
        self.href = ""
        self.cover = ""
        self.copy = ""  # the row's link to its playable copy (shown without script), whose text is left out
        self.in_copy_link = False
        self.type = ""
        self.under_name = 0  # the depth of <span> elements inside the line under a name

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "template":
            self.in_template += 1
        elif self.in_template:
            return
        elif tag == "tr" and "data-name" in attributes:
            self.row = []
            self.type = attributes.get("data-type") or ""
        elif tag == "td" and self.row is not None:
            self.cell = []
            self.tag_cell = bool({"c-title", "c-artist"} & set(classes))
        elif tag == "a" and "track-name" in classes:
            self.href = attributes.get("href") or ""
        elif tag == "a" and "copy-link" in classes:
            self.copy = attributes.get("href") or ""
            self.in_copy_link = True
        elif tag == "img" and self.row is not None:
            self.cover = attributes.get("src") or ""
        elif tag == "span" and (self.under_name or "track-sub" in classes):
            self.under_name += 1
        elif tag == "li" and "notice" in classes:
            self.notice = []
        elif attributes.get("id") == "empty":
            self.page.empty_shown = "hidden" not in attributes
        elif attributes.get("id") == "tracks":
            self.page.table_shown = "hidden" not in attributes

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.in_template -= 1
        elif tag == "td" and self.row is not None and self.cell is not None:
            (self.tags if self.tag_cell else self.row).append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "span" and self.under_name:
            self.under_name -= 1
        elif tag == "a":
            self.in_copy_link = False
        elif tag == "tr" and self.row is not None:
            self.page.rows.append(self.row)
            self.page.links[self.row[1]] = self.href
            self.page.tags[self.row[1]] = self.tags
            self.page.types[self.row[1]] = self.type
            if self.cover:
                self.page.covers[self.row[1]] = self.cover
            if self.copy:
                self.page.copies[self.row[1]] = self.copy
            self.row = None
            self.tags = []
            self.cover = ""
            self.copy = ""
        elif tag == "li" and self.notice is not None:
            self.page.notices.append(" ".join(" ".join(self.notice).split()))
            self.notice = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None and not self.under_name and not self.in_copy_link:
            self.cell.append(data)
        if self.notice is not None:
            self.notice.append(data)


def read_page(response: TestResponse) -> Page:
    assert response.mimetype == "text/html"
    parser = _PageParser()
    parser.feed(response.get_data(as_text=True))
    return parser.page


def names(page: Page) -> list[str]:
    return [row[1] for row in page.rows]


def test_an_empty_library_says_so(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = read_page(response)
    assert page.empty_shown
    assert not page.table_shown
    assert page.rows == []
    assert "The library is empty" in response.get_data(as_text=True)


def test_the_page_lists_name_format_duration_and_size_sorted_by_name(client: FlaskClient) -> None:
    vorbis = fixture_bytes("vorbis.ogg")
    assert upload(client, ("b.ogg", vorbis), ("a.wav", noise_wav(1, seconds=2.0))).status_code == 201
    page = read_page(client.get("/"))
    assert page.table_shown
    assert not page.empty_shown
    assert [row[1:5] for row in page.rows] == [
        ["a.wav", "WAV", "0:02", "31.3 KiB"],  # 32044 bytes
        ["b.ogg", "Ogg", "0:01", f"{len(vorbis) / 1024:.1f} KiB"],
    ]
    assert page.tags == {"a.wav": ["", ""], "b.ogg": ["", ""]}  # no title or artist
    assert page.links == {"a.wav": "/files/a.wav", "b.ogg": "/files/b.ogg"}


def test_rows_carry_their_type_and_link_a_copy_where_not_every_browser_plays_it(client: FlaskClient) -> None:
    sent = upload(
        client,
        ("b.ogg", fixture_bytes("vorbis.ogg")),
        ("a.wav", noise_wav(1)),
        ("c.mp3", fixture_bytes("mp3-id3v2.mp3")),
    )
    assert sent.status_code == 201
    page = read_page(client.get("/"))
    assert page.types == {"a.wav": "audio/wav", "b.ogg": "audio/ogg", "c.mp3": "audio/mpeg"}
    assert page.copies == {"b.ogg": "/files/b.ogg/playable?as=mp3"}  # Safari has long played no Ogg


def test_opus_is_labelled_opus_and_vorbis_ogg(client: FlaskClient) -> None:
    sent = upload(client, ("voice.opus", fixture_bytes("opus.opus")), ("tone.ogg", fixture_bytes("vorbis.ogg")))
    assert sent.status_code == 201
    assert [row[1:3] for row in read_page(client.get("/")).rows] == [["tone.ogg", "Ogg"], ["voice.opus", "Opus"]]
    served = client.get("/files/voice.opus")
    assert served.headers["Content-Type"] == "audio/ogg;codecs=opus"


def test_files_copied_into_the_folder_are_listed_and_non_audio_is_not(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / "copied.flac").write_bytes(fixture_bytes("flac.flac"))
    (library_dir / "notes.txt").write_bytes(b"not audio")
    assert names(read_page(client.get("/"))) == ["copied.flac"]


def test_the_page_follows_changes_to_the_folder_between_views(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / "first.wav").write_bytes(noise_wav(20))
    assert names(read_page(client.get("/"))) == ["first.wav"]
    assert names(read_page(client.get("/"))) == ["first.wav"]
    (library_dir / "second.wav").write_bytes(noise_wav(21))
    (library_dir / "first.wav").unlink()
    page = read_page(client.get("/"))
    assert names(page) == ["second.wav"]
    assert page.links == {"second.wav": "/files/second.wav"}


def test_unicode_names_are_shown_as_sent_and_linked_url_encoded(client: FlaskClient) -> None:
    assert upload(client, ("Песня про зайцев.wav", noise_wav(2))).status_code == 201
    page = read_page(client.get("/"))
    assert names(page) == ["Песня про зайцев.wav"]
    assert (
        page.links["Песня про зайцев.wav"]
        == "/files/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F%20%D0%BF%D1%80%D0%BE%20%D0%B7%D0%B0%D0%B9%D1%86%D0%B5%D0%B2.wav"
    )
    assert client.get(page.links["Песня про зайцев.wav"]).status_code == 200


def test_names_with_markup_are_escaped_everywhere(client: FlaskClient) -> None:
    hostile = "<img src=x onerror=alert(1)>&\"'.wav"
    response = upload(client, (hostile, noise_wav(3)))
    assert response.status_code == 201
    stored = response.json["files"][0]["name"]  # type: ignore[index]
    html = client.get("/").get_data(as_text=True)
    assert "<img" not in html
    assert names(read_page(client.get("/"))) == [stored]
    rejected = upload(client, ("<script>alert(1)</script>.mp3", b"<script>alert(1)</script>"), path="/")
    assert rejected.status_code == 415
    assert "<script>alert" not in rejected.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.mp3" in rejected.get_data(as_text=True)


def test_a_name_that_is_not_utf8_is_shown_with_escapes(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / os.fsdecode(b"caf\xe9.wav")).write_bytes(noise_wav(4))
    response = client.get("/")
    assert response.status_code == 200
    assert names(read_page(response)) == ["caf\\xe9.wav"]


def test_the_plain_form_stores_audio_and_says_so(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("song.wav", noise_wav(5)), ("tune.mp3", fixture_bytes("mp3-plain.mp3")), path="/")
    assert response.status_code == 201
    page = read_page(response)
    assert page.notices == ["song.wav Uploaded", "tune.mp3 Uploaded"]
    assert names(page) == ["song.wav", "tune.mp3"]
    assert on_disk(library_dir) == ["song.wav", "tune.mp3"]


@pytest.mark.parametrize("fixture", ["image.png", "document.pdf", "program-renamed.mp3", "empty.mp3", "page.html"])
def test_the_plain_form_rejects_non_audio_with_the_message(
    client: FlaskClient, library_dir: Path, fixture: str
) -> None:
    response = upload(client, (fixture, fixture_bytes(fixture)), path="/")
    assert response.status_code == 415
    page = read_page(response)
    assert page.notices == [f"{fixture} Non-audio file detected"]
    assert page.rows == []
    assert on_disk(library_dir) == []


def test_one_non_audio_file_among_several_stores_none_of_them(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("song.wav", noise_wav(6)), ("photo.mp3", fixture_bytes("image.jpg")), path="/")
    assert response.status_code == 415
    page = read_page(response)
    assert page.notices == ["photo.mp3 Non-audio file detected"]
    assert page.rows == []
    assert on_disk(library_dir) == []


def test_the_plain_form_reports_duplicates_and_renames(client: FlaskClient) -> None:
    song = noise_wav(7)
    assert upload(client, ("song.wav", song), path="/").status_code == 201
    again = upload(client, ("song.wav", song), path="/")
    assert again.status_code == 200
    assert read_page(again).notices == ["song.wav Already in the library as “song.wav”"]
    other = upload(client, ("song.wav", noise_wav(8)), path="/")
    assert other.status_code == 201
    page = read_page(other)
    assert page.notices == ["song.wav Uploaded as “song (2).wav”"]
    assert names(page) == ["song (2).wav", "song.wav"]


def test_submitting_the_form_without_a_file_says_what_to_do(client: FlaskClient) -> None:
    # A browser sends an empty part with an empty file name when no file was chosen.
    response = upload(client, ("", b""), path="/")
    assert response.status_code == 400
    (notice,) = read_page(response).notices
    assert "file" in notice.lower()


def test_an_oversized_upload_is_refused_on_the_page_with_the_limit(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "LIBRARY_DIR": tmp_path / "library", "MAX_CONTENT_LENGTH": 10_000})
    try:
        response = upload(app.test_client(), ("big.wav", noise_wav(9, seconds=1.0)), path="/")
        assert response.status_code == 413
        (notice,) = read_page(response).notices
        assert "10000 bytes" in notice
        assert on_disk(tmp_path / "library") == []
    finally:
        get_library(app).close()


def test_a_post_from_another_site_is_refused(client: FlaskClient, library_dir: Path) -> None:
    response = upload(client, ("song.wav", noise_wav(10)), Origin="https://evil.example", path="/")
    assert response.status_code == 403
    assert on_disk(library_dir) == []
    assert upload(client, ("x.wav", noise_wav(15))).status_code == 201
    deleted = client.post("/delete/x.wav", headers={"Sec-Fetch-Site": "cross-site"})
    assert deleted.status_code == 403
    assert on_disk(library_dir) == ["x.wav"]


def test_delete_without_javascript_asks_first_then_deletes(client: FlaskClient, library_dir: Path) -> None:
    assert upload(client, ("Песня.wav", noise_wav(11)), ("keep.wav", noise_wav(12))).status_code == 201
    assert names(read_page(client.get("/"))) == ["keep.wav", "Песня.wav"]
    ask = client.get("/delete/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F.wav")
    assert ask.status_code == 200
    text = ask.get_data(as_text=True)
    assert "Delete this track?" in text
    assert "Песня.wav" in text
    assert '<form method="post" action="/delete/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F.wav"' in text
    assert (library_dir / "Песня.wav").exists()
    done = client.post("/delete/%D0%9F%D0%B5%D1%81%D0%BD%D1%8F.wav")
    assert done.status_code == 200
    page = read_page(done)
    assert page.notices == ["Песня.wav Deleted."]
    assert names(page) == ["keep.wav"]
    assert on_disk(library_dir) == ["keep.wav"]


def test_each_row_links_to_its_delete_confirmation(client: FlaskClient) -> None:
    assert upload(client, ("a b.wav", noise_wav(14))).status_code == 201
    html = client.get("/").get_data(as_text=True)
    assert '<a class="icon-button danger delete" href="/delete/a%20b.wav" aria-label="Delete a b.wav">' in html


def test_deleting_a_missing_file_says_so_with_404(client: FlaskClient) -> None:
    for response in (client.get("/delete/nothing.wav"), client.post("/delete/nothing.wav")):
        assert response.status_code == 404
        assert read_page(response).notices == ["nothing.wav There is no such file in the library."]


def test_a_large_library_renders_every_row(client: FlaskClient, library_dir: Path) -> None:
    song = noise_wav(13)
    for number in range(500):
        (library_dir / f"track {number:03}.wav").write_bytes(song)
    # A listing waits a second at most for files being examined; a busy machine may need longer.
    wait_until(lambda: client.get("/api/files").headers[UNEXAMINED_HEADER] == "0", "every file examined")
    page = read_page(client.get("/"))
    assert len(page.rows) == 500
    assert names(page)[0] == "track 000.wav"
    assert names(page)[-1] == "track 499.wav"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0.4, "0:00"),
        (1.5, "0:02"),
        (59.6, "1:00"),
        (61.0, "1:01"),
        (3600.0, "1:00:00"),
        (3725.2, "1:02:05"),
    ],
)
def test_durations_read_as_minutes_and_seconds(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(
    ("mime", "shown"),
    [
        ("audio/mpeg", "MP3"),
        ("audio/wav", "WAV"),
        ("audio/ogg", "Ogg"),
        ("audio/ogg; codecs=opus", "Opus"),
        ("Audio/Ogg;codecs=opus", "Opus"),
        ("audio/ogg; codecs=vorbis", "Ogg"),
        ("audio/x-matroska", "MKA"),
        ("audio/x-ms-wma", "WMA"),
        ("audio/ac3", "AC-3"),
        ("audio/x-foo", "FOO"),
    ],
)
def test_formats_have_short_names(mime: str, shown: str) -> None:
    assert format_name(mime) == shown


def test_every_type_ffmpeg_stores_has_a_name() -> None:
    stored = {*CONTAINER_TYPES.values(), *RAW_STREAM_TYPES.values(), *FFMPEG_TYPES}
    assert sorted(stored - FORMAT_NAMES.keys()) == []


def fill(folder: Path, count: int, prefix: str = "track") -> None:
    """`count` hard links to one WAV, named "<prefix> 0000.wav" onwards."""
    song = folder / ".source.wav"  # hidden, so not listed itself
    song.write_bytes(noise_wav(21))
    for number in range(count):
        os.link(song, folder / f"{prefix} {number:04}.wav")


def test_a_library_over_one_page_is_paged_without_javascript(client: FlaskClient, library_dir: Path) -> None:
    fill(library_dir, PAGE_SIZE + 20)
    first = client.get("/")
    assert len(read_page(first).rows) == PAGE_SIZE
    assert f"Showing 1\u2013{PAGE_SIZE} of {PAGE_SIZE + 20} tracks." in first.get_data(as_text=True)
    assert 'rel="next" href="/?page=2"' in first.get_data(as_text=True)
    second = client.get("/?page=2")
    assert names(read_page(second)) == [f"track {number:04}.wav" for number in range(PAGE_SIZE, PAGE_SIZE + 20)]
    assert 'rel="prev" href="/?page=1"' in second.get_data(as_text=True)
    assert len(read_page(client.get("/?page=999")).rows) == 20  # past the end: the last page
    assert len(read_page(client.get("/?page=x")).rows) == PAGE_SIZE


def test_the_filter_narrows_the_list_by_name_ignoring_case(client: FlaskClient, library_dir: Path) -> None:
    fill(library_dir, 30)
    fill(library_dir, 3, prefix="Ünïcode Song")
    assert names(read_page(client.get("/?q=ünÏCODE"))) == [f"Ünïcode Song {number:04}.wav" for number in range(3)]
    assert names(read_page(client.get("/?q=track 002"))) == [f"track 002{number}.wav" for number in range(10)]
    missing = client.get("/?q=nothing like it")
    assert read_page(missing).rows == []
    assert "No track matches “nothing like it”." in missing.get_data(as_text=True)
    assert 'value="nothing like it"' in missing.get_data(as_text=True)  # the box keeps what was typed


def test_title_artist_and_cover_are_shown_with_the_name(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / "tagged.flac").write_bytes(fixture_bytes("tagged.flac"))
    (library_dir / "tagged.ogg").write_bytes(fixture_bytes("tagged.ogg"))  # tags but no cover
    (library_dir / "plain.wav").write_bytes(noise_wav(3))
    response = client.get("/")
    page = read_page(response)
    assert page.tags == {
        "plain.wav": ["", ""],
        "tagged.flac": ["Tone Title", "Fixture Artist"],
        "tagged.ogg": ["Tone Title", "Fixture Artist"],
    }
    assert page.covers == {"tagged.flac": "/files/tagged.flac/cover"}  # no request for a cover that is not there
    assert '<span class="track-tags">Tone Title · Fixture Artist</span>' in response.get_data(as_text=True)
    assert client.get(page.covers["tagged.flac"]).content_type.startswith("image/")


def test_the_filter_matches_title_and_artist_too(client: FlaskClient, library_dir: Path) -> None:
    (library_dir / "tagged.flac").write_bytes(fixture_bytes("tagged.flac"))
    (library_dir / "plain.wav").write_bytes(noise_wav(3))
    assert names(read_page(client.get("/?q=fixture ARTIST"))) == ["tagged.flac"]
    assert names(read_page(client.get("/?q=tone title"))) == ["tagged.flac"]
    assert names(read_page(client.get("/?q=plain"))) == ["plain.wav"]


def test_a_change_renders_only_the_rows_that_changed(
    client: FlaskClient, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(library_dir, 50)
    assert len(read_page(client.get("/")).rows) == 50
    rendered: list[str] = []
    real_track = page_module._track

    def counting_track(entry: Entry) -> page_module.Track:
        rendered.append(entry.name)
        return real_track(entry)

    monkeypatch.setattr(page_module, "_track", counting_track)
    assert upload(client, ("new.wav", noise_wav(99))).status_code == 201
    assert len(read_page(client.get("/")).rows) == 51
    assert rendered == ["new.wav"]


def test_files_still_being_examined_are_announced(
    client: FlaskClient, library_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (library_dir / "held.wav").write_bytes(noise_wav(5))
    release = threading.Event()
    real_detect = detect_audio_type

    def held_detect(path: Path) -> str | None:
        release.wait(timeout=30)
        return real_detect(path)

    monkeypatch.setattr(examiner, "detect_audio_type", held_detect)
    monkeypatch.setattr(catalog, "LISTING_WAIT_S", 0.05)
    try:
        text = client.get("/").get_data(as_text=True)
        assert 'data-count="1"' in text
        assert "1 file is still being examined" in text
    finally:
        release.set()


SCRIPTS = Path(audio_library.__file__).parent / "static" / "js"
MODULE_IMPORT = re.compile(r'\bfrom "\./([\w.-]+\.js)";')


def test_the_page_script_is_served_as_javascript_modules_it_can_import(client: FlaskClient) -> None:
    """A module answered with another type, or missing, stops the whole script: browsers refuse it (nosniff)."""
    html = client.get("/").get_data(as_text=True)
    assert '<script type="module" src="/static/js/library.js"></script>' in html
    pending, served = ["library.js"], set()
    while pending:
        name = pending.pop()
        if name in served:
            continue
        response = client.get(f"/static/js/{name}")
        assert response.status_code == 200, name
        assert response.mimetype == "text/javascript", name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        served.add(name)
        pending += MODULE_IMPORT.findall(response.get_data(as_text=True))
    assert served == {path.name for path in SCRIPTS.glob("*.js")}  # every module is in use
