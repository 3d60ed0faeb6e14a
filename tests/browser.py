"""Debian's Chromium as the browser tests drive it, and screenshots for a person to look at."""

from pathlib import Path

from playwright.sync_api import Page, ViewportSize

from tests.servers import REPO


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
