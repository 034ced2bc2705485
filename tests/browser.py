"""Session-less browser fixtures for the viewer's tests: Debian's headless ``chromium`` driven by playwright.

``browser`` (one per test module) and ``page`` (one per test, failing the test on any script error in the
page). Import both into a test module: ``from browser import browser, page  # noqa: F401 (fixtures)``.
"""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    page.close()
    assert problems == []
