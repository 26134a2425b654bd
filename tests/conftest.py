"""Fixtures only: a config on a temporary database, live test clients, fake clocks, the follow-up service's parts.

Helpers live in tests/helpers.py; the follow-up service's in tests/followup_harness.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import settings
from playwright.async_api import Browser, Page, async_playwright

import hooks
from assistant import pg, store
from assistant.clock import FakeClock
from assistant.config import Config, load_config
from assistant.followups.policy import PhraseSource
from assistant.suggest.matcher import Matcher
from tests.browser import CHROMIUM_ARGS, PHONE, PageProbe, require_chromium
from tests.followup_harness import GRACE, IDLE, OUT_SECRET, TOLERANCE, Harness, Receiver, Recorder, tiny_library
from tests.helpers import ROOT, SECRET, T0, make_app, make_event, replace_config, shared_matcher
from tests.kpi_log import Log
from tests.pgcluster import PASSWORD_ENV, Cluster
from tests.qa_harness import SECRET as ROBOT_SECRET
from tests.qa_harness import TOKEN as ROBOT_TOKEN
from tests.robots import DingTalkRobot
from tests.service import compile_project

# Hypothesis's 200 ms limit on one example is a timing goal inside a unit test: on a loaded machine (the whole suite
# on two workers, or beside other work) a slow example can fail a test whose answers are right. Timing lives in bench/.
settings.register_profile("untimed", deadline=None)
settings.load_profile("untimed")


@pytest.fixture(scope="session", autouse=True)
def compiled_project() -> None:
    """The processes the tests start read the project's modules as bytecode (tests/service.py: compile_project)."""
    compile_project()


@pytest.fixture(scope="session")
def shipped_matcher() -> Matcher:
    """The shipped phrase library's matcher, loaded once for the session (strict: errors fail the test)."""
    return shared_matcher(load_config(ROOT / "config.toml", env={}))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per test process (started on first use)."""
    cluster = Cluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the test's database is: SQLite unless the module runs over both (`BACKENDS`)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def db_path(request: pytest.FixtureRequest, tmp_path: Path, backend: str) -> Iterator[store.Location]:
    """The test's empty database: a file, or a fresh PostgreSQL database of the session's cluster."""
    if backend == "sqlite":
        yield tmp_path / "assistant.db"
        return
    location = request.getfixturevalue("pg_cluster").database()
    yield location
    pg.close_pools(location)


def _store_overrides(db: store.Location) -> tuple[dict[str, Any], dict[str, str]]:
    if isinstance(db, pg.Location):
        return {"url": db.url, "password_env": PASSWORD_ENV}, {PASSWORD_ENV: db.password or ""}
    return {"path": str(db)}, {}


@pytest.fixture
def config(db_path: store.Location) -> Config:
    """The shipped config.toml, pointed at a temporary database, with no secrets set."""
    overrides, env = _store_overrides(db_path)
    return load_config(ROOT / "config.toml", env=env, overrides={"store": overrides})


@pytest.fixture
def signed_config(db_path: store.Location) -> Config:
    """Like `config`, with the webhook secret set."""
    overrides, env = _store_overrides(db_path)
    return load_config(
        ROOT / "config.toml",
        env={"ASSISTANT_WEBHOOK_SECRET": SECRET, **env},
        overrides={"store": overrides},
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
def log(db_path: store.Location) -> Iterator[Log]:
    """An empty hand-built log (tests/kpi_log.py) on the test's database; a module may override it with a filled one."""
    built = Log(db_path)
    yield built
    built.close()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at T0 (Friday 2026-11-20 10:00 in Asia/Shanghai): time moves only when the test advances it."""
    return FakeClock(T0)


@pytest.fixture
def real_clock() -> FakeClock:
    """A fake clock started at the real time, for replays: they judge by the log's receive times, which are real."""
    return FakeClock(time.time_ns() // 1_000_000)


@pytest.fixture
def recorder() -> Recorder:
    """A deliver_message plugin for a follow-up `Harness`: answers "sent" and records every call."""
    return Recorder()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local HTTP endpoint for webhook_out (`outbound_config`) that records each POST and checks its signature."""
    r = await Receiver(secret=OUT_SECRET).start()
    yield r
    await r.close()


@pytest.fixture
def send_config(config: Config) -> Config:
    """`config` sending follow-ups after IDLE s of silence, with GRACE s of late grace and TOLERANCE s ahead."""
    config = replace_config(config, "webhook", signature_tolerance_s=TOLERANCE)
    return replace_config(config, "followups", mode="send", idle_seconds=IDLE, late_grace_s=GRACE)


@pytest.fixture
def followup_phrases() -> PhraseSource:
    """What the `harness` composes follow-ups from: the tiny library, unless a module overrides this fixture."""
    return tiny_library()


@pytest.fixture
async def harness(
    send_config: Config, db_path: store.Location, clock: FakeClock, recorder: Recorder, followup_phrases: PhraseSource
) -> AsyncIterator[Harness]:
    """A started follow-up service on `send_config`, driven by `clock`, delivering to `recorder`."""
    h = await Harness(send_config, db_path, clock, plugins=[recorder], phrases=followup_phrases).start()
    yield h
    await h.stop()


@pytest.fixture
async def robot() -> AsyncIterator[DingTalkRobot]:
    """A local DingTalk robot expecting the QA tests' access token and signing secret (tests/qa_harness.py)."""
    r = DingTalkRobot(ROBOT_TOKEN, ROBOT_SECRET)
    await r.start()
    yield r
    await r.close()


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


@pytest.fixture
def hook_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory whose modules import as `hooks.<name>`, as if they were in hooks/."""
    folder = tmp_path / "hook_modules"
    folder.mkdir()
    monkeypatch.setattr(hooks, "__path__", [*hooks.__path__, str(folder)])
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:
        if name.startswith("hooks."):
            del sys.modules[name]
