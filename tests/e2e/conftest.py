"""Fixtures for the browser tests: Debian's Chromium driven by Playwright against a real server subprocess."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from devtools.servers import RunningServer, audio_server
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, open_tab


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the session; skipped (failed under CI=true) if it is not installed."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} not found: install the Debian package `chromium` (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server(library_dir: Path) -> Iterator[RunningServer]:
    """The audio library server on a free loopback port, serving the test's folder."""
    with audio_server(library_dir) as running:
        yield running


@pytest.fixture
def page(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh desktop-sized tab on the test's server, with JavaScript."""
    with open_tab(browser, server.url) as tab:
        yield tab


@pytest.fixture
def phone(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh phone-sized touch tab on the test's server, with JavaScript."""
    with open_tab(browser, server.url, "phone") as tab:
        yield tab


@pytest.fixture
def page_without_js(browser: Browser, server: RunningServer) -> Iterator[Page]:
    """A fresh desktop-sized tab on the test's server with JavaScript disabled."""
    with open_tab(browser, server.url, javascript=False) as tab:
        yield tab
