"""Every stored file plays on the page: a format Chromium cannot decode plays from the server's playable copy,
one it can is fetched as stored, with no copy made; a copy being made, a busy server and a file FFmpeg cannot
decode each say so in the player bar."""

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Page, Request, Route, expect

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav
from tests.e2e.browser import open_tab, row, save_screenshot, wait_in_page, write
from tests.fixtures.ffmpeg_formats import make_samples, tone
from tests.library_folders import fixture_bytes, wait_until_examined


pytestmark = pytest.mark.browser

# The stored files Chromium cannot decode (name, stored type, what the player bar shows), and files it plays
# as they are.
TAGGED = "Tone Title · Tone Artist"
UNDECODABLE = [
    ("tone.aiff", "audio/aiff", "tone.aiff"),
    ("dolby.ac3", "audio/ac3", "dolby.ac3"),
    ("tagged.wma", "audio/x-ms-wma", TAGGED),
    ("alac.caf", "audio/x-caf", TAGGED),
]
NATIVE = ["noise.wav", "vorbis.ogg", "mp3-id3v2.mp3"]
MAX_TRIES = 5  # playback.js's MAX_TRIES
PLAYER = "document.getElementById('player')"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library holding the four undecodable files, made by ffmpeg, and the native ones."""
    folder = tmp_path_factory.mktemp("library")
    make_samples(folder, [name for name, _, _ in UNDECODABLE])
    tone(folder / "tone.aiff")
    tone(folder / "alac.m4a", "-c:a", "alac")
    write(folder, "noise.wav", noise_wav(1, seconds=2.0))
    for name in NATIVE[1:]:
        write(folder, name, fixture_bytes(name))
    return folder


@pytest.fixture(scope="module")
def server(library: Path) -> Iterator[RunningServer]:
    """One server for the module's tests, with every file examined."""
    with audio_server(library) as running:
        wait_until_examined(running.url)
        yield running


