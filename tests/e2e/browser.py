"""Drive Debian's Chromium through Playwright: launch options, tabs at desktop and phone sizes, screenshots,
and the parts of the library page that the browser tests look for."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, HttpCredentials, Page, ViewportSize

from tests.polling import wait_until


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
    browser: Browser,
    base_url: str,
    viewport: str = "desktop",
    *,
    javascript: bool = True,
    timeout_ms: int = 10_000,
    credentials: HttpCredentials | None = None,
) -> Iterator[Page]:
    """A fresh tab (own cookies, cache and credentials) at one of VIEWPORTS, light colour scheme, closed
    afterwards; the browser answers a 401 with `credentials`."""
    phone = viewport == "phone"
    context = browser.new_context(
        base_url=base_url,
        viewport=VIEWPORTS[viewport],
        java_script_enabled=javascript,
        color_scheme="light",
        has_touch=phone,
        is_mobile=phone,
        http_credentials=credentials,
    )
    context.set_default_timeout(timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_in_page(page: Page, expression: str, arg: object = None) -> None:
    """Poll a JavaScript expression, or function of `arg`, in the page until it is truthy (tests.polling's
    deadline). Playwright's own wait_for_function runs its predicate through eval, which the page's
    Content-Security-Policy forbids; page.evaluate goes through the debugging protocol, outside the policy."""
    wait_until(lambda: page.evaluate(expression, arg), f"{expression} in the page")


def save_screenshot(page: Page, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as FOLDER/screenshots/NAME.png (a test's tmp_path) for a person to look at."""
    path = folder / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path


def write(folder: Path, name: str, content: bytes) -> Path:
    """Put a file into a folder (a library, or a test's folder of files to upload)."""
    path = folder / name
    path.write_bytes(content)
    return path


def row(name: str) -> str:
    """A selector for the table row of one track (names are quoted for CSS by Playwright's text engine)."""
    return f'#tracks tbody tr:has(a.track-name:text-is("{name}"))'


def upload_item(name: str) -> str:
    """A selector for the line of one upload in the list of uploads."""
    return f'#uploads li:has(.upload-name:text-is("{name}"))'


def lines_of(page: Page, selector: str) -> int:
    """How many lines the text of the first element matching SELECTOR takes on screen."""
    count: int = page.locator(selector).first.evaluate(
        """(element) => {
            const range = document.createRange();
            range.selectNodeContents(element);
            return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
        }"""
    )
    return count


def in_view(page: Page, selector: str) -> bool:
    """Whether the first element matching SELECTOR is wholly inside the window, not under the player bar."""
    inside: bool = page.locator(selector).first.evaluate(
        """(element) => {
            const box = element.getBoundingClientRect();
            const bar = document.querySelector('.player-bar');
            const bottom = bar && getComputedStyle(bar).display !== 'none'
                ? bar.getBoundingClientRect().top : window.innerHeight;
            return box.height > 0 && box.top >= 0 && box.bottom <= bottom;
        }"""
    )
    return inside
