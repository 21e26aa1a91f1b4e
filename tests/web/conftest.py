"""Fixtures for the web-page tests: one read-only project served by a real `qms-mcp` process
for the whole session, and Debian's Chromium driven by Playwright (skipped when absent).

Screenshots go to $QMS_WEB_SHOTS, else `<pytest tmp>/screenshots` (printed at the end)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from _web_support import build_project, chromium, start_server, stop_server


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator:
    """A real `qms-mcp --transport streamable-http` serving the test project (never changed:
    the pages are read-only, and a test proves it)."""
    root = build_project(tmp_path_factory.mktemp("web") / "proj")
    served = start_server(root, "streamable-http")
    served.root = root
    yield served
    stop_server(served)


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("QMS_WEB_SHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    print(f"\nweb screenshots: {folder}")


@pytest.fixture(scope="session")
def browser() -> Iterator:
    exe = chromium()
    if exe is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set QMS_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser) -> Iterator:
    """A fresh page that records console errors and failed requests in `page.errors`."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on("dialog", lambda d: (pg.errors.append(f"dialog: {d.message}"), d.dismiss()))
    yield pg
    context.close()
