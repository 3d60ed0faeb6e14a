"""Tags on the page in a real Chromium: title and artist with the name, a small cover loaded lazily and only
for files that have one, and never a broken image."""

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav
from tests.e2e.browser import open_tab, row, save_screenshot, wait_in_page, write
from tests.e2e.tagged_files import tagged_mp3
from tests.library_folders import FIXTURES


pytestmark = pytest.mark.browser

WITH_COVER = ["tagged.flac", "tagged.m4a", "tagged.mp3", "tagged.opus"]
WITHOUT_COVER = ["tagged.ogg", "untagged.wav"]
LOADED = "(image) => image.complete && image.naturalWidth > 0"


def fill(library_dir: Path) -> None:
    for name in [*WITH_COVER, "tagged.ogg"]:
        shutil.copy(FIXTURES / name, library_dir / name)
    write(library_dir, "untagged.wav", noise_wav(1))


def cover_requests(page: Page) -> list[str]:
    """The paths of the cover requests the page makes from now on."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.url.endswith("/cover"):
            seen.append(request.url.removeprefix(page.url.rstrip("/")))

    page.on("request", record)
    return seen


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_title_artist_and_cover_show_with_the_name(
    browser: Browser, library_dir: Path, tmp_path: Path, viewport: str
) -> None:
    fill(library_dir)
    with audio_server(library_dir) as server, open_tab(browser, server.url, viewport) as page:
        requested = cover_requests(page)
        page.goto("/")
        flac = page.locator(row("tagged.flac"))
        if viewport == "desktop":
            expect(flac.locator(".c-title")).to_have_text("Tone Title")
            expect(flac.locator(".c-artist")).to_have_text("Fixture Artist")
            expect(flac.locator(".track-sub")).to_be_hidden()
        else:
            expect(flac.locator(".c-title")).to_be_hidden()  # no room for the column: the tags go under the name
            expect(flac.locator(".track-sub")).to_match_aria_snapshot("- text: Tone Title · Fixture Artist · 0:00")
        expect(page.locator(row("tagged.opus")).locator(".track-tags")).to_have_text("Песня про зайцев · Зайцев")
        for name in WITH_COVER:
            image = page.locator(row(name)).locator(".cover img")
            image.scroll_into_view_if_needed()
            expect(image).to_have_attribute("src", f"/files/{name}/cover")
            wait_in_page(page, LOADED, arg=image.element_handle())
        for name in WITHOUT_COVER:
            expect(page.locator(row(name)).locator(".cover img")).to_have_count(0)
        assert sorted(requested) == [f"/files/{name}/cover" for name in WITH_COVER]  # none for the others
        page.evaluate("window.scrollTo(0, 0)")
        save_screenshot(page, tmp_path, f"tags-{viewport}")


def test_covers_load_as_they_scroll_into_view(browser: Browser, library_dir: Path) -> None:
    for number in range(60):
        tagged_mp3(library_dir, f"song {number:02}.mp3", f"Song {number}", "Someone")
    with audio_server(library_dir) as server, open_tab(browser, server.url) as page:
        requested = cover_requests(page)
        page.goto("/")
        first = page.locator(row("song 00.mp3")).locator(".cover img")
        wait_in_page(page, LOADED, arg=first.element_handle())
        assert 0 < len(requested) < 60  # only those near the window
        last = page.locator(row("song 59.mp3")).locator(".cover img")
        last.scroll_into_view_if_needed()
        wait_in_page(page, LOADED, arg=last.element_handle())


def test_a_cover_that_fails_leaves_the_placeholder(page: Page, library_dir: Path) -> None:
    fill(library_dir)
    page.route("**/files/tagged.m4a/cover", lambda route: route.fulfill(status=404, json={"error": "gone"}))
    page.goto("/")
    expect(page.locator(row("tagged.m4a")).locator(".cover img")).to_have_count(0)
    expect(page.locator(row("tagged.m4a")).locator(".cover")).to_be_visible()
    broken = page.evaluate("[...document.querySelectorAll('#tracks img')].filter((i) => i.complete && !i.naturalWidth)")
    assert broken == []


def test_an_uploaded_file_shows_its_tags_and_plays_under_its_title(
    page: Page, server: RunningServer, tmp_path: Path
) -> None:
    song = tagged_mp3(tmp_path, "upload.mp3", "Uploaded Title", "Uploading Artist")
    page.goto("/")
    page.set_input_files("#file-input", str(song))
    track = page.locator(row("upload.mp3"))
    expect(track.locator(".c-title")).to_have_text("Uploaded Title")
    expect(track.locator(".c-artist")).to_have_text("Uploading Artist")
    image = track.locator(".cover img")
    expect(image).to_have_attribute("src", "/files/upload.mp3/cover")
    wait_in_page(page, LOADED, arg=image.element_handle())
    track.locator(".play").click()
    expect(page.locator("#now-title")).to_have_text("Uploaded Title · Uploading Artist")
