"""POST /v1/events: acceptance, each rejection rule, idempotency, batches."""

from __future__ import annotations

import gzip
import json
import logging
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.config import Config
from assistant.conversations import Conversations
from assistant.signing import sign
from assistant.web.appkeys import ENGINE
from tests.helpers import SECRET, body_of, eventually, make_app, make_event, signed_headers

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture(params=[0, 1], ids=["matched-here", "matching-worker"])
async def matching_client(request: pytest.FixtureRequest, aiohttp_client: Any, config: Config) -> Client:
    """The app matching customer messages itself, and with a matching worker process (once it is ready)."""
    client: Client = await aiohttp_client(make_app(config, workers=request.param))
    if request.param:
        await eventually(lambda: client.app[ENGINE].workers.ready, timeout=30)
    return client


def rows(db_path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, params).fetchall()


async def test_webhook_accepts_message_and_logs_it(matching_client: Client, db_path: Path) -> None:
    event = make_event(text="这件衣服有现货吗")
    resp = await matching_client.post("/v1/events", data=body_of(event))
    assert resp.status == 200
    body = await resp.json()
    assert body["accepted"] is True and body["duplicate"] is False and body["id"] == event["id"]
    assert body["suggestions"] and body["customer_type"]["type"]
    assert rows(db_path, "SELECT id, type FROM events") == [(event["id"], "message")]
    assert rows(db_path, "SELECT sender, text, shop FROM messages") == [("customer", "这件衣服有现货吗", "shop1")]


async def test_webhook_redelivery_is_duplicate_and_logged_once(matching_client: Client, db_path: Path) -> None:
    event = make_event()
    first = await (await matching_client.post("/v1/events", data=body_of(event))).json()
    second = await (await matching_client.post("/v1/events", data=body_of(event))).json()
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert rows(db_path, "SELECT count(*) FROM events") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM messages") == [(1,)]


async def test_webhook_batch_returns_one_result_per_event(matching_client: Client, db_path: Path) -> None:
    events = [make_event(), make_event("order_created", agent="a1"), make_event("order_paid")]
    events.append(dict(events[0]))  # the same id twice inside one batch
    resp = await matching_client.post("/v1/events", data=body_of(events))
    assert resp.status == 200
    body = await resp.json()
    assert [r["id"] for r in body] == [e["id"] for e in events]
    assert [r["duplicate"] for r in body] == [False, False, False, True]
    assert rows(db_path, "SELECT order_id, agent, amount, paid_amount FROM orders") == [("order1", "a1", 99.5, 99.5)]


async def test_webhook_batch_of_customer_messages_answered_in_order(matching_client: Client, db_path: Path) -> None:
    texts = ["在吗", "有现货吗", "什么时候发货", "能便宜点吗", "M码偏大吗", "怎么退货", "发什么快递", "好的谢谢"] * 5
    events = [make_event(text=t, conversation=f"c{n % 4}", ts=1_795_000_000_000 + n) for n, t in enumerate(texts)]
    resp = await matching_client.post("/v1/events", data=body_of(events))
    assert resp.status == 200
    body = await resp.json()
    assert [r["id"] for r in body] == [e["id"] for e in events]
    intents = [r["suggestions"][0]["intent"] if r["suggestions"] else None for r in body]
    assert intents[:8] == intents[8:16] == intents[32:]  # the same text, the same answer, wherever it is
    assert len(set(intents)) >= 6
    workers = matching_client.app[ENGINE].workers
    assert workers is None or workers.answered == len(events)
    assert rows(db_path, "SELECT count(*) FROM messages WHERE intent IS NOT NULL") == [(sum(map(bool, intents)),)]


async def test_webhook_rejects_batch_over_max_batch(client: Client, db_path: Path) -> None:
    events = [make_event() for _ in range(501)]
    resp = await client.post("/v1/events", data=body_of(events))
    assert resp.status == 400
    assert (await resp.json())["field"] == "body"
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_webhook_rejects_invalid_json(client: Client) -> None:
    resp = await client.post("/v1/events", data=b'{"id": ')
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid_body" and body["field"] == "body"


async def test_webhook_rejects_non_object(client: Client) -> None:
    resp = await client.post("/v1/events", data=b'"hello"')
    assert resp.status == 400
    assert (await resp.json())["field"] == "body"


