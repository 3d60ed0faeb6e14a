"""The page's rough edges, in a real Chromium: messages that clear and leave the list in view, the outcome of a
delete where it happened, and names that wrap sensibly and show whole on a touch screen."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from devtools.servers import RunningServer, audio_server
from devtools.wav import noise_wav
from tests.e2e.browser import in_view, lines_of, open_tab, row, save_screenshot, upload_item, write
from tests.library_folders import fixture_bytes, on_disk


pytestmark = pytest.mark.browser

ROWS_IN_VIEW = {"desktop": 3, "phone": 1}  # was one on a desktop, none on a phone
LINGER_MS = 6000  # how long the script keeps a successful upload's line
LONG_NAME = "A very long recording name that goes on and on " * 4 + "and ends here.wav"


def accept(dialog: Dialog) -> None:
    dialog.accept()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_many_uploads_leave_the_list_in_view_and_clear_themselves(
    browser: Browser, server: RunningServer, tmp_path: Path, viewport: str
) -> None:
    files = [write(tmp_path, f"song {number}.wav", noise_wav(number, seconds=0.5)) for number in range(1, 7)]
    files.append(write(tmp_path, "photo.jpg", fixture_bytes("image.jpg")))
    with open_tab(browser, server.url, viewport) as page:
        page.clock.install()
        page.goto("/")
        page.set_input_files("#file-input", [str(path) for path in files])
        expect(page.locator("#tracks tbody tr")).to_have_count(6)
        expect(page.locator(upload_item("photo.jpg")).locator(".upload-status")).to_have_text("Non-audio file detected")
        expect(page.locator("#upload-tally")).to_have_text("6 uploaded · 1 not uploaded")
        assert lines_of(page, upload_item("photo.jpg") + " .upload-name") == 1  # not "photo." / "jpg"
        # However many files went up, the uploads take a few lines: at the top of the page, rows are in view.
        save_screenshot(page, tmp_path, f"uploads-{viewport}", full_page=False)
        rows_in_view = [in_view(page, row(f"song {number}.wav")) for number in range(1, 7)]
        assert rows_in_view[: ROWS_IN_VIEW[viewport]] == [True] * ROWS_IN_VIEW[viewport]

        page.clock.run_for(LINGER_MS + 500)
        expect(page.locator("#uploads li")).to_have_count(1)  # successes clear by themselves; the failure stays
        expect(page.locator("#upload-tally")).to_have_text("1 not uploaded")
        page.get_by_role("button", name="Dismiss the message about photo.jpg").click()
        expect(page.locator("#upload-panel")).to_be_hidden()
        page.evaluate("window.scrollTo(0, 0)")
        assert in_view(page, row("song 1.wav"))
        save_screenshot(page, tmp_path, f"uploads-cleared-{viewport}", full_page=False)


def test_clear_finished_removes_every_finished_upload(page: Page, tmp_path: Path) -> None:
    song = write(tmp_path, "song.wav", noise_wav(1))
    fake = write(tmp_path, "notes.wav", b"just some notes")
    page.goto("/")
    page.set_input_files("#file-input", [str(song), str(fake)])
    expect(page.locator("#upload-tally")).to_have_text("1 uploaded · 1 not uploaded")
    page.get_by_role("button", name="Clear finished uploads").click()
    expect(page.locator("#upload-panel")).to_be_hidden()
    expect(page.locator("#file-input")).to_be_focused()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_deleted_is_said_in_the_rows_place(browser: Browser, library_dir: Path, tmp_path: Path, viewport: str) -> None:
    song = noise_wav(2, seconds=0.3)
    for number in range(1, 41):
        write(library_dir, f"track {number:02}.wav", song)
    with audio_server(library_dir) as server, open_tab(browser, server.url, viewport) as page:
        page.clock.install()
        page.goto("/")
        target = page.locator(row("track 30.wav"))
        target.scroll_into_view_if_needed()
        page.once("dialog", accept)
        target.locator("a.delete").click()
        note = page.locator("#tracks tr.row-note")
        expect(note).to_contain_text("track 30.wavDeleted.")
        assert in_view(page, "#tracks tr.row-note")
        expect(note.locator("td")).to_be_focused()
        expect(page.locator("#notices li")).to_have_count(0)
        expect(page.locator("#announcer")).to_have_text("track 30.wav: Deleted.")
        save_screenshot(page, tmp_path, f"deleted-in-place-{viewport}", full_page=False)
        assert "track 30.wav" not in on_disk(library_dir)

        page.clock.run_for(5500)
        expect(note).to_have_count(0)
        expect(page.locator(row("track 31.wav")).locator(".track-name")).to_be_focused()
        names = page.locator("#tracks tbody .track-name").all_text_contents()
        assert len(names) == 39
        assert "track 30.wav" not in names


def test_a_failed_delete_is_said_below_its_row_until_dismissed(page: Page, library_dir: Path) -> None:
    write(library_dir, "stays.wav", noise_wav(3))
    page.goto("/")
    page.route("**/api/files/*", lambda route: route.fulfill(status=507, json={"error": "The disk is full."}))
    page.once("dialog", accept)
    page.locator(row("stays.wav")).locator("a.delete").click()
    note = page.locator("#tracks tr.row-note")
    expect(note).to_contain_text("Not deleted: The disk is full.")
    expect(page.locator(row("stays.wav"))).to_be_visible()
    note.get_by_role("button", name="Dismiss this message").click()
    expect(note).to_have_count(0)


def test_long_names_are_whole_on_a_touch_screen_and_on_hover_elsewhere(browser: Browser, library_dir: Path) -> None:
    write(library_dir, LONG_NAME, noise_wav(4))
    write(library_dir, "photo.jpg.wav", noise_wav(5))
    with audio_server(library_dir) as server:
        with open_tab(browser, server.url, "phone") as phone:
            phone.goto("/")
            name = phone.locator(row(LONG_NAME)).locator(".track-name")
            assert name.evaluate("(link) => link.scrollHeight <= link.clientHeight")  # nothing cut off
            assert lines_of(phone, row(LONG_NAME) + " .track-name") > 2
            assert lines_of(phone, row("photo.jpg.wav") + " .track-name") == 1
        with open_tab(browser, server.url) as desktop:
            desktop.goto("/")
            name = desktop.locator(row(LONG_NAME)).locator(".track-name")
            assert name.evaluate("(link) => link.scrollHeight > link.clientHeight")  # cut at two lines…
            name.hover()
            expect(name).to_have_attribute("title", LONG_NAME)  # …and whole on hover
            name.focus()
            assert name.evaluate("(link) => link.scrollHeight <= link.clientHeight")  # and with keyboard focus


def test_without_javascript_many_messages_fold_away(page_without_js: Page, library_dir: Path, tmp_path: Path) -> None:
    page = page_without_js
    files = [write(tmp_path, f"plain {number}.wav", noise_wav(number, seconds=0.3)) for number in range(1, 7)]
    page.goto("/")
    page.set_input_files("#file-input", [str(path) for path in files])
    with page.expect_navigation():
        page.get_by_role("button", name="Upload").click()
    expect(page.locator("#notices > .notice-list > li")).to_have_count(2)
    expect(page.locator("#notices details summary")).to_have_text("4 more")
    assert in_view(page, row("plain 1.wav"))
    save_screenshot(page, tmp_path, "no-javascript-uploads")
    page.locator("#notices details summary").click()
    expect(page.locator("#notices details li")).to_have_count(4)
    assert on_disk(library_dir) == [f"plain {number}.wav" for number in range(1, 7)]


def test_without_javascript_a_phone_keeps_a_rejected_name_whole(
    browser: Browser, server: RunningServer, tmp_path: Path
) -> None:
    photo = write(tmp_path, "photo.jpg", fixture_bytes("image.jpg"))
    with open_tab(browser, server.url, "phone", javascript=False) as page:
        page.goto("/")
        page.set_input_files("#file-input", str(photo))
        with page.expect_navigation():
            page.get_by_role("button", name="Upload").click()
        expect(page.locator("#notices .notice-text")).to_have_text("Non-audio file detected")
        assert lines_of(page, "#notices .notice-name") == 1
        save_screenshot(page, tmp_path, "no-javascript-rejected-phone", full_page=False)


def test_a_success_stays_while_the_pointer_is_on_the_uploads(page: Page, tmp_path: Path) -> None:
    song = write(tmp_path, "song.wav", noise_wav(1))
    page.clock.install()
    page.goto("/")
    page.set_input_files("#file-input", str(song))
    item = page.locator(upload_item("song.wav"))
    expect(item.locator(".upload-status")).to_have_text("Uploaded")
    item.hover()
    page.clock.run_for(2 * LINGER_MS)
    expect(item).to_be_visible()  # still being read
    page.mouse.move(0, 0)
    page.clock.run_for(LINGER_MS + 500)
    expect(item).to_have_count(0)
    expect(page.locator("#upload-panel")).to_be_hidden()
