"""Drive Debian's Chromium through Playwright: launch options, tabs at desktop and phone sizes, screenshots."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize


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
# The sizes the page is checked at: a laptop, and a phone (with touch and without hover, as a phone has).
VIEWPORTS: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@contextmanager
def open_tab(
    browser: Browser, base_url: str, viewport: str = "desktop", *, javascript: bool = True, timeout_ms: int = 10_000
) -> Iterator[Page]:
    """A fresh tab (own cookies and cache) at one of VIEWPORTS, light colour scheme, closed afterwards."""
    phone = viewport == "phone"
    context = browser.new_context(
        base_url=base_url,
        viewport=VIEWPORTS[viewport],
        java_script_enabled=javascript,
        color_scheme="light",
        has_touch=phone,
        is_mobile=phone,
    )
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


def save_screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as FOLDER/screenshots/NAME.png (a test's tmp_path) for a person to look at."""
    path = folder / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