async def test_webhook_rejects_missing_field(client: Client) -> None:
    for field in ("id", "type", "ts", "shop", "conversation", "customer"):
        event = make_event()
        del event[field]
        resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 400, field
        assert (await resp.json())["field"] == field


async def test_webhook_rejects_wrong_types(client: Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"shop": 12}, "shop"),
        ({"text": ["a"]}, "text"),
        ({"ts": True}, "ts"),
        ({"ts": "yesterday"}, "ts"),
        ({"customer": ""}, "customer"),
    ]
    for override, field in cases:
        resp = await client.post("/v1/events", data=body_of(make_event(**override)))
        assert resp.status == 400, override
        assert (await resp.json())["field"] == field


async def test_webhook_rejects_unknown_type(client: Client) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(type="refund_requested")))
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "type" and "refund_requested" in body["message"]


async def test_webhook_rejects_unknown_sender(client: Client) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(sender="bot")))
    assert resp.status == 400
    assert (await resp.json())["field"] == "sender"


async def test_webhook_rejects_agent_message_without_agent(client: Client) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(sender="agent")))
    assert resp.status == 400
    assert (await resp.json())["field"] == "agent"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("agent", "\u202e\u200b"),  # shown blank (or reversed) in every panel, page and workbook
        ("agent", "小王\n阿杰"),
        ("customer", "\u200b\u200b"),
        ("shop", "店\u202e铺"),
    ],
)
async def test_webhook_rejects_names_that_hide(client: Client, db_path: Path, field: str, value: str) -> None:
    event = make_event("conversation_assigned", agent="小王") if field == "agent" else make_event()
    event[field] = value
    resp = await client.post("/v1/events", data=body_of(event))
    assert resp.status == 400
    assert (await resp.json())["field"] == field


async def test_webhook_takes_names_with_emoji_joiners(client: Client) -> None:
    event = make_event("conversation_assigned", agent="👩\u200d💻小美")  # a joiner inside a shown name is fine
    assert (await client.post("/v1/events", data=body_of(event))).status == 200


async def test_webhook_rejects_order_without_valid_amount(client: Client) -> None:
    for amount in (None, -1, "12", 1e13):
        event = make_event("order_created", amount=amount)
        if amount is None:
            event.pop("amount", None)
        resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 400, amount
        assert (await resp.json())["field"] == "amount"
    # A number no float can hold is refused by the JSON decoder, before the schema.
    resp = await client.post(
        "/v1/events", data=body_of(make_event("order_created", amount=1)).replace(b"1}", b"1e999}")
    )
    assert resp.status == 400
    assert (await resp.json())["message"] == "number out of range: 1e999"


async def test_webhook_rejects_text_over_max_text_chars(client: Client, db_path: Path) -> None:
    resp = await client.post("/v1/events", data=body_of(make_event(text="好" * 5001)))
    assert resp.status == 400
    assert (await resp.json())["field"] == "text"
    ok = await client.post("/v1/events", data=body_of(make_event(text="好" * 5000)))
    assert ok.status == 200


async def test_webhook_rejects_body_over_max_body_bytes(client: Client, db_path: Path) -> None:
    events = [make_event(text="x" * 4000) for _ in range(70)]  # > 262,144 bytes
    resp = await client.post("/v1/events", data=body_of(events))
    assert resp.status == 413
    assert (await resp.json())["field"] == "body"
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_webhook_batch_with_one_bad_event_writes_nothing(matching_client: Client, db_path: Path) -> None:
    events = [make_event(), make_event(type="nonsense"), make_event()]
    resp = await matching_client.post("/v1/events", data=body_of(events))
    assert resp.status == 400
    body = await resp.json()
    assert body["field"] == "type" and body["index"] == 1
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_webhook_accepts_valid_signature(signed_client: Client, db_path: Path) -> None:
    body = body_of(make_event())
    resp = await signed_client.post("/v1/events", data=body, headers=signed_headers(body))
    assert resp.status == 200
    assert rows(db_path, "SELECT count(*) FROM events") == [(1,)]