@pytest.fixture
def page(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh tab on the module's server, with JavaScript."""
    with open_tab(browser, server.url) as tab:
        yield tab


def requested(page: Page) -> list[str]:
    """The paths (with query) the tab requests from now on, in order."""
    paths: list[str] = []

    def note(request: Request) -> None:
        url = urlsplit(request.url)
        paths.append(f"{url.path}?{url.query}" if url.query else url.path)

    page.on("request", note)
    return paths


def play(page: Page, name: str) -> None:
    """Click a track's play button and wait until its audio is playing: the position advances."""
    page.locator(row(name)).locator("button.play").click()
    wait_in_page(page, f"{PLAYER}.currentTime > 0.3")


@pytest.mark.parametrize(("name", "stored_type", "shown"), UNDECODABLE)
def test_a_format_chromium_cannot_decode_plays_from_a_copy(
    page: Page, name: str, stored_type: str, shown: str, tmp_path: Path
) -> None:
    page.goto("/")
    assert page.evaluate(f"{PLAYER}.canPlayType('{stored_type}')") == ""
    paths = requested(page)
    play(page, name)
    copy = f"/files/{name}/playable?as=webm"
    assert page.evaluate(f"{PLAYER}.src").endswith(copy)
    assert f"/files/{name}" not in paths  # never the stored file
    assert paths.count(copy) >= 2  # made (HEAD), then played
    expect(page.locator("#now-title")).to_have_text(shown)
    expect(page.locator("#now-download")).to_be_hidden()
    assert page.evaluate(f"{PLAYER}.duration") == pytest.approx(1.0, abs=0.1)  # the copy's header says how long
    page.evaluate(f"{PLAYER}.pause()")
    save_screenshot(page, tmp_path, f"playing-{name}", full_page=False)


def test_a_file_chromium_may_play_but_cannot_falls_back_to_its_copy(page: Page) -> None:
    page.goto("/")
    assert page.evaluate(f"{PLAYER}.canPlayType('audio/mp4')") == "maybe"  # and then it meets ALAC
    paths = requested(page)
    play(page, "alac.m4a")
    copy = "/files/alac.m4a/playable?as=webm"
    assert paths.index("/files/alac.m4a") < paths.index(copy)
    expect(page.locator("#now-title")).to_have_text("alac.m4a")


@pytest.mark.parametrize("name", NATIVE)
def test_a_format_chromium_plays_is_fetched_as_stored(page: Page, name: str) -> None:
    page.goto("/")
    paths = requested(page)
    play(page, name)
    assert f"/files/{name}" in paths
    assert not [path for path in paths if "/playable" in path]


def test_a_busy_server_is_asked_again_after_its_retry_after(page: Page, tmp_path: Path) -> None:
    answered: list[str] = []

    def busy_twice(route: Route) -> None:
        answered.append(route.request.method)
        if len(answered) <= 2:
            route.fulfill(status=503, headers={"Retry-After": "1"}, body="")
        else:
            route.continue_()

    page.route("**/playable?*", busy_twice)
    page.goto("/")
    page.locator(row("dolby.ac3")).locator("button.play").click()
    expect(page.locator("#now-title")).to_have_text("Preparing dolby.ac3: the server is busy, trying again in 1 s…")
    save_screenshot(page, tmp_path, "preparing", full_page=False)
    wait_in_page(page, f"{PLAYER}.currentTime > 0.3")
    assert answered[:3] == ["HEAD", "HEAD", "HEAD"]


def test_a_server_that_stays_busy_gets_a_clear_message(page: Page) -> None:
    answered: list[str] = []

    def busy(route: Route) -> None:
        answered.append(route.request.method)
        route.fulfill(status=503, headers={"Retry-After": "0"}, body="")

    page.route("**/playable?*", busy)
    page.goto("/")
    page.locator(row("alac.caf")).locator("button.play").click()
    expect(page.locator("#now-title")).to_have_text(
        "Cannot play alac.caf yet: the server is busy making other copies. Try again in a minute."
    )
    assert answered == ["HEAD"] * MAX_TRIES
    expect(page.locator("#now-download")).to_have_attribute("href", "/files/alac.caf?download=1")

    page.unroute("**/playable?*")  # the server is free again: a second click asks again, and plays
    play(page, "alac.caf")
    expect(page.locator("#now-download")).to_be_hidden()


def test_a_file_ffmpeg_cannot_decode_says_so_and_offers_its_download(browser: Browser, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    stored = library / "broken.aiff"
    tone(stored)
    with audio_server(library) as running, open_tab(browser, running.url) as page:
        wait_until_examined(running.url)
        # The same size and time, so the server keeps its verdict, but FFmpeg can no longer tell what it is.
        info = stored.stat()
        data = stored.read_bytes()
        stored.write_bytes(bytes(len(data)))
        os.utime(stored, ns=(info.st_atime_ns, info.st_mtime_ns))
        page.goto("/")
        page.locator(row("broken.aiff")).locator("button.play").click()
        expect(page.locator("#now-title")).to_have_text("broken.aiff cannot be played in this browser.")
        download = page.locator("#now-download")
        expect(download).to_be_visible()
        expect(download).to_have_attribute("href", "/files/broken.aiff?download=1")
        save_screenshot(page, tmp_path, "cannot-be-played", full_page=False)
        assert requests.get(f"{running.url}/files/broken.aiff?download=1", timeout=10).content == bytes(len(data))


def test_without_javascript_a_row_links_its_playable_copy(
    browser: Browser, server: RunningServer, tmp_path: Path
) -> None:
    with open_tab(browser, server.url, javascript=False) as page:
        page.goto("/")
        link = page.locator(row("dolby.ac3")).locator("a.copy-link")
        expect(link).to_be_visible()
        expect(link).to_have_text("play a browser-friendly copy")
        expect(link).to_have_attribute("href", "/files/dolby.ac3/playable?as=mp3")
        expect(page.locator(row("noise.wav")).locator("a.copy-link")).to_have_count(0)
        save_screenshot(page, tmp_path, "copy-links-without-javascript", full_page=False)
        copy = requests.get(f"{server.url}/files/dolby.ac3/playable?as=mp3", timeout=30)
        assert copy.status_code == 200
        assert copy.headers["Content-Type"] == "audio/mpeg"
