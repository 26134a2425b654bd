"""Fixtures only: a config on a temporary database, live test clients. Helpers live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, async_playwright

from assistant.config import Config, load_config
from assistant.suggest.matcher import Matcher
from tests.browser import CHROMIUM_ARGS, PHONE, PageProbe, require_chromium
from tests.helpers import ROOT, SECRET, make_app, make_event, shared_matcher


@pytest.fixture(scope="session")
def shipped_matcher() -> Matcher:
    """The shipped phrase library's matcher, loaded once for the session (strict: errors fail the test)."""
    return shared_matcher(load_config(ROOT / "config.toml", env={}))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "assistant.db"


@pytest.fixture
def config(db_path: Path) -> Config:
    """The shipped config.toml, pointed at a temporary database, with no secrets set."""
    return load_config(ROOT / "config.toml", env={}, overrides={"store": {"path": str(db_path)}})


@pytest.fixture
def signed_config(db_path: Path) -> Config:
    """Like `config`, with the webhook secret set."""
    return load_config(
        ROOT / "config.toml",
        env={"ASSISTANT_WEBHOOK_SECRET": SECRET},
        overrides={"store": {"path": str(db_path)}},
    )


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(make_app(config))


@pytest.fixture
async def signed_client(aiohttp_client: Any, signed_config: Config) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(make_app(signed_config))


@pytest.fixture
def event() -> Callable[..., dict[str, Any]]:
    return make_event


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = require_chromium()
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


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