@pytest.mark.parametrize("case", ["upper hex", "upper scheme"])
async def test_webhook_accepts_a_signature_in_either_case(signed_client: Client, db_path: Path, case: str) -> None:
    # Upper-case hex (.NET, Java, `xxd -u`) and "SHA256=" were refused as "signature does not match".
    body = body_of(make_event())
    headers = signed_headers(body)
    scheme, digest = headers["X-Assistant-Signature"].split("=")
    signature = f"{scheme}={digest.upper()}" if case == "upper hex" else f"SHA256={digest}"
    resp = await signed_client.post("/v1/events", data=body, headers={**headers, "X-Assistant-Signature": signature})
    assert resp.status == 200, await resp.text()
    assert rows(db_path, "SELECT count(*) FROM events") == [(1,)]


async def test_webhook_signature_of_a_compressed_body_is_over_its_json(signed_client: Client, db_path: Path) -> None:
    # As docs/events.md says: the JSON is signed, then compressed; a signature over the gzip bytes is refused.
    body = body_of(make_event())
    compressed = gzip.compress(body)
    over_wire = {**signed_headers(compressed), "Content-Encoding": "gzip"}
    resp = await signed_client.post("/v1/events", data=compressed, headers=over_wire)
    assert resp.status == 401
    resp = await signed_client.post(
        "/v1/events", data=compressed, headers={**signed_headers(body), "Content-Encoding": "gzip"}
    )
    assert resp.status == 200, await resp.text()
    assert rows(db_path, "SELECT count(*) FROM events") == [(1,)]


async def test_webhook_rejects_missing_signature(signed_client: Client, db_path: Path) -> None:
    resp = await signed_client.post("/v1/events", data=body_of(make_event()))
    assert resp.status == 401
    assert (await resp.json())["field"] == "X-Assistant-Signature"
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_webhook_rejects_bad_signature(signed_client: Client) -> None:
    body = body_of(make_event())
    headers = signed_headers(body, secret="someone-else")
    resp = await signed_client.post("/v1/events", data=body, headers=headers)
    assert resp.status == 401
    assert "does not match" in (await resp.json())["message"]


async def test_webhook_rejects_tampered_body(signed_client: Client) -> None:
    body = body_of(make_event(text="原文"))
    headers = signed_headers(body)
    resp = await signed_client.post("/v1/events", data=body_of(make_event(text="改过")), headers=headers)
    assert resp.status == 401


async def test_webhook_rejects_stale_timestamp(signed_client: Client) -> None:
    body = body_of(make_event())
    resp = await signed_client.post("/v1/events", data=body, headers=signed_headers(body, ts=int(time.time()) - 301))
    assert resp.status == 401
    assert "tolerance" in (await resp.json())["message"]


async def test_webhook_rejects_future_timestamp(signed_client: Client) -> None:
    body = body_of(make_event())
    resp = await signed_client.post("/v1/events", data=body, headers=signed_headers(body, ts=int(time.time()) + 301))
    assert resp.status == 401


async def test_webhook_rejects_timestamp_not_signed(signed_client: Client) -> None:
    body = body_of(make_event())
    headers = signed_headers(body)
    headers["X-Assistant-Timestamp"] = str(int(headers["X-Assistant-Timestamp"]) + 1)
    resp = await signed_client.post("/v1/events", data=body, headers=headers)
    assert resp.status == 401


@pytest.mark.parametrize("stamp", ["9" * 400, "1" + "0" * 30, "１７９５１４００００", "1_795_140_000", "+1795140000"])
async def test_webhook_timestamp_not_in_ascii_digits_is_a_401_naming_the_timestamp(
    signed_client: Client, db_path: Path, stamp: str
) -> None:
    # int() read 400 digits, whose distance from now overflowed a float (a 500), and full-width digits as a time.
    body = body_of(make_event())
    headers = {**signed_headers(body), "X-Assistant-Timestamp": stamp}
    headers["X-Assistant-Signature"] = sign(SECRET, stamp, body)
    resp = await signed_client.post("/v1/events", data=body, headers=headers)
    assert resp.status == 401, await resp.text()
    assert await resp.json() == {
        "error": "bad_signature",
        "field": "X-Assistant-Timestamp",
        "message": "timestamp is not epoch seconds",
    }
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]
    resp = await signed_client.post("/v1/events", data=body, headers=signed_headers(body))
    assert resp.status == 200


