"""Finding a track in a real Chromium: sorting by any column from its header (or a menu on a phone), the
natural default order, and the filter matching title and artist as well as the name."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from devtools.servers import audio_server
from devtools.wav import noise_wav
from sonic.output import name_sort_key
from tests.e2e.browser import open_tab, save_screenshot, write
from tests.e2e.tagged_files import tagged_mp3


pytestmark = pytest.mark.browser

# Three WAVs without tags, of distinct lengths, and three MP3s (each half a second) with or without tags.
WAVS = {"Track 2.wav": 0.3, "Track 10.wav": 1.2, "big.wav": 3.0}
MP3S = {"Zebra.mp3": ("alpha", "Beatles"), "apple.mp3": ("Omega 2", "abba"), "Mango.mp3": ("omega 10", None)}
BY_NAME = ["apple.mp3", "big.wav", "Mango.mp3", "Track 2.wav", "Track 10.wav", "Zebra.mp3"]
UNTITLED = ["big.wav", "Track 2.wav", "Track 10.wav"]  # no value for the column: last either way, by name
EXPECTED = {
    ("name", "ascending"): BY_NAME,
    ("name", "descending"): BY_NAME[::-1],
    ("title", "ascending"): ["Zebra.mp3", "apple.mp3", "Mango.mp3", *UNTITLED],
    ("title", "descending"): ["Mango.mp3", "apple.mp3", "Zebra.mp3", *UNTITLED],
    ("artist", "ascending"): ["apple.mp3", "Zebra.mp3", "big.wav", "Mango.mp3", "Track 2.wav", "Track 10.wav"],
    ("artist", "descending"): ["Zebra.mp3", "apple.mp3", "big.wav", "Mango.mp3", "Track 2.wav", "Track 10.wav"],
    ("duration", "ascending"): ["Track 2.wav", "apple.mp3", "Mango.mp3", "Zebra.mp3", "Track 10.wav", "big.wav"],
    ("duration", "descending"): ["big.wav", "Track 10.wav", "apple.mp3", "Mango.mp3", "Zebra.mp3", "Track 2.wav"],
}


def fill(library_dir: Path) -> None:
    for number, (name, seconds) in enumerate(WAVS.items()):
        write(library_dir, name, noise_wav(number, seconds=seconds))
    for name, (title, artist) in MP3S.items():
        tagged_mp3(library_dir, name, title, artist)


def by_size(library_dir: Path, *, descending: bool) -> list[str]:
    sizes = {name: (library_dir / name).stat().st_size for name in BY_NAME}
    return sorted(BY_NAME, key=lambda name: (-sizes[name] if descending else sizes[name], name_sort_key(name)))


def expect_names(page: Page, names: list[str]) -> None:
    """The rows show these names, in this order (waiting for the script to sort or filter)."""
    expect(page.locator("#tracks tbody tr[data-name] .track-name")).to_have_text(names)


@pytest.fixture
def sortable(library_dir: Path) -> Path:
    fill(library_dir)
    return library_dir


def test_the_list_comes_in_natural_order_with_numbers_by_value(
    page: Page, page_without_js: Page, sortable: Path
) -> None:
    page.goto("/")
    expect_names(page, BY_NAME)
    expect(page.locator("th.c-name")).to_have_attribute("aria-sort", "ascending")
    page_without_js.goto("/")
    expect_names(page_without_js, BY_NAME)


def test_each_header_sorts_its_column_both_ways(page: Page, sortable: Path, tmp_path: Path) -> None:
    page.goto("/")
    for column in ("title", "artist", "duration", "size", "name"):
        header = page.locator(f"#tracks th.c-{column}")
        button = header.get_by_role("button")
        for order in ("ascending", "descending"):
            if header.get_attribute("aria-sort") != "ascending" or order == "descending":
                button.click()
            expect(header).to_have_attribute("aria-sort", order)
            expect(page.locator("#tracks th[aria-sort]")).to_have_count(1)
            if column == "size":
                expect_names(page, by_size(sortable, descending=order == "descending"))
            else:
                expect_names(page, EXPECTED[column, order])
    page.locator("#tracks th.c-title").get_by_role("button").click()
    save_screenshot(page, tmp_path, "sorted-by-title-desktop", full_page=False)


def test_headers_are_buttons_a_keyboard_can_use(page: Page, sortable: Path) -> None:
    page.goto("/")
    button = page.get_by_role("button", name="Duration")
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#tracks th.c-duration")).to_have_attribute("aria-sort", "ascending")
    expect_names(page, EXPECTED["duration", "ascending"])
    page.keyboard.press("Space")
    expect_names(page, EXPECTED["duration", "descending"])


def test_a_phone_sorts_from_the_menu(phone: Page, sortable: Path, tmp_path: Path) -> None:
    phone.goto("/")
    expect(phone.locator("#tracks th.c-title")).to_be_hidden()  # no room for the column on a phone…
    phone.get_by_label("Sort by").select_option(label="Title, Z\u2013A")  # …so the menu sorts by it
    expect(phone.locator("#tracks th.c-title")).to_have_attribute("aria-sort", "descending")
    expect_names(phone, EXPECTED["title", "descending"])
    under_the_name = phone.locator('#tracks tr[data-name="apple.mp3"] .track-sub')
    expect(under_the_name).to_match_aria_snapshot("- text: Omega 2 · abba · 0:01")  # the "·" before 0:01 is CSS
    save_screenshot(phone, tmp_path, "sorted-by-title-phone", full_page=False)
    phone.get_by_label("Sort by").select_option(label="Artist, A\u2013Z")
    expect_names(phone, EXPECTED["artist", "ascending"])


def test_an_upload_joins_a_sorted_list_in_its_place(page: Page, sortable: Path, tmp_path: Path) -> None:
    page.goto("/")
    page.get_by_role("button", name="Title").click()
    page.get_by_role("button", name="Title").click()
    expect(page.locator("#tracks th.c-title")).to_have_attribute("aria-sort", "descending")
    page.set_input_files("#file-input", str(tagged_mp3(tmp_path, "new.mp3", "Nova", "Someone")))
    expect(page.locator("#tracks tbody tr[data-name]")).to_have_count(7)
    expect_names(page, ["Mango.mp3", "apple.mp3", "new.mp3", "Zebra.mp3", *UNTITLED])


def test_the_filter_matches_title_and_artist(page: Page, sortable: Path) -> None:
    page.goto("/")
    filter_box = page.get_by_label("Filter tracks by name, title or artist")
    filter_box.fill("BEATLES")
    expect(page.locator("#tracks tbody tr")).to_have_count(1)
    expect_names(page, ["Zebra.mp3"])
    filter_box.fill("omega")
    expect(page.locator("#tracks tbody tr")).to_have_count(2)
    expect_names(page, ["apple.mp3", "Mango.mp3"])
    page.get_by_role("button", name="Title").click()
    expect_names(page, ["apple.mp3", "Mango.mp3"])  # "Omega 2" before "omega 10": numbers by value
    page.get_by_role("button", name="Title").click()
    expect_names(page, ["Mango.mp3", "apple.mp3"])
    expect(page.locator("#shown")).to_have_text("2 matching tracks.")


def test_without_javascript_the_filter_matches_the_artist_too(page_without_js: Page, sortable: Path) -> None:
    page_without_js.goto("/?q=abba")
    expect_names(page_without_js, ["apple.mp3"])
    expect(page_without_js.locator("#sort-by")).to_be_hidden()  # sorting needs the script; no dead controls
    expect(page_without_js.locator("#tracks th button")).to_have_count(0)


def test_a_tie_keeps_a_stable_order(browser: Browser, library_dir: Path) -> None:
    for name in ("b.wav", "a.wav", "C.wav"):
        write(library_dir, name, noise_wav(7, seconds=0.3))  # same length, same size
    with audio_server(library_dir) as server, open_tab(browser, server.url) as page:
        page.goto("/")
        page.get_by_role("button", name="Size").click()
        expect_names(page, ["a.wav", "b.wav", "C.wav"])
        page.get_by_role("button", name="Size").click()
        expect_names(page, ["a.wav", "b.wav", "C.wav"])  # ties by name whichever the direction


def test_a_sort_the_server_cannot_serve_leaves_the_order_as_it_was(page: Page, sortable: Path) -> None:
    page.goto("/")
    before = page.locator("#tracks tbody tr[data-name] .track-name").all_text_contents()
    page.route("**/api/files", lambda route: route.fulfill(status=503, json={"error": "Try again later."}))
    page.get_by_role("button", name="Size").click()
    expect(page.locator("#tracks th.c-name")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#tracks th.c-size")).not_to_have_attribute("aria-sort", "ascending")
    expect_names(page, before)
    page.unroute("**/api/files")
    page.get_by_role("button", name="Size").click()  # once the server answers again, it sorts
    expect(page.locator("#tracks th.c-size")).to_have_attribute("aria-sort", "ascending")
    expect_names(page, by_size(sortable, descending=False))
