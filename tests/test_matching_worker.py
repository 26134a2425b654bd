"""Matching workers: child processes answer exactly as the service would, and never cost an event."""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import logging
import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from assistant.clock import FakeClock
from assistant.config import Config
from assistant.conversations import Conversations
from assistant.events import Event, parse_event
from assistant.ingest import Enrichment
from assistant.store import Written
from assistant.suggest import child, worker_main
from assistant.suggest import engine as engine_module
from assistant.suggest import worker as worker_module
from assistant.suggest.engine import SuggestionEngine, load_matcher
from assistant.suggest.matcher import Matcher
from assistant.suggest.matching import Request, answer
from assistant.suggest.worker import LoopBudget, MatchingWorkers
from assistant.web.appkeys import ENGINE
from assistant.web.stream import conversation_json
from tests.helpers import ROOT, body_of, eventually, make_app, make_event, replace_config, shared_matcher
from tests.service import Service

Client = TestClient  # type: ignore[type-arg]
T0 = 1_795_000_000_000  # epoch ms of the conversations below

# Our own wording: greetings, goods, sizes, prices, shipping, after-sale, the odd and the empty.
TEXTS = [
    "你好", "在不在呀", "这款有现货吗", "什么时候能发货", "今天下单今天能发吗", "发什么快递，能发顺丰吗",
    "我一米六五，一百一十斤，穿什么码", "M码会不会偏小", "鞋子是标准码吗 平时穿38", "能便宜点吗",
    "隔壁店才卖59，你们贵了二十", "买两件有优惠吗", "有没有优惠券", "付款了怎么还没发货", "物流三天没动了",
    "地址填错了能改吗", "收到的衣服有个破洞", "颜色和图片差太多了 我要退", "七天无理由吗 运费谁出",
    "怎么还不回我？？？", "在吗在吗", "我是第一次来你们家买", "好的谢谢亲", "那我再看看吧",
    "这个面料起球吗 洗了会缩水吗", "https://item.taobao.com/item.htm?id=123 这个还有吗", "😂😂",
    "ok", "能开发票吗", "亲 拍下了 订单号123456 尽快发哈", "不便宜点我就去别家买了", "？",
]  # fmt: skip


def customer(n: int, text: str, conversation: str) -> dict[str, Any]:
    return make_event(id=f"m{n}", text=text, conversation=conversation, ts=T0 + n * 30_000)


def conversation_events() -> list[dict[str, Any]]:
    """Customer messages in three conversations, with agent replies between some and an unpaid order in one."""
    events = []
    for n, text in enumerate(TEXTS):
        conversation = f"c{n % 3}"
        if n % 5 == 4:
            events.append(
                make_event(
                    id=f"a{n}", sender="agent", agent="小李", text="亲，稍等", conversation=conversation,
                    ts=T0 + n * 30_000 - 5_000,
                )
            )  # fmt: skip
        if n == 10:
            events.append(make_event("order_created", id="o1", conversation="c1", ts=T0 + n * 30_000 - 1_000))
        events.append(customer(n, text, conversation))
    return events


async def worker_app(aiohttp_client: Any, config: Config, workers: int) -> Client:
    client: Client = await aiohttp_client(make_app(config, workers=workers))
    if workers:
        await eventually(lambda: client.app[ENGINE].workers.ready == workers, timeout=30)
    return client


