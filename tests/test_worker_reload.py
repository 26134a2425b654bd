"""A reload in the matching workers: loaded in each worker's own process as in the service, or refused everywhere."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from assistant.cluster.reloads import digest
from assistant.config import Config
from assistant.live import Scope
from assistant.store import now_ms
from assistant.suggest import child, worker_main
from assistant.suggest import worker as worker_module
from assistant.suggest.engine import SuggestionEngine
from assistant.suggest.matcher import suggestion_json
from assistant.suggest.matching import Answer, FromWorker, Prepared, Ready, Request, Settings, Swap, ToWorker, frame
from assistant.suggest.phrases import Library
from assistant.suggest.worker import MatchingWorkers
from assistant.web import stream
from assistant.web.appkeys import ENGINE
from tests.helpers import ROOT, eventually, make_event, replace_config
from tests.test_matching_worker import customer, post, worker_app
from tests.test_phrase_cache import _group

Client = TestClient  # type: ignore[type-arg]
ASKED = "zz1x第3件什么时候发货"  # a trigger of `shipping_time.zz1x_3`, in own1.toml
EDITED = "亲，今天下单明天就发出哦~"


def _library(tmp_path: Path) -> Path:
    library = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", library)
    for n in range(3):
        (library / f"own{n}.toml").write_text(_group(f"zz{n}x", 20), encoding="utf-8")
    return library


async def _client(aiohttp_client: Any, config: Config, library: Path) -> Client:
    return await worker_app(aiohttp_client, replace_config(config, "phrases", path=str(library)), 1)


async def _served(
    aiohttp_client: Any, config: Config, tmp_path: Path
) -> tuple[Path, Client, SuggestionEngine, MatchingWorkers]:
    """A library of our own in tmp_path, served by a service with one matching worker: the library, the client,
    the service's engine and its workers."""
    library = _library(tmp_path)
    client = await _client(aiohttp_client, config, library)
    engine = client.app[ENGINE]
    workers = engine.workers
    assert workers is not None
    return library, client, engine, workers


async def _answers_as_the_service(client: Client, n: int) -> list[str]:
    """The worker's suggestions for ASKED (their texts), checked to be the service's own for it."""
    engine = client.app[ENGINE]
    workers = engine.workers
    assert workers is not None
    answered = workers.answered
    event = customer(n, ASKED, f"fresh{n}")  # a conversation of its own: no earlier message weighs in
    body = await post(client, event)
    assert workers.answered == answered + 1  # the worker answered it
    own = engine.compute(ASKED, shop=event["shop"], state=None, customer=event["customer"], ts_ms=event["ts"])
    assert body["suggestions"] == engine.response(*own)["suggestions"]
    return [s["text"] for s in body["suggestions"]]


