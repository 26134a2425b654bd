"""Suggestions through HTTP: the webhook response, what is logged, /v1/suggest, search and reload."""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import sqlite3
import weakref
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.cli import main
from assistant.config import Config, load_config
from tests.helpers import ROOT, body_of, exchange, make_app, make_event, replace_config

Client = TestClient  # type: ignore[type-arg]


async def test_customer_message_response_has_suggestions_and_type(client: Client, db_path: Path) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(text="请问什么时候发货呀")))
    body = await resp.json()
    assert body["suggestions"], body
    top = body["suggestions"][0]
    assert top["intent"] == "shipping_time"
    assert set(top) == {"phrase_id", "intent", "code", "text", "score", "trigger", "confidence", "evidence"}
    assert 0.0 < top["confidence"] <= 1.0 and top["evidence"]
    assert body["customer_type"]["type"] == "newcomer"
    with sqlite3.connect(db_path) as conn:
        intent, logged = conn.execute("SELECT intent, suggestions FROM messages").fetchone()
    assert intent == "shipping_time"
    assert [s["phrase_id"] for s in json.loads(logged)] == [s["phrase_id"] for s in body["suggestions"]]


async def test_agent_message_response_has_no_suggestions(client: Client) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(sender="agent", agent="小美", text="亲，在的")))
    body = await resp.json()
    assert "suggestions" not in body and body["accepted"] is True


async def test_customer_type_builds_over_the_conversation(client: Client) -> None:
    texts = ["这个多少钱", "能便宜点吗", "再便宜一点嘛 少个零头"]
    body: dict[str, Any] = {}
    for i, text in enumerate(texts):
        resp = await client.post("/v1/events", data=body_of(make_event(text=text, ts=1_795_140_000_000 + i * 60_000)))
        body = await resp.json()
    assert body["customer_type"]["type"] == "bargainer"
    assert body["customer_type"]["evidence"]


async def test_duplicate_delivery_returns_no_new_suggestions(client: Client) -> None:
    event = make_event(text="有发票吗")
    await client.post("/v1/events", data=body_of(event))
    again = await (await client.post("/v1/events", data=body_of(event))).json()
    assert again["duplicate"] is True and "suggestions" not in again


async def test_get_suggest_returns_same_shape(client: Client) -> None:
    resp = await client.get("/v1/suggest", params={"text": "可以开发票吗"})
    assert resp.status == 200
    body = await resp.json()
    assert body["suggestions"][0]["intent"] == "invoice"
    assert body["customer_type"]["type"] == "newcomer"


async def test_get_suggest_requires_text(client: Client) -> None:
    resp = await client.get("/v1/suggest")
    assert resp.status == 400
    assert (await resp.json())["field"] == "text"


async def test_get_suggest_survives_odd_text(client: Client) -> None:
    for text in ("", "😀😀😀", "\x01\x02", "a" * 4000, "zfb能付吗？？？"):
        resp = await client.get("/v1/suggest", params={"text": text})
        assert resp.status == 200, text
        assert isinstance((await resp.json())["suggestions"], list)


async def test_phrase_search_finds_by_code(client: Client) -> None:
    resp = await client.get("/v1/phrases/search", params={"q": "fp"})
    results = (await resp.json())["results"]
    assert results and any(r["intent"] == "invoice" for r in results)


def _library_copy(tmp_path: Path) -> Path:
    target = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", target)
    return target


def _config_with_library(db_path: Path, library: Path, **env: str) -> Config:
    return load_config(
        ROOT / "config.toml",
        env=env,
        overrides={"store": {"path": str(db_path)}, "phrases": {"path": str(library)}},
    )


async def _reloading(aiohttp_client: Any, tmp_path: Path) -> tuple[TestClient, Path]:  # type: ignore[type-arg]
    """A service on a copy of the shipped library, which the admin token `adm` may reload; and the copy."""
    library = _library_copy(tmp_path)
    config = _config_with_library(tmp_path / "r.db", library, ASSISTANT_ADMIN_TOKEN="adm")
    return await aiohttp_client(make_app(config)), library


