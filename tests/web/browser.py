"""The app served over real HTTP on 127.0.0.1, and Debian's Chromium driven by Playwright.

Browser tests check what only a browser shows: that a page renders under the app's own
Content-Security-Policy, runs its scripts and fetches nothing from anywhere but the app.
Chromium is Debian's (``/usr/bin/chromium``, which ``.ci/run`` installs when missing);
Playwright drives it without downloading a browser of its own. Without it, outside CI,
the tests are skipped saying so; under ``CI=true`` they fail.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Route, sync_playwright

from tests.conftest import IN_CI

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def served(app: FastAPI, *, live: bool = False, port: int = 0) -> Iterator[str]:
    """*app* under uvicorn in a thread, on *port* of 127.0.0.1 (a free one when 0); its
    base URL. *live* runs the app's lifespan too: the feed of the store's changes the live
    pages follow. The same *port* again is the same server restarted."""
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", port))
    port = listening.getsockname()[1]
    lifespan = "on" if live else "off"
    config = uvicorn.Config(
        app, log_level="warning", lifespan=lifespan, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the app's server did not start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listening.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    if shutil.which(CHROMIUM) is None:
        message = f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true: the browser tests must run")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A page as a visitor gets it: what it asked of other hosts, what its console said."""

    page: Page
    elsewhere: list[str] = field(default_factory=list)
    """Requests to anywhere but the app: refused, and noted here."""
    errors: list[str] = field(default_factory=list)
    """The console's errors (a script the CSP blocked, one that failed)."""


@contextmanager
def visit(browser: Browser, base_url: str) -> Iterator[Visit]:
    """A fresh browser context whose requests may reach *base_url* only."""
    context = browser.new_context()
    page = context.new_page()
    seen = Visit(page)

    def only_the_app(route: Route) -> None:
        url = route.request.url
        if url.startswith(base_url) or url.startswith("data:"):
            route.continue_()
        else:
            seen.elsewhere.append(url)
            route.abort()

    page.route("**/*", only_the_app)
    page.on("console", lambda message: message.type == "error" and seen.errors.append(message.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        context.close()