async def test_reload_is_loaded_in_the_serving_worker_reading_only_the_file_that_changed(
    aiohttp_client: Any,
    config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A reload started a new worker process, which read and checked every file again (most of a reload of 20,000
    # phrases in 40 files, one of them edited); it is loaded in the serving process now, as in the service.
    started: list[child.Child] = []
    start_child = child.start_child

    async def recording(args: list[str]) -> child.Child:
        started.append(await start_child(args))
        return started[-1]

    monkeypatch.setattr(worker_module, "start_child", recording)
    library = _library(tmp_path)
    client = await _client(aiohttp_client, config, library)
    workers = client.app[ENGINE].workers
    assert workers is not None and len(started) == 1
    pid = workers.pids
    assert EDITED not in await _answers_as_the_service(client, 1)
    (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
    caplog.set_level(logging.INFO, logger=worker_module.__name__)
    assert (await client.post("/v1/admin/reload")).status == 200
    assert "matching worker 1 loaded the reloaded library" in caplog.text
    assert "(1 files read, 20 phrases checked)" in caplog.text
    assert len(started) == 1 and workers.pids == pid and workers.ready == 1
    assert EDITED in await _answers_as_the_service(client, 2)
    assert digest(client.app[ENGINE].matcher.library) == digest(Library.load(library))
    # Refused: the worker lets go of what it loaded, and serves the library it served.
    (library / "broken.toml").write_text("[[phrase]]\nid = ", encoding="utf-8")
    assert (await client.post("/v1/admin/reload")).status == 422
    assert len(started) == 1 and workers.pids == pid and workers.ready == 1
    assert EDITED in await _answers_as_the_service(client, 3)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_group("zz1x", 20, "亲，后天发出哦~"), "matching worker 1 read other phrases than the service"),
        (_group("zz1x", 20, "短"), "matching worker 1: own1.toml"),
    ],
    ids=["other phrases", "a phrase refused"],
)
async def test_worker_reading_other_files_than_the_service_refuses_the_reload_everywhere(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: str, reason: str
) -> None:
    # A file edited while a reload read it: the service read it before, the worker after. The service served
    # the phrases it read and the worker others (or failed to load, the service matching every message).
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    before = digest(engine.matcher.library)
    (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
    read = threading.Event()
    prepare, load = workers.prepare, engine.prepare

    def service_load() -> Any:
        try:
            return load()
        finally:
            read.set()

    async def worker_load() -> list[tuple[int, Prepared | None]]:
        await eventually(read.is_set, timeout=30)
        (library / "own1.toml").write_text(edit, encoding="utf-8")
        return await prepare()

    monkeypatch.setattr(engine, "prepare", service_load)
    monkeypatch.setattr(workers, "prepare", worker_load)
    resp = await client.post("/v1/admin/reload")
    assert resp.status == 422
    assert any(p.startswith(reason) for p in (await resp.json())["problems"])
    assert digest(engine.matcher.library) == before
    texts = await _answers_as_the_service(client, 1)
    assert EDITED not in texts and "亲，后天发出哦~" not in texts


async def test_worker_killed_during_the_reload_is_replaced_by_one_serving_the_reloaded_library(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service's own load is good: it serves it, and the worker's new process loads the same files.
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    (first,) = workers.pids
    (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
    prepare = workers.prepare

    async def killed() -> list[tuple[int, Prepared | None]]:
        os.kill(first, signal.SIGKILL)  # the service loading the files meanwhile
        return await prepare()

    monkeypatch.setattr(workers, "prepare", killed)
    assert (await client.post("/v1/admin/reload")).status == 200
    await eventually(lambda: workers.ready == 1 and workers.pids != [first], timeout=30)
    assert EDITED in await _answers_as_the_service(client, 1)
    assert digest(engine.matcher.library) == digest(Library.load(library))


class _Pipe:
    """`worker_main.serve` run in a thread of this process, on pipes: frames in, frames out."""

    def __init__(self) -> None:
        down, self._to = os.pipe()
        self._from, up = os.pipe()
        self._stdin, self.stdout = os.fdopen(down, "rb"), os.fdopen(self._from, "rb")
        self.writer, self._up = os.fdopen(self._to, "wb"), os.fdopen(up, "wb")
        self.thread = threading.Thread(target=worker_main.serve, args=(self._stdin, self._up), daemon=True)
        self.thread.start()
        self.decoder = msgspec.msgpack.Decoder(FromWorker)

    def send(self, message: ToWorker) -> None:
        self.writer.write(frame(message))
        self.writer.flush()

    def receive(self) -> FromWorker:
        body = worker_main.read_frame(self.stdout)
        assert body is not None
        return self.decoder.decode(body)

    def close(self) -> None:
        self.writer.close()
        self.thread.join(timeout=30)
        for pipe_end in (self._stdin, self.stdout, self._up):
            pipe_end.close()


def _request(n: int) -> Request:
    return Request(n, ASKED, 1_795_000_000_000, [], [], False, {}, "s1")


async def test_worker_answers_while_the_library_it_replaced_is_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The replaced library is let go of a piece at a time; by the thread answering, every message sent after the
    # swap waited for it (0.3-0.45 s of CPU at 20,000 phrases).
    library = _library(tmp_path)
    releasing, released = threading.Event(), threading.Event()
    release = Library.release

    def held(self: Library) -> None:
        releasing.set()
        assert released.wait(timeout=60)
        release(self)

    monkeypatch.setattr(Library, "release", held)
    settings = Settings([str(library)], {}, True, 3, 0.0)
    pipe = _Pipe()
    try:
        pipe.send(settings)
        assert isinstance(await asyncio.to_thread(pipe.receive), Ready)
        (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
        pipe.send(settings)
        prepared = await asyncio.to_thread(pipe.receive)
        assert isinstance(prepared, Prepared) and not prepared.error
        pipe.send(Swap())
        pipe.send(_request(1))
        answered = asyncio.ensure_future(asyncio.to_thread(pipe.receive))
        await eventually(releasing.is_set, timeout=30)
        await eventually(answered.done, timeout=30)  # while the replaced library is still being released
        answer = answered.result()
        assert isinstance(answer, Answer) and answer.id == 1
        assert EDITED in [s.text for s in answer.suggestions]  # the reloaded library answered it
        assert not released.is_set()
    finally:
        released.set()
        pipe.close()


async def _suggested(client: Client) -> tuple[int, list[str]]:
    """`GET /v1/suggest` for ASKED, checked to be the service's own answer for it: (requests, its texts)."""
    engine = client.app[ENGINE]
    resp = await client.get("/v1/suggest", params={"text": ASKED, "shop": "s1"})
    assert resp.status == 200
    body = await resp.json()
    assert body == engine.response(*engine.compute(ASKED, shop="s1", state=None))
    return 1, [s["text"] for s in body["suggestions"]]


async def _searched(client: Client) -> tuple[int, list[str]]:
    """The "/" search of own1.toml's codes, checked to be the service's own: (requests, the texts found)."""
    engine = client.app[ENGINE]
    resp = await client.get("/v1/phrases/search", params={"q": "zz1x", "limit": "50"})
    assert resp.status == 200
    found = (await resp.json())["results"]
    own = engine.matcher.search("zz1x", limit=50, context=engine.context_for(None, ""))
    assert found == [suggestion_json(s) for s in own]
    assert len(found) == 20
    return 1, [s["text"] for s in found]


CARDS = 3


async def _cards(client: Client) -> tuple[int, list[str]]:
    """A snapshot's cards, rebuilt from the log (each latest customer message matched again), checked to be the
    cards the service's own matching makes: (cards, the texts of their suggestions)."""
    engine = client.app[ENGINE]

    def forgotten() -> None:
        for n in range(CARDS):
            engine.conversations.forget("shop1", f"card{n}")

    forgotten()
    cards = {c["conversation"]: c for c in await stream.scope_conversations(client.app, Scope(agent="a1"))}
    forgotten()
    await engine.own.built()  # the reference: after a reload the service holds the library alone until it is asked
    for n in range(CARDS):
        own = stream.conversation_json(engine.conversations.get("shop1", f"card{n}", strict=True), engine)
        assert cards[f"card{n}"] == own and own["suggestions"]
    return CARDS, [s["text"] for c in cards.values() for s in c["suggestions"]]


Use = Callable[[Client], Awaitable[tuple[int, list[str]]]]


async def _asked(client: Client, use: Use, by_worker: bool) -> list[str]:
    """What `use` gave, checked to be answered by the worker (`by_worker`) or by the service's own matching."""
    workers = client.app[ENGINE].workers
    assert workers is not None
    answered = workers.answered
    asked, texts = await use(client)
    assert workers.answered == answered + asked * by_worker
    return texts


@pytest.mark.parametrize("use", [_suggested, _searched, _cards], ids=["GET /v1/suggest", "search", "snapshot cards"])
async def test_worker_answers_the_service_uses_with_the_library_served_before_and_after_a_reload(
    aiohttp_client: Any, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use: Use
) -> None:
    # `GET /v1/suggest`, the "/" search and the cards of a panel's snapshot rebuilt from the log (up to 500 when a
    # panel opens after a restart) were matched on the event loop, every event waiting, while a worker was ready;
    # the first search after a reload built its index of every phrase there (0.6 s at 20,000 phrases).
    library, client, engine, workers = await _served(aiohttp_client, config, tmp_path)
    t = now_ms() - 60_000
    for n in range(CARDS):
        await post(client, make_event(id=f"card{n}", ts=t + n, agent="a1", conversation=f"card{n}", text=ASKED))
    assert EDITED not in await _asked(client, use, True)
    (library / "own1.toml").write_text(_group("zz1x", 20, EDITED), encoding="utf-8")
    loading, asked = threading.Event(), threading.Event()
    load = engine.prepare

    def held_load() -> Any:
        loading.set()
        assert asked.wait(timeout=60)
        return load()

    monkeypatch.setattr(engine, "prepare", held_load)
    reload = asyncio.ensure_future(client.post("/v1/admin/reload"))
    try:
        await eventually(loading.is_set, timeout=30)
        assert EDITED not in await _asked(client, use, True)  # the library served until the reload answers
    finally:
        asked.set()
    assert (await reload).status == 200
    assert EDITED in await _asked(client, use, True)  # the reloaded library, from its answer on
    # No worker: the service answers itself, with the library it serves.
    monkeypatch.setattr(worker_module, "BACKOFF_S", (600.0, 600.0))  # not back before the request below
    (pid,) = workers.pids
    os.kill(pid, signal.SIGKILL)
    await eventually(lambda: workers.ready == 0, timeout=30)
    assert EDITED in await _asked(client, use, False)