async def test_reload_swaps_library_and_bad_library_keeps_old(aiohttp_client: Any, tmp_path: Path) -> None:
    client, library = await _reloading(aiohttp_client, tmp_path)
    headers = {"Authorization": "Bearer adm"}
    extra = library / "zz_extra.toml"
    extra.write_text(
        'group = "测试"\n[[phrase]]\nid = "invoice.test_reload"\nintent = "invoice"\ncode = "zzfp"\n'
        'text = "亲，电子发票会在确认收货后自动开具发送到您的邮箱哦~"\ntriggers = ["斑马发票测试"]\n',
        encoding="utf-8",
    )
    resp = await client.post("/v1/admin/reload", headers=headers)
    assert resp.status == 200 and (await resp.json())["reloaded"] is True
    found = await (await client.get("/v1/suggest", params={"text": "斑马发票测试"}, headers=headers)).json()
    assert found["suggestions"][0]["phrase_id"] == "invoice.test_reload"
    extra.write_text(
        extra.read_text(encoding="utf-8").replace("{{", "").replace("自动开具", "{{ nosuchvar }}"), encoding="utf-8"
    )
    bad = await client.post("/v1/admin/reload", headers=headers)
    assert bad.status == 422
    problems = (await bad.json())["problems"]
    assert any("invoice.test_reload" in p and "nosuchvar" in p for p in problems)
    still = await (await client.get("/v1/suggest", params={"text": "斑马发票测试"}, headers=headers)).json()
    assert still["suggestions"][0]["phrase_id"] == "invoice.test_reload"


async def test_reload_is_both_or_neither(aiohttp_client: Any, tmp_path: Path) -> None:
    # A 422 once hid a half-done reload: the phrases swapped while the quality rules beside them failed.
    client, library = await _reloading(aiohttp_client, tmp_path)
    headers = {"Authorization": "Bearer adm"}
    pricing = library / "pricing.toml"
    old_text = "亲，真的很抱歉哦，我们的价格是实实在在的"
    assert old_text in pricing.read_text(encoding="utf-8")
    pricing.write_text(pricing.read_text(encoding="utf-8").replace(old_text, "亲，新的议价话术"), encoding="utf-8")
    rules = library / "qa.toml"
    good_rules = rules.read_text(encoding="utf-8")
    rules.write_text(good_rules + "\n[[broken\n", encoding="utf-8")

    async def first_text() -> str:
        found = await (await client.get("/v1/suggest", params={"text": "能便宜点吗"}, headers=headers)).json()
        return str(found["suggestions"][0]["text"])

    bad = await client.post("/v1/admin/reload", headers=headers)
    assert bad.status == 422 and (await bad.json())["reloaded"] is False
    assert any("qa.toml" in p for p in (await bad.json())["problems"])
    assert (await first_text()).startswith(old_text)  # neither swapped
    rules.write_text(good_rules, encoding="utf-8")
    assert (await client.post("/v1/admin/reload", headers=headers)).status == 200
    assert (await first_text()).startswith("亲，新的议价话术")


