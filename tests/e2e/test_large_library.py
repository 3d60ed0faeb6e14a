"""The library page in a real Chromium with 20,000 tracks: paged rows, the filter as you type, sorting, no
JavaScript."""

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav
from tests.e2e.browser import VIEWPORTS, open_tab, save_screenshot
from tests.polling import wait_until


pytestmark = [pytest.mark.browser, pytest.mark.slow]

TRACKS = 20_000
PAGE_SIZE = 500


def fill(folder: Path) -> None:
    """TRACKS hard links to one short WAV: real audio for every row, made in a second."""
    source = folder.parent / "source.wav"
    source.write_bytes(noise_wav(3, seconds=0.5))
    for number in range(TRACKS):
        os.link(source, folder / f"track {number:05}.wav")


def examined(server: RunningServer) -> bool:
    response = requests.get(f"{server.url}/api/files", timeout=30)
    return response.headers["X-Library-Unexamined"] == "0"


@pytest.fixture(scope="module")
def large_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("large") / "library"
    folder.mkdir()
    fill(folder)
    with audio_server(folder) as server:
        wait_until(lambda: examined(server), "20,000 files examined", timeout=240)
        yield server


def large_page(
    browser: Browser, server: RunningServer, viewport: str, *, javascript: bool = True
) -> AbstractContextManager[Page]:
    """A tab on the large library at one of VIEWPORTS, with a timeout that allows for 20,000 rows."""
    return open_tab(browser, server.url, viewport, javascript=javascript, timeout_ms=20_000)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_twenty_thousand_tracks_filter_as_you_type(
    browser: Browser, large_server: RunningServer, viewport: str, tmp_path: Path
) -> None:
    width = VIEWPORTS[viewport]["width"]
    with large_page(browser, large_server, viewport) as page:
        page.goto("/")
        rows = page.locator("#tracks tbody tr[data-name]")
        expect(rows).to_have_count(PAGE_SIZE)
        expect(page.locator("#summary")).to_contain_text(f"{TRACKS} tracks")
        expect(page.locator("#shown")).to_have_text(f"Showing 1\u2013{PAGE_SIZE} of {TRACKS} tracks.")
        expect(page.locator("#pager")).to_be_hidden()  # the script pages by scrolling instead
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        save_screenshot(page, tmp_path, f"large-library-{viewport}", full_page=False)

        page.locator("#more").scroll_into_view_if_needed()
        expect(rows).to_have_count(2 * PAGE_SIZE)  # more rows as the end of the list comes into view

        page.locator("#filter").press_sequentially("TRACK 1999", delay=30)
        expect(rows).to_have_count(10)
        expect(rows.first.locator(".track-name")).to_have_text("track 19990.wav")
        expect(page.locator("#shown")).to_have_text("10 matching tracks.")  # every match is on view
        save_screenshot(page, tmp_path, f"large-library-filtered-{viewport}", full_page=False)

        page.locator("#filter").fill("no such track")
        expect(rows).to_have_count(0)
        expect(page.locator("#shown")).to_have_text("No track matches “no such track”.")
        page.locator("#filter").fill("")
        expect(rows).to_have_count(PAGE_SIZE)

        # Sorting the whole list both ways keeps 500 rows in the document.
        page.get_by_role("button", name="Name").click()
        expect(page.locator("#tracks th.c-name")).to_have_attribute("aria-sort", "descending")
        expect(rows.first.locator(".track-name")).to_have_text("track 19999.wav")
        expect(rows).to_have_count(PAGE_SIZE)
        page.get_by_role("button", name="Name").click()
        expect(rows.first.locator(".track-name")).to_have_text("track 00000.wav")

        rows.first.locator(".play").click()
        expect(page.locator("#now-title")).to_have_text("track 00000.wav")

        # An upload joins the loaded list in its place, and a delete leaves it, without a reload.
        song = tmp_path / f"a first {viewport}.wav"
        song.write_bytes(noise_wav(len(viewport), seconds=0.5))
        page.set_input_files("#file-input", str(song))
        expect(rows.first.locator(".track-name")).to_have_text(song.name)
        expect(rows).to_have_count(PAGE_SIZE + 1)
        expect(page.locator("#summary")).to_contain_text(f"{TRACKS + 1} tracks")
        page.once("dialog", lambda dialog: dialog.accept())
        rows.first.locator(".delete").click()
        expect(rows.first.locator(".track-name")).to_have_text("track 00000.wav")
        expect(page.locator("#summary")).to_contain_text(f"{TRACKS} tracks")


def test_twenty_thousand_tracks_without_javascript(
    browser: Browser, large_server: RunningServer, tmp_path: Path
) -> None:
    with large_page(browser, large_server, "desktop", javascript=False) as page:
        page.goto("/")
        rows = page.locator("#tracks tbody tr[data-name]")
        expect(rows).to_have_count(PAGE_SIZE)
        page.get_by_role("link", name="Next \u203a").click()
        expect(rows.first.locator(".track-name")).to_have_text("track 00500.wav")
        expect(page.locator(".pager-place")).to_have_text(f"Page 2 of {TRACKS // PAGE_SIZE}")
        page.locator("#filter").fill("track 1234")
        page.get_by_role("button", name="Filter").click()
        expect(rows).to_have_count(10)
        save_screenshot(page, tmp_path, "large-library-no-javascript", full_page=False)
