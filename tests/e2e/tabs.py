"""Browser tabs on a test's server: each in a fresh context (own cookies, cache and credentials)."""

from collections.abc import Iterator

from playwright.sync_api import Browser, HttpCredentials, Page, ViewportSize

from tests.servers import RunningServer


VIEWPORT: ViewportSize = {"width": 1280, "height": 860}


def open_tab(
    browser: Browser, server: RunningServer, *, javascript: bool = True, credentials: HttpCredentials | None = None
) -> Iterator[Page]:
    """Yield a tab on the server, closing its context afterwards; the browser answers a 401 with `credentials`."""
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
