"""Headless Debian chromium driven by Playwright, offline: every request but the page's own is
aborted and counted; console errors and page errors are collected.

Never `playwright install`: the browser is the system's `chromium` (`.ci/run` apt-installs it).
Without it the browser tests skip locally and fail under `CI=true`.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_or_skip() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        msg = "no `chromium` on PATH (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {msg}")
        pytest.skip(msg)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: playwright is not installed (the dev extra)")
        pytest.skip("playwright is not installed")
    return exe


class Page:
    """An opened report page with what it tried to fetch and what it logged."""

    def __init__(self, page, url: str):
        self.page, self.url = page, url
        self.requests: list[str] = []
        self.errors: list[str] = []


@contextmanager
def browser():
    from playwright.sync_api import sync_playwright

    exe = chromium_or_skip()
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@contextmanager
def open_page(b, path: Path, *, width=1200, height=1800, wait_all=True):
    ctx = b.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    url = Path(path).resolve().as_uri()
    p = Page(page, url)

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            p.requests.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page.on("request", lambda req: req.url != url and not req.url.startswith(("data:", "blob:"))
            and req.url not in p.requests and p.requests.append(req.url))
    page.on("console", lambda m: m.type == "error" and p.errors.append(m.text))
    page.on("pageerror", lambda e: p.errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("performance.getEntriesByName('evoflow:first-render').length > 0",
                           timeout=60_000)
    if wait_all:
        page.wait_for_function("document.body.dataset.rendered === 'all'", timeout=60_000)
    try:
        yield p
    finally:
        ctx.close()
