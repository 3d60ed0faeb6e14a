"""The page under its Content-Security-Policy in a real Chromium: everything it does still works, and the
browser reports no violation of the policy, neither as an event nor in the console."""

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from devtools.servers import RunningServer
from devtools.wav import noise_wav
from tests.e2e.browser import row, upload_item, wait_in_page, write
from tests.library_folders import FIXTURES, listed_names


pytestmark = pytest.mark.browser

# Added before any of the page's scripts run (Playwright injects it outside the page's policy): every
# violation the browser reports, as the directive and the blocked address.
RECORD_VIOLATIONS = """
window.violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""
LOADED = "(image) => image.complete && image.naturalWidth > 0"


def test_the_page_works_under_its_policy_with_no_violation(
    page: Page, server: RunningServer, library_dir: Path, tmp_path: Path
) -> None:
    shutil.copy(FIXTURES / "tagged.flac", library_dir / "tagged.flac")
    write(library_dir, "gone.wav", noise_wav(2))
    console: list[str] = []

    def record(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    page.on("console", record)
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto("/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]

    cover = page.locator(row("tagged.flac")).locator(".cover img")  # an image from the same origin
    wait_in_page(page, LOADED, arg=cover.element_handle())
    song = write(tmp_path, "new.wav", noise_wav(3, seconds=2.0))
    page.set_input_files("#file-input", str(song))  # XMLHttpRequest to the same origin
    expect(page.locator(upload_item(song.name)).locator(".upload-status")).to_have_text("Uploaded")
    page.locator(row("new.wav")).locator("button.play").click()  # audio from the same origin
    wait_in_page(page, "document.getElementById('player').duration > 1.9")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(row("gone.wav")).locator("a.delete").click()  # fetch to the same origin
    expect(page.locator(row("gone.wav"))).to_have_count(0)
    page.fill("#filter", "tagged")  # the module script's own filtering
    expect(page.locator(row("new.wav"))).to_be_hidden()
    assert listed_names(server.url) == ["new.wav", "tagged.flac"]

    assert page.evaluate("window.violations") == []
    assert [line for line in console if "Content Security Policy" in line or line.startswith("error")] == []


def test_a_blocked_load_would_be_seen(page: Page) -> None:
    """The two checks above see a violation when there is one: an inline script, which the policy forbids."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto("/")
    page.evaluate(
        """() => new Promise((resolve) => {
          document.addEventListener("securitypolicyviolation", resolve, { once: true });
          const script = document.createElement("script");
          script.textContent = "window.ran = true";
          document.body.append(script);
        })"""
    )
    assert page.evaluate("window.ran") is None
    assert page.evaluate("window.violations") == ["script-src-elem inline"]
    assert any("Content Security Policy" in text for text in console)


def test_a_download_or_cover_opened_in_a_tab_still_plays_or_shows_in_its_sandbox(page: Page, library_dir: Path) -> None:
    shutil.copy(FIXTURES / "tagged.flac", library_dir / "tagged.flac")
    response = page.goto("/files/tagged.flac")
    assert response is not None
    assert response.headers["content-security-policy"].startswith("sandbox")
    wait_in_page(
        page, "(() => { const media = document.querySelector('video'); return media && media.duration > 0; })()"
    )
    response = page.goto("/files/tagged.flac/cover")
    assert response is not None
    assert response.headers["content-security-policy"].startswith("sandbox")
    wait_in_page(
        page, "(() => { const image = document.querySelector('img'); return image && image.naturalWidth > 0; })()"
    )