async def test_webhook_a_stale_or_missing_timestamp_is_named_in_the_401(signed_client: Client) -> None:
    body = body_of(make_event())
    stale = signed_headers(body, ts=int(time.time()) - 301)
    missing = {k: v for k, v in signed_headers(body).items() if k != "X-Assistant-Timestamp"}
    for headers in (stale, missing):
        resp = await signed_client.post("/v1/events", data=body, headers=headers)
        assert resp.status == 401
        assert (await resp.json())["field"] == "X-Assistant-Timestamp"


async def test_unknown_route_is_json_404(client: Client) -> None:
    resp = await client.get("/v1/nothing")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


async def test_healthz(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json())["ok"] is True


async def test_webhook_keeps_running_after_garbage(matching_client: Client) -> None:
    for garbage in (b"", b"\xff\xfe", b"[]", b"[1,2]", b"null", b"{}"):
        resp = await matching_client.post("/v1/events", data=garbage)
        assert resp.status == 400, garbage
    resp = await matching_client.post("/v1/events", data=body_of(make_event()))
    assert resp.status == 200


async def test_webhook_mutated_events_get_200_or_named_400_never_500(client: Client, db_path: Path) -> None:
    """Random mutations of valid events (seeded): every answer is 200 or a 400 naming a field."""
    rng = random.Random(20261122)
    junk: list[Any] = [None, True, 0, -1, 1.5, 1e308, "", " ", "\x00", "x" * 300, [], {}, [1], {"a": 1}, "2026-13-40"]
    accepted = logged = 0
    for _ in range(300):
        event = make_event(
            rng.choice(["message", "order_created", "order_paid", "conversation_closed", "suggestion_used"])
        )
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(list(event) + ["extra"])
            if rng.random() < 0.3:
                event.pop(key, None)
            else:
                event[key] = rng.choice(junk)
        resp = await client.post("/v1/events", data=json.dumps(event, ensure_ascii=False).encode())
        body = await resp.json()
        assert resp.status in (200, 400), (event, resp.status, body)
        if resp.status == 400:
            assert body["field"] and body["message"], body
        else:
            accepted += 1
            logged += not body["duplicate"]
    assert 0 < accepted < 300
    assert rows(db_path, "SELECT count(*) FROM events") == [(logged,)]


async def test_webhook_oversized_value_is_never_echoed_whole(
    client: Client, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    huge: list[tuple[str, Any]] = [
        ("ts", "2026-11-20T10:00:00" + "9" * 250_000),
        ("ts", 10**90),
        ("type", "x" * 250_000),
    ]
    for field, value in huge:
        event = make_event()
        event[field] = value
        with caplog.at_level(logging.WARNING):
            resp = await client.post("/v1/events", data=body_of(event))
        assert resp.status == 400 and (await resp.json())["field"] == field
        assert len(await resp.text()) < 500
    assert max(len(r.getMessage()) for r in caplog.records) < 500
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]


async def test_a_customer_message_after_an_order_event_gets_the_after_order_track(
    matching_client: Client, config: Config, db_path: Path
) -> None:
    # The order's own event (not only words such as 收到了) tells the talk track the buyer has ordered, in the
    # service and in a matching worker alike, and again once the conversation is read back from the log.
    types = matching_client.app[ENGINE].matcher.library.customer_types
    ts = 1_795_140_000_000

    async def post(event: dict[str, Any]) -> dict[str, Any]:
        resp = await matching_client.post("/v1/events", data=body_of(event))
        assert resp.status == 200
        return dict(await resp.json())

    first = await post(make_event(text="裤子有黑色吗", ts=ts))
    assert first["customer_type"]["script"] == list(types["newcomer"].script)
    await post(make_event("order_created", ts=ts + 60_000))
    after = await post(make_event(text="怎么拍", ts=ts + 120_000))
    assert (after["customer_type"]["type"], after["customer_type"]["sure"]) == ("newcomer", False)
    assert after["customer_type"]["script"] == list(types["newcomer"].ordered_script)
    other = await post(make_event(text="怎么拍", ts=ts + 120_000, conversation="conv2"))  # no order there
    assert other["customer_type"]["script"] == list(types["newcomer"].script)
    rebuilt = Conversations(db_path)
    try:
        assert rebuilt.get("shop1", "conv1").ordered and not rebuilt.get("shop1", "conv2").ordered
    finally:
        rebuilt.close()
