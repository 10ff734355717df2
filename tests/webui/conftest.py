"""Headless Debian Chromium driven by Playwright, with guards on what the page does.

Every page a test opens records its uncaught errors, console errors and every request; a request
to anything but this host is aborted and fails the test, as does any page error. With CI=true a
browser that cannot start fails the run; elsewhere the tests skip and say what to install.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("NNI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "webui"
_LEAVING_HOST = re.compile(r"^(?!data:|blob:|https?://(?:127\.0\.0\.1|localhost|\[::1\])(?:[:/]|$))")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing (pip install -e '.[test]')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    manager = sync_playwright().start()
    try:
        # Playwright gives each launch a fresh temporary profile (user-data-dir).
        instance = manager.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    except Exception as error:
        manager.stop()
        _unavailable(f"chromium did not start: {error}")
    yield instance
    instance.close()
    manager.stop()


@dataclass
class Guard:
    """What a page did that a test must not let through."""

    errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert not self.external, f"requests left the host: {self.external}"
        assert not self.errors, f"page errors: {self.errors}"


@pytest.fixture
def open_page(browser: Any) -> Iterator[Any]:
    """``open_page()`` -> (page, guard): a fresh 1400x1000 context per call; checked at teardown."""
    contexts: list[tuple[Any, Guard]] = []

    def make() -> tuple[Any, Guard]:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        guard = Guard()

        def abort(r: Any) -> None:
            guard.external.append(r.request.url)
            r.abort()

        # Only requests leaving the host go through a Python handler: a routed request waits until
        # the sync API next runs its loop, so a test polling in plain Python would stall the page.
        context.route(_LEAVING_HOST, abort)
        context.on("request", lambda r: guard.requests.append(r.url))
        page = context.new_page()
        page.set_default_timeout(20000)
        page.on("pageerror", lambda e: guard.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: guard.errors.append(f"console.{m.type}: {m.text}")
                if m.type == "error" and not _expected_console(m.text) else None)
        contexts.append((context, guard))
        return page, guard

    yield make
    for context, guard in contexts:
        context.close()
        guard.check()


def _expected_console(text: str) -> bool:
    # Refused mutations (a test without the token) make the browser log the 401 response itself.
    return "401 (Unauthorized)" in text


@pytest.fixture
def shots() -> Path:
    """The folder for screenshots kept as test artifacts (artifacts/webui, git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