async def post(client: Client, event: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post("/v1/events", data=body_of(event))
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_worker_answers_equal_the_services_own(aiohttp_client: Any, config: Config, tmp_path: Path) -> None:
    here = await worker_app(aiohttp_client, config, 0)
    there = await worker_app(aiohttp_client, replace_config(config, "store", path=str(tmp_path / "w.db")), 1)
    asked = 0
    for event in conversation_events():
        mine, theirs = await post(here, event), await post(there, event)
        assert theirs == mine
        asked += event.get("sender") == "customer"
    # Adoption: three uses of a phrase lift it, in the worker as here.
    before = await post(here, customer(100, "能便宜点吗", "c0"))
    assert await post(there, customer(100, "能便宜点吗", "c0")) == before
    lifted = before["suggestions"][-1]
    for n in range(3):
        used = make_event("suggestion_used", id=f"u{n}", phrase_id=lifted["phrase_id"], ts=T0 + 3_600_000 + n)
        await post(here, used)
        await post(there, used)
    after = await post(here, customer(101, "能便宜点吗", "c0"))
    assert await post(there, customer(101, "能便宜点吗", "c0")) == after
    scores = {s["phrase_id"]: s["score"] for s in after["suggestions"]}
    assert scores[lifted["phrase_id"]] > lifted["score"]
    assert there.app[ENGINE].workers.answered == asked + 2  # all of them answered by the worker, none here


@pytest.fixture
async def engine(config: Config, tmp_path: Path) -> AsyncIterator[SuggestionEngine]:
    db = tmp_path / "e.db"
    engine = SuggestionEngine(config, shared_matcher(config), Conversations(db), db)
    yield engine
    await engine.stop_workers()
    engine.conversations.close()
    engine.items.close()


def message(text: str = "什么时候能发货") -> Event:
    return parse_event(make_event(text=text), max_text_chars=5000)


async def enrich(result: Enrichment | None | Awaitable[Enrichment | None]) -> Enrichment:
    done = await result if inspect.isawaitable(result) else result
    assert done is not None
    return done


@asynccontextmanager
async def layered(
    config: Config, tmp_path: Path, *, read_here: bool = False
) -> AsyncIterator[tuple[SuggestionEngine, Path]]:
    """An engine whose library is the shipped phrases and a shop's folder (`layer`, empty to start with): read by the
    workers alone (the service's own matcher the shipped one), or by the service too when `read_here` (loaded now).
    At the end a load left hanging on a FIFO in the folder is let go, the workers stopped, the engine's reads closed."""
    layer = tmp_path / "layer"
    layer.mkdir()
    with_layer = replace_config(config, "phrases", path=[str(ROOT / "phrases"), str(layer)])
    db = tmp_path / "e.db"
    matcher = load_matcher(with_layer) if read_here else shared_matcher(config)
    engine = SuggestionEngine(with_layer, matcher, Conversations(db), db)
    try:
        yield engine, layer
    finally:
        for path in layer.iterdir():
            if path.is_fifo():
                path.unlink()
        await engine.stop_workers()
        engine.conversations.close()
        engine.items.close()


async def started(engine: SuggestionEngine, clock: FakeClock) -> MatchingWorkers:
    workers = engine.start_workers(1, clock=clock)
    await eventually(lambda: workers.ready, timeout=30)
    return workers


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


class BusyMachine:
    """A machine where three quarters of the wall time since `since` go to waiting for a processor: the `waiting` a
    pool of workers is given (nothing waited before `since` is set), and the pids its watchdog asked about."""

    def __init__(self, clock: FakeClock, since: int | None = None) -> None:
        self.clock = clock
        self.since = since
        self.looked: list[int] = []  # each time the watchdog looked

    def waiting(self, pid: int) -> float:
        if self.since is None:
            return 0.0
        self.looked.append(pid)
        return (self.clock.now_ms() - self.since) * 0.75 / 1000

    async def four_minutes(self, still: Callable[[], bool]) -> None:
        """60, 120 and 180 s on (15, 30, 45 s of a process's own): the watchdog looks each time and `still()` holds;
        then 240 s (60 s of its own)."""
        for looks in (2, 3, 4):
            self.clock.advance(60.0)
            await eventually(functools.partial(lambda n: len(self.looked) == n, looks))  # it looked: loading on
            assert still()
        self.clock.advance(60.0)


async def signalled(engine: SuggestionEngine, sig: signal.Signals) -> tuple[MatchingWorkers, FakeClock, int]:
    """One worker started on a fake clock, then sent `sig`: the workers, the clock, the worker's pid."""
    clock = FakeClock()
    workers = await started(engine, clock)
    pid = workers.pids[0]
    os.kill(pid, sig)
    return workers, clock, pid


async def test_a_conversations_messages_go_to_one_worker_unless_it_is_far_behind(engine: SuggestionEngine) -> None:
    # Each worker keeps what it read of the texts it was sent: a conversation's earlier messages, weighed again
    # with each new one, are read once by its own worker rather than once by every worker its messages met.
    workers = engine.start_workers(2, clock=FakeClock())
    await eventually(lambda: workers.ready == 2, timeout=30)
    stopped = workers.pids
    for pid in stopped:  # nothing answered: the requests stay in the queues they were sent to
        os.kill(pid, signal.SIGSTOP)
    try:
        request = Request(0, "什么时候能发货", T0, [], [], False, {}, "s1")

        def sent_to(conversation: str) -> int:
            before = workers.queues
            assert workers.submit(request, conversation) is not None
            return next(n for n, (a, b) in enumerate(zip(before, workers.queues)) if b == a + 1)

        own: dict[str, int] = {}
        for n in range(100):  # two conversations of each worker's, whichever the hash gives it
            conversation = f"s1\x1fc{n}"
            worker = sent_to(conversation)
            if sum(1 for w in own.values() if w == worker) < 2:
                own[conversation] = worker
            if len(own) == 4:
                break
        assert sorted(own.values()) == [0, 0, 1, 1]
        # Once more each, the other way round (the queues filled unevenly meanwhile): not one goes astray.
        assert {conversation: sent_to(conversation) for conversation in reversed(own)} == own
        # A worker far behind the least busy: its conversation's next message goes to the other one.
        conversation = next(c for c, w in own.items() if w == 0)
        while workers.queues[0] < workers.queues[1] + worker_module.SPILL:
            assert sent_to(conversation) == 0
        assert sent_to(conversation) == 1
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)


