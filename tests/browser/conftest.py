"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server.

Chromium comes from apt (`apt-get install chromium`), never from `playwright install`.
Set CLIPSEARCH_SCREENSHOTS=docs/screenshots to refresh the README's screenshots.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread
from PIL import Image as PILImage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


class _OneRequestAtATime(ThreadedWSGIServer):
    """The live server, handling one request at a time.

    Under test the database is an in-memory SQLite database, which the live
    server's threads share as one connection; the page uploads several files
    at once, and two requests interleaving their transactions on one
    connection would break each other (Django's LiveServerTestCase docs).
    """

    _lock = threading.Lock()

    def get_app(self) -> Any:
        app = super().get_app()

        def one_at_a_time(environ: Any, start_response: Any) -> Any:
            with self._lock:
                return app(environ, start_response)

        return one_at_a_time


@pytest.fixture(scope="session", autouse=True)
def _serialised_live_server() -> Iterator[None]:
    original = LiveServerThread.server_class
    LiveServerThread.server_class = _OneRequestAtATime
    yield
    LiveServerThread.server_class = original


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
        if os.environ.get("CLIPSEARCH_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which makes
    # Django refuse ORM calls from the test itself.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(chromium: Any, live_server: Any) -> Iterator[Callable[..., Any]]:
    """`open_page(viewport=DESKTOP)`: a fresh browser context (no cookies) and a page in it."""
    contexts: list[Any] = []

    def open_(viewport: dict[str, int] = DESKTOP) -> Any:
        context = chromium.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(60_000)
        contexts.append(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors  # checked by tests: the page's script must not throw
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Any]) -> Any:
    return open_page()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[..., None]:
    """`screenshot(page, name)`: always taken; also written to CLIPSEARCH_SCREENSHOTS when set."""
    target = os.environ.get("CLIPSEARCH_SCREENSHOTS")

    def take(page: Any, name: str, *, full_page: bool = False) -> None:
        data = page.screenshot(full_page=full_page, animations="disabled")
        (tmp_path / f"{name}.png").write_bytes(data)
        if target:
            # 256 colours: screenshots of a flat UI stay sharp and well under 300 KB.
            picture = PILImage.open(io.BytesIO(data)).convert("RGB")
            small = picture.quantize(colors=256, dither=PILImage.Dither.NONE)
            Path(target).mkdir(parents=True, exist_ok=True)
            small.save(Path(target) / f"{name}.png", optimize=True)

    return take


def sign_in(page: Any, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"://[^/]+/$"))  # the gallery