async def test_reload_refuses_a_scorer_that_cannot_be_read(
    aiohttp_client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from assistant.cli import main
    from assistant.web.appkeys import ENGINE

    client, library = await _reloading(aiohttp_client, tmp_path)
    scorer = library / "scorer.npz"
    scorer.write_bytes(scorer.read_bytes()[:1000])  # a copy cut short
    resp = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm"})
    assert resp.status == 422
    assert any("scorer.npz" in p for p in (await resp.json())["problems"])
    assert client.app[ENGINE].matcher.scorer is not None  # the last good one keeps scoring
    assert main(["phrases", "check", "--phrases", str(library)]) == 1
    assert "scorer.npz" in capsys.readouterr().out


async def test_reload_prepares_the_library_while_the_loop_answers(aiohttp_client: Any, tmp_path: Path) -> None:
    # A reload read and prepared the library on the event loop: every request waited seconds meanwhile.
    from assistant.web.appkeys import ENGINE

    client, _ = await _reloading(aiohttp_client, tmp_path)
    engine = client.app[ENGINE]
    ticks = 0
    seen: list[tuple[int, int]] = []  # the loop's ticks when each preparation began and ended
    real_prepare = engine.prepare

    def prepare() -> Any:
        began = ticks
        try:
            return real_prepare()
        finally:
            seen.append((began, ticks))

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    engine.prepare = prepare  # type: ignore[method-assign]
    ticker = asyncio.create_task(tick())
    try:
        resp = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm"})
        assert resp.status == 200
    finally:
        ticker.cancel()
    [(began, ended)] = seen
    assert ended > began  # the loop ran other work while the library loaded


async def test_reload_frees_the_replaced_library_without_collecting_the_frozen_heap(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # A reload unfroze the served heap and collected all of it to free the replaced library's reference cycles:
    # every request waited meanwhile (0.5-1.2 s at 20,000 conversations on a loaded 2-core machine).
    from assistant.app import create_app
    from assistant.web.appkeys import ENGINE
    from assistant.web.server import freeze_heap, thaw_heap

    config = _config_with_library(tmp_path / "r.db", _library_copy(tmp_path), ASSISTANT_ADMIN_TOKEN="adm")
    client = await aiohttp_client(create_app(replace_config(config, "phrases", workers=0)))  # its own library
    replaced = weakref.ref(client.app[ENGINE].matcher.library)
    full: list[dict[str, int]] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(info)

    thresholds = gc.get_threshold()
    gc.collect()
    freeze_heap()  # as a served process's heap is
    gc.disable()  # only reference counting frees anything meanwhile
    gc.callbacks.append(record)
    try:
        resp = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm"})
        assert resp.status == 200
        assert replaced() is None  # the replaced library is freed ...
        assert full == []  # ... and the heap was not collected whole for it
    finally:
        gc.callbacks.remove(record)
        gc.enable()
        thaw_heap()
        gc.set_threshold(*thresholds)


async def test_reload_builds_the_new_library_with_full_collections_held_off(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # The build's new objects (millions at 20,000 phrases) made the collector walk them all two or three times
    # per reload, 0.4-1.2 s each with every request waiting; the new library is frozen once installed instead.
    from assistant.app import create_app
    from assistant.web.appkeys import ENGINE
    from assistant.web.server import HELD_MIDDLE, HELD_OFF, freeze_heap, thaw_heap

    config = _config_with_library(tmp_path / "r.db", _library_copy(tmp_path), ASSISTANT_ADMIN_TOKEN="adm")
    client = await aiohttp_client(create_app(replace_config(config, "phrases", workers=0)))
    engine = client.app[ENGINE]
    real_prepare = engine.prepare
    during: list[tuple[int, int, int]] = []

    def prepare() -> Any:
        during.append(gc.get_threshold())
        return real_prepare()

    engine.prepare = prepare  # type: ignore[method-assign]
    thresholds = gc.get_threshold()
    freeze_heap()  # as a served process's heap is
    try:
        served = gc.get_threshold()
        resp = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm"})
        assert resp.status == 200
        # Young collections as usual; middle ones after every other young one: each walked all the build had made
        # since the last, up to 0.4 s after ten young ones.
        assert during == [(served[0], HELD_MIDDLE, HELD_OFF)]
        assert gc.get_threshold() == served  # and full ones again once the new library is frozen
        (tmp_path / "phrases" / "broken.toml").write_text("[[phrase]]\nid = ", encoding="utf-8")
        resp = await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm"})
        assert resp.status == 422 and len(during) == 2
        assert gc.get_threshold() == served  # a refused reload gives them back too
    finally:
        thaw_heap()
        gc.set_threshold(*thresholds)


async def test_reloads_asked_together_run_one_after_the_other(aiohttp_client: Any, tmp_path: Path) -> None:
    from assistant.web.appkeys import ENGINE

    client, _ = await _reloading(aiohttp_client, tmp_path)
    engine = client.app[ENGINE]
    running: list[int] = []
    most = 0
    real_prepare = engine.prepare

    def prepare() -> Any:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        try:
            return real_prepare()
        finally:
            running.pop()

    engine.prepare = prepare  # type: ignore[method-assign]
    headers = {"Authorization": "Bearer adm"}
    answers = await asyncio.gather(*(client.post("/v1/admin/reload", headers=headers) for _ in range(3)))
    assert [r.status for r in answers] == [200, 200, 200]
    assert most == 1  # never two libraries loading at once, nor one installed in the middle of another's


async def test_reload_requires_admin_token(aiohttp_client: Any, tmp_path: Path) -> None:
    config = _config_with_library(tmp_path / "r.db", ROOT / "phrases", ASSISTANT_ADMIN_TOKEN="adm")
    client = await aiohttp_client(make_app(config))
    assert (await client.post("/v1/admin/reload")).status == 401
    assert (await client.post("/v1/admin/reload", headers={"Authorization": "Bearer nope"})).status == 401


async def test_cli_json_is_what_get_suggest_returns(
    client: Client, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`assistant suggest --json` answers as the service does: the same customer type, context and order."""
    used = make_event("suggestion_used", id="used1", shop="shop1", phrase_id="payment.safe")
    assert (await client.post("/v1/events", data=body_of(used))).status == 200
    asked = [
        ("可以货到付款吗", ""),
        ("可以货到付款吗", "shop1"),
        ("敏感肌能用吗", ""),
        ("太贵了 再便宜点 不降我就去别家了", ""),
        ("急用 今天能发吗", ""),
        ("第一次买 有新人券吗", ""),
    ]
    for text, shop in asked:
        served = await (await client.get("/v1/suggest", params={"text": text, "shop": shop})).json()
        options = ["--config", str(ROOT / "config.toml"), "--db", str(db_path), *(["--shop", shop] if shop else [])]
        assert main(["suggest", text, "--json", *options]) == 0
        assert json.loads(capsys.readouterr().out) == served, text


@pytest.mark.parametrize(
    ("route", "text", "problem"),
    [
        ("/v1/suggest", "%D4%DA%C2%F0", "is not percent-encoded UTF-8"),  # 在吗 in GBK
        ("/v1/suggest", "%ZZ", "starts no %XX escape"),
        ("/v1/suggest", "a%00b", "NUL"),
        ("/v1/suggest", "%E5%9C%A8%E5", "is not percent-encoded UTF-8"),  # cut inside a character
        ("/v1/qa/check", "%D4%DA%C2%F0", "is not percent-encoded UTF-8"),
    ],
)
async def test_suggest_text_that_is_not_utf8_is_a_400_naming_it(
    client: Client, route: str, text: str, problem: str
) -> None:
    # Each was answered 200 with no suggestion, as if the buyer had written nothing useful.
    assert client.server.port is not None
    raw = f"GET {route}?shop=s1&text={text} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, _, body = await exchange(client.server.port, raw)
    assert status == 400, body
    answer = json.loads(body)
    assert (answer["error"], answer["field"]) == ("invalid_query", "text")
    assert problem in answer["message"]


async def test_suggest_text_in_percent_encoded_utf8_is_read(client: Client) -> None:
    assert client.server.port is not None
    raw = b"GET /v1/suggest?text=%E4%BB%80%E4%B9%88%E6%97%B6%E5%80%99+%E5%8F%91%E8%B4%A7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _, body = await exchange(client.server.port, raw)
    assert status == 200, body
    assert json.loads(body)["suggestions"][0]["intent"] == "shipping_time"


async def test_suggest_asks_for_an_agent_token_once_tokens_are_set(aiohttp_client: Any, tmp_path: Path) -> None:
    # A conversation's context (what its buyer said, the type the buyer seems) was open to anyone who could reach
    # the port while every other agent route asked for a token.
    env = {"ASSISTANT_AGENT_TOKEN": "agt", "ASSISTANT_ADMIN_TOKEN": "adm"}
    config = load_config(ROOT / "config.toml", env=env, overrides={"store": {"path": str(tmp_path / "t.db")}})
    client = await aiohttp_client(make_app(config))
    params = {"text": "能便宜点吗", "shop": "shop1", "conversation": "c1"}
    resp = await client.get("/v1/suggest", params=params)
    assert resp.status == 401 and (await resp.json())["field"] == "token"
    for token in ("agt", "adm"):  # the agent's, or a stronger role's
        resp = await client.get("/v1/suggest", params=params, headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200 and (await resp.json())["suggestions"]
