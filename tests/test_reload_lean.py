"""A reload while a worker serves: the service holds the library alone, and builds its own matcher only when a use
needs it and no worker can take it (suggest/served.py)."""

from __future__ import annotations

import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.config import Config
from assistant.live import Scope
from assistant.store import now_ms
from assistant.suggest import matching
from assistant.suggest import worker as worker_module
from assistant.suggest.engine import WITHHELD
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
from assistant.suggest.type_reader import TypeReader
from assistant.web import stream
from assistant.web.appkeys import ENGINE
from tests.helpers import eventually, make_event, shared_matcher
from tests.test_matching_worker import TEXTS, customer, post
from tests.test_phrase_cache import _group
from tests.test_worker_reload import ASKED, CARDS, EDITED, _served

Client = TestClient  # type: ignore[type-arg]


def _counted(monkeypatch: pytest.MonkeyPatch) -> list[Library]:
    """The libraries a matcher is built of in this process from now on (the service's; a worker is a process)."""
    built: list[Library] = []
    real = matching.Matcher

    def counting(library: Library, **options: Any) -> Matcher:
        built.append(library)
        return real(library, **options)

    monkeypatch.setattr(matching, "Matcher", counting)
    return built


async def _cards_posted(client: Client) -> None:
    t = now_ms() - 60_000
    for n in range(CARDS):
        await post(client, make_event(id=f"card{n}", ts=t + n, agent="a1", conversation=f"card{n}", text=ASKED))


async def _reloaded(client: Client, library: Path) -> None:
    (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
    assert (await client.post("/v1/admin/reload")).status == 200


async def _event(client: Client, n: int) -> list[str]:
    body = await post(client, customer(n, ASKED, f"fresh{n}"))
    return [s["text"] for s in body["suggestions"]]


async def _suggested(client: Client) -> list[str]:
    resp = await client.get("/v1/suggest", params={"text": ASKED, "shop": "s1"})
    assert resp.status == 200
    return [s["text"] for s in (await resp.json())["suggestions"]]


async def _searched(client: Client) -> list[str]:
    resp = await client.get("/v1/phrases/search", params={"q": "zz1x", "limit": "50"})
    assert resp.status == 200
    found = (await resp.json())["results"]
    assert len(found) == 20
    return [s["text"] for s in found]


async def _cards(client: Client) -> list[str]:
    """A snapshot's cards rebuilt from the log (each latest customer message matched again): each has suggestions;
    their texts."""
    engine = client.app[ENGINE]
    for n in range(CARDS):
        engine.conversations.forget("shop1", f"card{n}")
    cards = [
        c for c in await stream.scope_conversations(client.app, Scope(agent="a1")) if c["conversation"][:4] == "card"
    ]
    assert len(cards) == CARDS and all(c["suggestions"] and c["customer_type"] for c in cards)
    return [s["text"] for c in cards for s in c["suggestions"]]


async def test_reload_while_a_worker_serves_builds_no_matcher_in_the_service(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service built its own matcher of the reloaded library (trigger index, key words, scorer: about 3.3 s of CPU
    # at 20,000 phrases) beside its event loop, for uses its worker answers.
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    await _cards_posted(client)
    built = _counted(monkeypatch)
    await _reloaded(client, library)
    assert built == [] and engine.own.served.matcher is None
    answered = workers.answered
    # Every use after the reload's answer, by the worker, with the reloaded library.
    assert EDITED in await _event(client, 1)
    assert EDITED in await _suggested(client)
    assert EDITED in await _searched(client)
    assert EDITED in await _cards(client)
    assert workers.answered == answered + 3 + CARDS
    assert built == [] and engine.own.served.matcher is None


Use = Callable[[Client], Awaitable[list[str]]]


@pytest.mark.parametrize("use", [_suggested, _searched, _cards], ids=["GET /v1/suggest", "search", "snapshot cards"])
async def test_with_its_worker_down_the_service_builds_its_own_matcher_once_and_answers_with_it(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use: Use
) -> None:
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    await _cards_posted(client)
    built = _counted(monkeypatch)
    await _reloaded(client, library)
    monkeypatch.setattr(worker_module, "BACKOFF_S", (600.0, 600.0))  # not back before the requests below
    (pid,) = workers.pids
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: workers.ready == 0, timeout=30)
    answered = workers.answered
    assert EDITED in await use(client)  # the request waited for the build
    assert built == [engine.library] and engine.own.served.matcher is not None
    assert EDITED in await use(client)
    assert len(built) == 1 and workers.answered == answered


async def test_with_its_worker_down_the_service_answers_events_while_it_builds_its_matcher_then_matches_them(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    built = _counted(monkeypatch)
    await _reloaded(client, library)
    monkeypatch.setattr(worker_module, "BACKOFF_S", (600.0, 600.0))
    (pid,) = workers.pids
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: workers.ready == 0, timeout=30)
    first = await post(client, customer(1, ASKED, "fresh1"))
    assert first["suggestions"] == [] and first["suggestions_withheld"] == WITHHELD
    await eventually(lambda: engine.own.served.matcher is not None, timeout=60)
    assert EDITED in await _event(client, 2)
    assert built == [engine.library]


def test_type_reader_reads_the_customers_type_as_the_matcher_does(config: Config) -> None:
    matcher = shared_matcher(config)
    reader = TypeReader.build(matcher.library, strict=True)
    types = set()
    for end in range(1, len(TEXTS) + 1):
        messages = [(1_795_000_000_000 + n * 40_000, text) for n, text in enumerate(TEXTS[:end])]
        replies = [ts + 5_000 for ts, _ in messages[::3]]
        for ordered, past in ((False, 0), (True, 2)):
            kind = reader.classify(messages, replies, ordered=ordered, past_orders=past)
            assert kind == matcher.classify(messages, replies, ordered=ordered, past_orders=past)
            types.add(kind.type)
    assert reader.default() == matcher.types.default()
    assert len(types) >= 3  # the conversations tell types apart: the comparison is of something
    reader.release()
