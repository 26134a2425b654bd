"""Fixtures only: a config on a temporary database, live test clients. Helpers live in tests/helpers.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.app import create_app
from assistant.config import Config, load_config
from tests.helpers import ROOT, SECRET, make_event


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
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def signed_client(aiohttp_client: Any, signed_config: Config) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(create_app(signed_config))


@pytest.fixture
def event() -> Callable[..., dict[str, Any]]:
    return make_event
