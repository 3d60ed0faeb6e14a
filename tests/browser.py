"""Debian's Chromium as the browser tests drive it, its tabs, and screenshots for a person to look at."""

from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, HttpCredentials, Page, ViewportSize

from tests.servers import REPO, RunningServer


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = REPO / "tests" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}


def save_screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot to tests/screenshots/NAME.png (git-ignored) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def open_tab(
    browser: Browser, server: RunningServer, *, javascript: bool = True, credentials: HttpCredentials | None = None
) -> Iterator[Page]:
    """Yield a tab on the server in a fresh context (own cookies, cache and credentials), closed afterwards;
    the browser answers a 401 with `credentials`."""
    context = browser.new_context(
        base_url=server.url,
        viewport=VIEWPORT,
        java_script_enabled=javascript,
        color_scheme="light",
        http_credentials=credentials,
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
