"""Fixtures for the page tests: the app served on loopback by a real WSGI server in a thread,
and Debian's Chromium driven by Playwright (Playwright's own browser download is unavailable).

The live server runs the same `app` the other fixtures build (shared settings, clock and session
factory), so a test can arrange state through the test client or the worker and then look at it
in the browser, or the other way round."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Failures should surface in seconds, not after Playwright's default 30 s.
TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class LiveServer:
    """Where the app answers, e.g. http://127.0.0.1:54321 (no trailing slash)."""

    url: str

    def at(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    """The test's app behind a threaded werkzeug server on a free loopback port."""
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll keeps shutdown() fast: it waits for the serving loop to look up.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
    )
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole run: launching costs about a second."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context per test (no cookies or cache carried over), failing on any page error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
