"""The page in Chromium against a server with users: the browser's own credentials let it upload and delete."""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, HttpCredentials, expect

from devtools.servers import audio_server
from devtools.wav import noise_wav
from tests.e2e.browser import open_tab
from tests.users_files import write_users_file


pytestmark = pytest.mark.browser

ALICE: HttpCredentials = {"username": "alice", "password": "correct horse"}


def stored(library_dir: Path) -> list[str]:
    """The tracks in the library folder."""
    return sorted(path.name for path in library_dir.iterdir() if not path.name.startswith("."))


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return write_users_file(tmp_path / "users", {ALICE["username"]: ALICE["password"]})


@pytest.mark.parametrize("private", [False, True], ids=["reads-open", "private"])
def test_with_credentials_the_page_uploads_and_deletes(
    browser: Browser, library_dir: Path, users_file: Path, tmp_path: Path, private: bool
) -> None:
    (library_dir / "old.wav").write_bytes(noise_wav(1))
    song = tmp_path / "new.wav"
    song.write_bytes(noise_wav(2))
    flags = ["--users", str(users_file), *(["--private"] if private else [])]
    with audio_server(library_dir, *flags) as server, open_tab(browser, server.url, credentials=ALICE) as page:
        page.goto("/")
        page.set_input_files("#file-input", str(song))
        upload = page.locator("#uploads li", has_text="new.wav")
        expect(upload.locator(".upload-status")).to_have_text("Uploaded")
        expect(page.locator("#tracks tbody tr", has_text="new.wav")).to_be_visible()
        assert stored(library_dir) == ["new.wav", "old.wav"]

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#tracks tbody tr", has_text="old.wav").locator("a.delete").click()
        expect(page.locator("#tracks tbody tr[data-name]", has_text="old.wav")).to_have_count(0)
        assert stored(library_dir) == ["new.wav"]


def test_with_a_wrong_password_the_page_says_why_and_changes_nothing(
    browser: Browser, library_dir: Path, users_file: Path, tmp_path: Path
) -> None:
    (library_dir / "old.wav").write_bytes(noise_wav(1))
    song = tmp_path / "new.wav"
    song.write_bytes(noise_wav(2))
    # Playwright answers the first 401 with these, then lets the page see the second, as a person cancelling
    # the browser's prompt would. (With none at all, headless Chromium waits for a prompt it never shows.)
    with (
        audio_server(library_dir, "--users", str(users_file)) as server,
        open_tab(browser, server.url, credentials={"username": "alice", "password": "wrong"}) as page,
    ):
        response = page.goto("/")
        assert response is not None
        assert response.status == 200  # reads are open without --private
        page.set_input_files("#file-input", str(song))
        upload = page.locator("#uploads li", has_text="new.wav")
        expect(upload.locator(".upload-status")).to_have_text(
            "Sign in with a user name and password to change this library."
        )
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#tracks tbody tr", has_text="old.wav").locator("a.delete").click()
        refused = page.locator("#tracks tr.row-note")  # said under the row, where the person clicked
        expect(refused).to_contain_text("Not deleted: Sign in with a user name and password")
        assert stored(library_dir) == ["old.wav"]


def test_without_javascript_the_forms_upload_and_delete_on_a_private_library(
    browser: Browser, library_dir: Path, users_file: Path, tmp_path: Path
) -> None:
    song = tmp_path / "plain.wav"
    song.write_bytes(noise_wav(3))
    with (
        audio_server(library_dir, "--users", str(users_file), "--private") as server,
        open_tab(browser, server.url, javascript=False, credentials=ALICE) as page,
    ):
        page.goto("/")
        page.set_input_files("#file-input", str(song))
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name="Upload").click()
        assert navigation.value is not None
        assert navigation.value.status == 201
        assert stored(library_dir) == ["plain.wav"]
        page.get_by_role("link", name="Delete plain.wav").click()
        page.get_by_role("button", name="Delete").click()
        expect(page.locator("#notices li")).to_have_text("plain.wavDeleted.")
        assert stored(library_dir) == []