async def test_worker_killed_the_next_messages_are_matched_here_and_a_new_worker_comes_up(
    engine: SuggestionEngine,
) -> None:
    workers, clock, first = await signalled(engine, signal.SIGKILL)
    await eventually(lambda: workers.states == ["waiting"])
    expected = engine.annotate(message())
    assert expected is not None and expected.response["suggestions"]
    for _ in range(3):
        result = engine.annotate_pipelined(message())
        assert not inspect.isawaitable(result)  # no worker: matched at once, here
        assert (await enrich(result)).response == expected.response
    assert workers.states == ["waiting"] and workers.pids == [] and not running(first)  # the backoff holds it
    clock.advance(0.5)
    await eventually(lambda: workers.ready, timeout=30)
    assert workers.pids != [first]
    assert (await enrich(engine.annotate_pipelined(message()))).response == expected.response
    assert workers.answered == 1


async def test_worker_killed_the_service_matches_its_share_and_answers_the_rest_without_suggestions(
    engine: SuggestionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers, clock, first = await signalled(engine, signal.SIGKILL)
    await eventually(lambda: workers.states == ["waiting"])
    now = [0.0]  # the loop's time as the budget reads it: here, each message matched in the service takes 0.1 s
    engine.budget = LoopBudget(0.25, clock=lambda: now[0])
    matched = engine_module.answer  # the compiled Matcher's methods cannot be replaced: the call into it is

    def slow(*args: Any, **kwargs: Any) -> Any:
        now[0] += 0.1
        return matched(*args, **kwargs)

    monkeypatch.setattr(engine_module, "answer", slow)
    expected = engine.annotate(message())
    assert expected is not None and expected.response["suggestions"]
    answers = [await enrich(engine.annotate_pipelined(message())) for _ in range(6)]
    # A quarter of a second's matching (and the message that began before it was over), then no more: before, the
    # service matched every message until the worker was back, every other request waiting behind it.
    assert [a.response for a in answers[:4]] == [expected.response] * 4
    withheld = {"suggestions": [], "suggestions_withheld": "matching_busy"}
    assert [a.response for a in answers[4:]] == [withheld] * 2
    annotation = answers[4].annotation
    assert annotation is not None and annotation.suggestions == () and annotation.intent is None
    assert annotation.customer_type_detail  # the card keeps a customer type: nothing matched for it
    now[0] += 1.0  # a second later the service has its share again
    assert (await enrich(engine.annotate_pipelined(message()))).response == expected.response
    clock.advance(0.5)
    await eventually(lambda: workers.ready, timeout=30)
    assert workers.pids != [first]
    assert [(await enrich(engine.annotate_pipelined(message()))).response for _ in range(5)] == [expected.response] * 5
    assert workers.answered == 5  # the worker matches, whatever the service's share
    # The card says why it has no suggestions (it said 暂无建议, as for a message no phrase answers).
    engine.on_written(Written(message(), 7, False, annotation))
    card = conversation_json(engine.conversations.get(message().shop, message().conversation), engine)
    assert card["suggestions"] == [] and card["suggestions_withheld"] == "matching_busy"


@pytest.mark.parametrize(("share", "matched"), [(0.0, 0), (0.25, 4), (0.5, 11)])
async def test_worker_killed_the_service_matches_the_share_of_its_time_phrases_loop_share_gives(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, share: float, matched: int
) -> None:
    # The share was a constant (a quarter): an operator could not give a busy service's loop less, nor a quiet
    # one's more. 0: never on the loop, suggestions withheld until a worker is back.
    db = tmp_path / "e.db"
    shared = replace_config(config, "phrases", loop_share=share)
    engine = SuggestionEngine(shared, shared_matcher(config), Conversations(db), db)
    try:
        assert engine.budget.share == share
        workers, _clock, _first = await signalled(engine, signal.SIGKILL)
        await eventually(lambda: workers.states == ["waiting"])
        # Each message matched in the service takes 0.1 s of the loop's time as the budget reads it, and gives back
        # 0.1 s × the share: a quarter matches 4 messages in a row, a half about 10 (11: sums of 0.1 round).
        now = [0.0]
        engine.budget = LoopBudget(engine.budget.share, clock=lambda: now[0])
        matched_here = engine_module.answer

        def slow(*args: Any, **kwargs: Any) -> Any:
            now[0] += 0.1
            return matched_here(*args, **kwargs)

        monkeypatch.setattr(engine_module, "answer", slow)
        answers = [await enrich(engine.annotate_pipelined(message())) for _ in range(20)]
        assert [bool(a.response["suggestions"]) for a in answers] == [True] * matched + [False] * (20 - matched)
    finally:
        await engine.stop_workers()
        engine.conversations.close()
        engine.items.close()


async def test_worker_whose_library_load_hangs_is_killed_after_the_load_timeout_and_started_again(
    config: Config, tmp_path: Path
) -> None:
    # The service's own matcher is the usual one: only the worker reads the layer.
    async with layered(config, tmp_path) as (engine, layer):
        hang = layer / "hang.toml"
        os.mkfifo(hang)  # reading it waits for a writer that never comes: the child's load hangs
        clock = FakeClock()
        workers = engine.start_workers(1, clock=clock, waiting=lambda pid: 0.0)  # never preempted
        await eventually(lambda: workers.pids)
        hanging = workers.pids[0]
        result = engine.annotate_pipelined(message())
        assert not inspect.isawaitable(result) and (await enrich(result)).response["suggestions"]  # matched here
        clock.advance(59.0)
        await asyncio.sleep(0)
        assert workers.states == ["starting"] and workers.pids == [hanging]
        clock.advance(1.0)
        await eventually(lambda: workers.states == ["waiting"] and not running(hanging))
        hang.unlink()  # the library loads again
        clock.advance(0.5)
        await eventually(lambda: workers.ready, timeout=30)
        assert workers.pids != [hanging]


async def test_worker_loading_on_a_busy_machine_is_killed_only_after_the_load_timeout_of_its_own_time(
    config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with layered(config, tmp_path) as (engine, layer):
        os.mkfifo(layer / "hang.toml")  # the load never ends: only the time it is given decides when it is killed
        clock = FakeClock()
        busy = BusyMachine(clock, since=clock.now_ms())
        workers = engine.start_workers(1, clock=clock, waiting=busy.waiting)
        await eventually(lambda: workers.pids and busy.looked)
        loading = workers.pids[0]
        caplog.set_level(logging.WARNING, logger="assistant.suggest.worker")
        await busy.four_minutes(
            lambda: workers.states == ["starting"] and workers.pids == [loading] and running(loading)
        )
        await eventually(lambda: workers.states == ["waiting"] and not running(loading))
        [line] = [r.getMessage() for r in caplog.records if "was not ready" in r.getMessage()]
        assert line.startswith(
            "matching worker 1 was not ready after 60 s of its own time (240 s after it started, 180 s of them waiting"
            " for a processor) and was killed"
        )


async def test_worker_reloading_on_a_busy_machine_is_killed_only_after_the_load_timeout_of_its_own_time(
    config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A reload's load was given 60 s of wall time: at a load average of 32 a sound worker was killed mid-load.
    async with layered(config, tmp_path) as (engine, layer):
        clock = FakeClock()
        busy = BusyMachine(clock)  # busy from the reload's asking on
        workers = engine.start_workers(1, clock=clock, waiting=busy.waiting)
        await eventually(lambda: workers.ready, timeout=30)
        serving = workers.pids[0]
        os.mkfifo(layer / "hang.toml")  # the reload's load never ends: only the time it is given decides
        caplog.set_level(logging.WARNING, logger="assistant.suggest.worker")
        busy.since = clock.now_ms()
        preparing = asyncio.ensure_future(workers.prepare())
        await eventually(lambda: busy.looked)
        await busy.four_minutes(lambda: not preparing.done() and workers.pids == [serving] and running(serving))
        assert await asyncio.wait_for(preparing, 30) == [(1, None)]
        await eventually(lambda: not running(serving))
        # The watchdog's own line, said before the kill (the exit's line, which repeats the reason, may come later)
        [line] = [r.getMessage() for r in caplog.records if r.getMessage().endswith("; a new process loads it")]
        assert line.startswith(
            "matching worker 1 did not load the reloaded library in 60 s of its own time (240 s after it was asked,"
            " 180 s of them waiting for a processor) and was killed"
        )


async def test_worker_stuck_message_matched_here_after_the_timeout_and_worker_replaced(
    engine: SuggestionEngine,
) -> None:
    workers, clock, stuck = await signalled(engine, signal.SIGSTOP)
    try:
        pending = engine.annotate_pipelined(message())
        assert inspect.isawaitable(pending)
        answer = asyncio.ensure_future(pending)
        await eventually(lambda: workers.pending == 1)  # sent, waiting for an answer
        clock.advance(1.9)
        await asyncio.sleep(0)  # one turn of the loop: the watchdog has seen the time
        assert not answer.done()
        clock.advance(0.1)
        expected = engine.annotate(message())
        assert expected is not None and expected.response["suggestions"]
        matched = await answer
        assert matched is not None and matched.response == expected.response
        await eventually(lambda: workers.states == ["waiting"] and not running(stuck))
    finally:
        if running(stuck):
            os.kill(stuck, signal.SIGCONT)
    assert workers.answered == 0
    clock.advance(0.5)
    await eventually(lambda: workers.ready, timeout=30)
    assert workers.pids != [stuck]


async def test_worker_serves_the_reloaded_library(config: Config, tmp_path: Path) -> None:
    async with layered(config, tmp_path, read_here=True) as (engine, layer):
        workers = await started(engine, FakeClock())
        old = workers.pids
        before = (await enrich(engine.annotate_pipelined(message()))).response["suggestions"]
        first = before[0]
        assert workers.answered == 1
        (layer / "shipping.toml").write_text(
            f'[[phrase]]\nid = "shop.ship_soon"\nintent = "{first["intent"]}"\ncode = "{first["code"]}"\n'
            'text = "亲，本店新规：付款后二十四小时内发出"\ntriggers = ["什么时候能发货"]\n',
            encoding="utf-8",
        )
        fresh, problems = engine.prepare()
        assert fresh is not None and problems == [] and fresh.matcher is None  # the workers match: the library alone
        engine.install(fresh)
        # The workers load it in new processes (nothing was prepared in them): the service builds its own matcher of
        # it, answering without suggestions until it is built, then matching here.
        building = engine.annotate_pipelined(message())
        assert not inspect.isawaitable(building)
        assert building is not None and building.response["suggestions_withheld"] == engine_module.WITHHELD
        await eventually(lambda: engine.own.served.matcher is not None, timeout=30)
        meanwhile = engine.annotate_pipelined(message())  # matched here, unless the new process was quicker
        await eventually(lambda: workers.ready and workers.pids != old, timeout=30)
        after = (await enrich(engine.annotate_pipelined(message()))).response
        assert workers.answered == 2 + inspect.isawaitable(meanwhile)
        assert after == (await enrich(meanwhile)).response
        assert "亲，本店新规：付款后二十四小时内发出" in [s["text"] for s in after["suggestions"]]
        assert "亲，本店新规：付款后二十四小时内发出" not in [s["text"] for s in before]


async def test_worker_process_is_started_outside_the_event_loops_thread(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Started from the loop's thread, uvloop forked the whole service while every request waited (300-390 ms
    # for a service of 870 MB), at each start, restart and reload.
    started_in: list[int] = []
    popen = subprocess.Popen

    def recording(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started_in.append(threading.get_ident())
        return popen(*args, **kwargs)

    monkeypatch.setattr(child.subprocess, "Popen", recording)
    db = tmp_path / "t.db"
    engine = SuggestionEngine(config, load_matcher(config), Conversations(db), db)
    try:
        workers = await started(engine, FakeClock())
        assert len(started_in) == 1 and started_in[0] != threading.get_ident()
        assert (await enrich(engine.annotate_pipelined(message()))).response["suggestions"]
        assert workers.answered == 1
    finally:
        await engine.stop_workers()
        engine.conversations.close()
        engine.items.close()


async def test_worker_that_cannot_load_the_library_leaves_the_matching_here(
    config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with layered(config, tmp_path, read_here=True) as (engine, layer):
        (layer / "broken.toml").write_text(
            '[[phrase]]\nid = "shop.half"\n', encoding="utf-8"
        )  # after the service loaded
        workers = engine.start_workers(1, clock=FakeClock())
        await eventually(lambda: workers.states == ["waiting"], timeout=30)
        assert "matching worker 1 could not load the phrase library" in caplog.text
        result = engine.annotate_pipelined(message())
        assert not inspect.isawaitable(result)
        expected = engine.annotate(message())
        assert expected is not None and expected.response["suggestions"]
        assert (await enrich(result)).response == expected.response


async def test_worker_gone_when_the_app_shuts_down(aiohttp_client: Any, config: Config) -> None:
    client = await worker_app(aiohttp_client, config, 2)
    workers = client.app[ENGINE].workers
    ready = await (await client.get("/readyz")).json()
    assert (ready["ready"], ready["matching_workers"]) == (True, ["ready", "ready"])
    pids = workers.pids
    assert len(pids) == 2 and all(running(p) for p in pids)
    await client.close()
    assert workers.states == ["stopped", "stopped"]
    assert not any(running(p) for p in pids)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
async def test_service_with_a_worker_answers_and_its_worker_dies_with_it(tmp_path: Path) -> None:
    service = await Service(ROOT / "config.toml", tmp_path / "s.db", env={"ASSISTANT_WEBHOOK_SECRET": ""}).start()
    try:
        assert service.proc is not None
        await eventually(lambda: "matching worker 1 ready" in service.log.read_text(errors="replace"), timeout=30)
        workers = children(service.proc.pid)
        assert len(workers) == 1
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{service.url}/v1/events", data=body_of(make_event(text="什么时候能发货"))
            ) as resp:
                assert resp.status == 200
                assert (await resp.json())["suggestions"]
        service.kill()  # no clean-up at all: the worker's stdin ends with the service
        await eventually(lambda: not running(workers[0]), timeout=10)
    finally:
        service.stop()


def test_matching_leaves_no_reference_cycles(shipped_matcher: Matcher) -> None:
    """What the worker freezes must not hide garbage: matching a message makes no cycles to collect."""
    lines = (ROOT / "tests/data/intents.tsv").read_text("utf-8").splitlines()
    texts = [line.split("\t", 1)[1] for line in lines if "\t" in line]
    requests = [
        Request(
            id=n,
            text=text,
            ts_ms=60_000 * n,
            history=[(60_000 * n - 1000 * k, texts[(n + k) % len(texts)]) for k in range(n % 4, 0, -1)],
            replies=[60_000 * n - 500] if n % 2 else [],
            unpaid=n % 3 == 0,
            variables={},
            shop="s1",
        )
        for n, text in enumerate(texts[:300])
    ]
    adoption: Counter[str] = Counter()
    gc.collect()
    gc.disable()
    try:
        answered = [answer(shipped_matcher, request, adoption) for request in requests]
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert sum(1 for suggestions, _ in answered if suggestions) > len(requests) // 2


def test_worker_freezes_what_survives_a_collection_of_the_middle_generation() -> None:
    """The worker's caches grow as messages arrive: what survived a middle collection is never walked again."""
    gc.unfreeze()
    gc.disable()  # only the collections below: an automatic one of the middle generation would freeze first
    gc.callbacks.append(worker_main._freeze_survivors)
    try:
        kept = [[i] for i in range(1000)]  # tracked containers that survive
        gc.collect(0)
        assert gc.get_freeze_count() == 0  # a collection of the youngest generation freezes nothing
        gc.collect(1)
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.callbacks.remove(worker_main._freeze_survivors)
        gc.enable()
        gc.unfreeze()


async def test_worker_still_loading_its_library_is_killed_at_the_stop_not_waited_for(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stop during the workers' load (a SIGTERM during the start) closed the loading worker's stdin and waited for
    # it to exit: it reads its stdin only once loaded, so the stop waited for the load (about 11 s at 20,000
    # phrases), or TIMEOUT_S, before killing it. Nothing was sent to it: it is killed at once.
    monkeypatch.setattr(worker_module, "TIMEOUT_S", 3600.0)  # the grace of a worker with requests to finish
    async with layered(config, tmp_path) as (engine, layer):
        os.mkfifo(layer / "hang.toml")  # reading it waits for a writer that never comes: the child's load hangs
        workers = engine.start_workers(1, clock=FakeClock())
        await eventually(lambda: workers.pids)
        loading = workers.pids[0]
        assert workers.states == ["starting"]
        try:
            await asyncio.wait_for(engine.stop_workers(), 30)  # not the hour a worker with requests would get
        finally:
            if running(loading):
                os.kill(loading, signal.SIGKILL)  # not left behind by a stop that failed
        assert not running(loading)
