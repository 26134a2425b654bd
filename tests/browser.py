"""Debian's Chromium driven by Playwright (no browser download); fixtures for the browser tests.

Browser tests are never skipped: without /usr/bin/chromium they fail, saying how to install it.
Import the fixtures into a test module: `from tests.browser import browser, page  # noqa: F401`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Dialog, Page, ViewportSize, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialing Google, which this network refuses.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PHONE: ViewportSize = {"width": 360, "height": 780}  # a chat client's sidebar
DESKTOP: ViewportSize = {"width": 1280, "height": 860}


def require_chromium() -> Path:
    """The Chromium binary, or a failed test that says how to get it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: browser tests need Debian's Chromium. "
            "Run `make browser-deps` (apt-get install -y chromium fonts-noto-cjk).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = require_chromium()
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class PageProbe:
    """What a page did that it must not: dialogs opened (e.g. an injected `alert`) and script errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    async def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()


@pytest.fixture
async def page(browser: Browser, tmp_path: Path) -> AsyncIterator[Page]:
    """A phone-sized page with clipboard access; screenshots its last state into tmp_path on teardown."""
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    pg = await context.new_page()
    probe = PageProbe()
    pg.on("dialog", probe.on_dialog)
    pg.on("pageerror", lambda exc: probe.errors.append(str(exc)))
    pg.probe = probe  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        try:
            await pg.screenshot(path=str(tmp_path / "final.png"), full_page=True)
        except Exception:  # a closed page has nothing left to show
            pass
        await context.close()


def probe_of(page: Page) -> PageProbe:
    return page.probe  # type: ignore[attr-defined,no-any-return]


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll `check` until it returns something truthy; its last value, or AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(interval)
