"""Debian's Chromium driven by Playwright (no browser download): launch settings, page probes, the panel's parts.

Browser tests are never skipped: without /usr/bin/chromium they fail, saying how to install it.
The `browser` and `page` fixtures are in conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Dialog, Page, ViewportSize, expect

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


class PageProbe:
    """What a page did that it must not: dialogs opened (e.g. an injected `alert`) and script errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    async def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()


def probe_of(page: Page) -> PageProbe:
    return page.probe  # type: ignore[attr-defined,no-any-return]


def base_url(client: TestClient) -> str:  # type: ignore[type-arg]
    """Where a test client's app listens, for the browser."""
    return f"http://{client.host}:{client.port}"


def card(page: Page, conversation: str) -> Any:
    """The panel's card of one conversation."""
    return page.locator(".card", has=page.locator(".conv", has_text=re.compile(rf"^#{re.escape(conversation)}$")))


async def open_panel(page: Page, url: str) -> None:
    """Open the panel at `url` and wait until its stream is live."""
    await page.goto(url)
    await expect(page.locator("#status")).to_have_attribute("data-state", "live", timeout=5000)
