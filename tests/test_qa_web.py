"""Quality inspection over HTTP: a draft's check, flags in the webhook's answer and the log, the supervisors'
live stream and page, and the service's start with bad rules."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant.app import create_app
from assistant.cli import main
from assistant.config import Config, ConfigError, load_config
from assistant.web.auth import agent_token
from tests.daylog_day import token_config
from tests.helpers import ROOT, SHOP_TZ, body_of, day_of, eventually, live_event, make_app, replace_config
from tests.test_live import Reader

Client = TestClient  # type: ignore[type-arg]
TOKENS = {"ASSISTANT_AGENT_TOKEN": "agent-token", "ASSISTANT_SUPERVISOR_TOKEN": "supervisor-token"}


def logged_flags(db: Path) -> list[tuple[str, list[str]]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT text, qa FROM messages ORDER BY seq").fetchall()
    return [(text, [f["category"] for f in json.loads(qa)] if qa else []) for text, qa in rows]


async def test_qa_check_answers_a_drafts_flags(client: Client) -> None:
    resp = await client.get("/v1/qa/check", params={"side": "agent", "text": "亲，这款是全网最低价了"})
    assert resp.status == 200
    [flag] = (await resp.json())["flags"]
    assert flag == {
        "category": "ad_extreme", "rule": "ad_extreme.price", "severity": "medium", "start": 5, "end": 10,
        "match": "全网最低价", "label": "极限用语",
    }  # fmt: skip
    resp = await client.get("/v1/qa/check", params={"side": "customer", "text": "给差评"})
    assert [f["category"] for f in (await resp.json())["flags"]] == ["risk"]
    resp = await client.get("/v1/qa/check", params={"text": "最快明天到哦亲"})
    assert (await resp.json()) == {"flags": []}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"side": "boss", "text": "x"}, "side"), ({"side": "agent"}, "text"), ({"text": "a" * 5001}, "text")],
)
async def test_qa_check_refuses_bad_queries(client: Client, params: dict[str, str], field: str) -> None:
    resp = await client.get("/v1/qa/check", params=params)
    assert resp.status == 400
    body = await resp.json()
    assert (body["error"], body["field"]) == ("invalid_query", field)


async def test_qa_check_needs_an_agent_token_when_set(aiohttp_client: Any, db_path: Path) -> None:
    config = load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    assert (await client.get("/v1/qa/check", params={"text": "好"})).status == 401
    own = agent_token(config, "小美")
    resp = await client.get("/v1/qa/check", params={"text": "好", "agent": "小美", "token": own})
    assert resp.status == 200


async def test_qa_flags_come_back_from_the_webhook_and_are_logged(client: Client, db_path: Path) -> None:
    agent = live_event(sender="agent", agent="小美", text="加我V信 abc123 给您便宜点")
    resp = await client.post("/v1/events", data=body_of(agent))
    body = await resp.json()
    assert [f["category"] for f in body["qa"]] == ["off_platform"]
    customer = live_event(text="这个什么时候发货？再不发我就投诉了")
    body = await (await client.post("/v1/events", data=body_of(customer))).json()
    assert [f["category"] for f in body["qa"]] == ["risk"]
    assert body["suggestions"]  # the suggestion annotator's work is kept alongside
    clean = live_event(sender="agent", agent="小美", text="亲，今天下午四点前付款当天发出哦")
    assert (await (await client.post("/v1/events", data=body_of(clean))).json())["qa"] == []
    assert logged_flags(db_path) == [
        ("加我V信 abc123 给您便宜点", ["off_platform"]),
        ("这个什么时候发货？再不发我就投诉了", ["risk"]),
        ("亲，今天下午四点前付款当天发出哦", []),
    ]

    def escalations() -> list[tuple[int, str]]:
        with sqlite3.connect(db_path) as conn:
            return conn.execute("SELECT level, escalation FROM qa_alerts").fetchall()

    # The agent's reply after the risk message settles its escalation.
    assert await eventually(lambda: escalations() == [(1, "answered")])


async def test_qa_duplicate_delivery_raises_no_second_alert(client: Client, db_path: Path) -> None:
    event = live_event(text="我要投诉")
    for _ in range(2):
        assert (await client.post("/v1/events", data=body_of(event))).status == 200
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM qa_alerts").fetchone() == (1,)


async def test_qa_recent_lists_flags_and_alerts_newest_first_masked(client: Client) -> None:
    await client.post("/v1/events", data=body_of(live_event(sender="agent", agent="小美", text="跟你说过了")))
    risk = live_event(conversation="c-risk", text="打12315，我手机13812345678")
    await client.post("/v1/events", data=body_of(risk))
    doc = await (await client.get("/v1/qa/recent")).json()
    assert [item["text"][:3] for item in doc["flags"]] == ["打12", "跟你说"]
    assert "13812345678" not in doc["flags"][0]["text"]
    [alert] = doc["alerts"]
    assert alert["conversation"] == "c-risk" and alert["escalation"] == "armed" and alert["deliveries"] == []
    assert alert["link"].startswith(f"/logs/daily?date={day_of(risk)}&shop=shop1&conversation=c-risk")
    assert doc["labels"]["risk"] == "投诉风险"


async def test_qa_recent_orders_one_batch_by_its_messages_time(client: Client) -> None:
    # Alerts of one batch share their creation time: they came back in the order of their ids, not newest first.
    now = datetime.now(SHOP_TZ)
    stamps = {"bag": now - timedelta(seconds=20), "kid": now - timedelta(seconds=40), "shoe": now}
    batch = [
        live_event(conversation=c, ts=stamps[c].isoformat(), text="再不处理我就投诉") for c in ("kid", "bag", "shoe")
    ]
    assert (await client.post("/v1/events", data=body_of(batch))).status == 200
    doc = await (await client.get("/v1/qa/recent")).json()
    assert [a["conversation"] for a in doc["alerts"]] == ["shoe", "bag", "kid"]
    assert [f["conversation"] for f in doc["flags"]] == ["shoe", "bag", "kid"]


async def test_qa_stream_sends_snapshot_then_live_flags_and_alerts(client: Client) -> None:
    resp = await client.get("/v1/qa/stream")
    assert resp.status == 200
    reader = Reader(resp)
    snapshot = await reader.wait_for(lambda e: e.event == "snapshot")
    assert snapshot.data["alerts"] == [] and snapshot.data["flags"] == []
    await client.post("/v1/events", data=body_of(live_event(sender="agent", agent="小美", text="爱买不买")))
    flag = await reader.wait_for(lambda e: e.event == "qa")
    assert (flag.data["agent"], flag.data["flags"][0]["category"]) == ("小美", "rude")
    assert flag.data["link"].startswith("/logs/daily?")
    await client.post("/v1/events", data=body_of(live_event(conversation="c2", text="申请小二介入")))
    alert = await reader.wait_for(lambda e: e.event == "alert")
    assert (alert.data["conversation"], alert.data["level"]) == ("c2", 1)
    resp.close()
    reader.task.cancel()


async def test_qa_panel_snapshot_carries_each_messages_flags(client: Client) -> None:
    await client.post("/v1/events", data=body_of(live_event(sender="agent", agent="agent1", text="明天肯定到")))
    resp = await client.get("/v1/stream", params={"agent": "agent1"})
    reader = Reader(resp)
    snapshot = await reader.wait_for(lambda e: e.event == "snapshot")
    [conversation] = snapshot.data["conversations"]
    [message] = conversation["messages"]
    assert [f["category"] for f in message["qa"]] == ["promise"]
    resp.close()
    reader.task.cancel()


async def test_qa_pages_need_the_supervisor_token(aiohttp_client: Any, db_path: Path) -> None:
    config = load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    for path in ("/qa", "/v1/qa/recent", "/v1/qa/stream"):
        assert (await client.get(path, params={"token": "agent-token"})).status == 401, path
    resp = await client.get("/qa", params={"token": "supervisor-token"})
    assert resp.status == 200 and "质检 · 实时" in await resp.text()


async def test_qa_page_never_writes_its_token_into_the_page_or_its_links(aiohttp_client: Any, db_path: Path) -> None:
    # /qa?token=… wrote the supervisor token into its JSON state and every link into the daily log (the HTML, the
    # snapshot, /v1/qa/recent and the stream): a screenshot, a saved page or a copied link carried it.
    config = load_config(ROOT / "config.toml", env=TOKENS, overrides={"store": {"path": str(db_path)}})
    client = await aiohttp_client(make_app(config))
    await client.post("/v1/events", data=body_of(live_event(conversation="c-risk", text="我要投诉")))
    await client.post("/v1/events", data=body_of(live_event(sender="agent", agent="小美", text="爱买不买")))
    html = await (await client.get("/qa", params={"token": "supervisor-token"})).text()
    assert "supervisor-token" not in html and "/logs/daily?" in html
    bearer = {"Authorization": "Bearer supervisor-token"}
    for params in ({"token": "supervisor-token"}, {}):
        doc = await (await client.get("/v1/qa/recent", params=params, headers=bearer)).json()
        assert doc["alerts"] and doc["flags"] and "supervisor-token" not in json.dumps(doc)
    resp = await client.get("/v1/qa/stream", params={"token": "supervisor-token"})
    reader = Reader(resp)
    snapshot = await reader.wait_for(lambda e: e.event == "snapshot")
    assert snapshot.data["alerts"] and "supervisor-token" not in json.dumps(snapshot.data)
    await client.post("/v1/events", data=body_of(live_event(conversation="c2", text="申请小二介入")))
    alert = await reader.wait_for(lambda e: e.event == "alert")
    assert alert.data["link"].startswith("/logs/daily?") and "token" not in alert.data["link"]
    resp.close()
    reader.task.cancel()


async def test_qa_page_embeds_customer_text_escaped(client: Client) -> None:
    attack = "</script><script>alert(1)</script> 我要投诉"
    await client.post("/v1/events", data=body_of(live_event(text=attack)))
    html = await (await client.get("/qa")).text()
    assert "<script>alert(1)" not in html and "</script><script>" not in html
    assert '<span class="count" id="alert-count">1</span>' in html


async def test_qa_off_inspects_nothing(aiohttp_client: Any, config: Config, db_path: Path) -> None:
    client = await aiohttp_client(make_app(replace_config(config, "qa", enabled=False)))
    body = await (await client.post("/v1/events", data=body_of(live_event(text="我要投诉")))).json()
    assert "qa" not in body
    assert (await client.get("/v1/qa/check", params={"text": "x"})).status == 404
    assert logged_flags(db_path) == [("我要投诉", [])]


def test_qa_bad_rules_stop_the_start(config: Config, tmp_path: Path) -> None:
    layer = tmp_path / "shop-qa.toml"
    layer.write_text('[[rules]]\nid = "rude.x"\ncategory = "rude"\npatterns = ["(oops"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[qa\] rules：.*shop-qa.toml.*不是有效的正则表达式"):
        make_app(replace_config(config, "qa", rules=["qa.toml", str(layer)]))
    layer.write_text('[[rules]]\nid = "rude.x"\ncategory = "rud"\nwordz = ["x"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        make_app(replace_config(config, "qa", rules=["qa.toml", str(layer)]))
    lines = str(caught.value).splitlines()  # one line per problem, as the doc says (they were joined by "; ")
    assert len(lines) == 2 and all(line.startswith(f"[qa] rules：{layer}：rules[0] (rude.x)：") for line in lines)
    with pytest.raises(
        ConfigError,
        match=r"\[qa\] alert_categories：未知的 nope（不是规则中的类别；可用的类别：ad_extreme、off_platform",
    ):
        make_app(replace_config(config, "qa", alert_categories=["nope"]))


async def test_qa_rules_reload_with_the_phrases(aiohttp_client: Any, config: Config, tmp_path: Path) -> None:
    layer = tmp_path / "shop.toml"
    layer.write_text('[[rules]]\nid = "rude.impatient"\nwords = ["磨叽死了"]\n', encoding="utf-8")
    client = await aiohttp_client(make_app(replace_config(config, "qa", rules=["qa.toml", str(layer)])))

    async def categories(text: str) -> list[str]:
        body = await (await client.get("/v1/qa/check", params={"text": text})).json()
        return [f["category"] for f in body["flags"]]

    assert await categories("别磨叽死了") == ["rude"]
    assert await categories("你个老六") == []
    layer.write_text('[[rules]]\nid = "rude.impatient"\nwords = ["磨叽死了", "老六"]\n', encoding="utf-8")
    assert (await client.post("/v1/admin/reload")).status == 200
    assert await categories("你个老六") == ["rude"]
    layer.write_text('[[rules]]\nid = "rude.impatient"\npatterns = ["(oops"]\n', encoding="utf-8")
    resp = await client.post("/v1/admin/reload")
    assert resp.status == 422
    assert any("不是有效的正则表达式" in p for p in (await resp.json())["problems"])
    assert await categories("你个老六") == ["rude"]  # the previous rules keep inspecting


async def test_daily_log_offers_the_reloaded_rules_categories(aiohttp_client: Any, tmp_path: Path) -> None:
    # The daily log's quality filter kept the categories of the rules read at start after every reload.
    layer = tmp_path / "shop.toml"
    layer.write_text('[[rules]]\nid = "rude.impatient"\nwords = ["磨叽死了"]\n', encoding="utf-8")
    config = replace_config(token_config(tmp_path / "q.db"), "qa", rules=["qa.toml", str(layer)])
    client = await aiohttp_client(make_app(config))
    headers = {"Authorization": "Bearer sup-token"}
    option = '<option value="competitor">提及竞品</option>'
    assert option not in await (await client.get("/logs/daily", headers=headers)).text()
    layer.write_text(
        '[categories.competitor]\nlabel = "提及竞品"\nside = "agent"\nseverity = "low"\n\n'
        '[[rules]]\nid = "competitor.names"\ncategory = "competitor"\nwords = ["拼多多"]\n',
        encoding="utf-8",
    )
    assert (await client.post("/v1/admin/reload", headers={"Authorization": "Bearer adm-token"})).status == 200
    assert option in await (await client.get("/logs/daily", headers=headers)).text()


def doc_example_rules() -> str:
    """The shop's rule file of docs/quality.md, as the doc writes it."""
    doc = (ROOT / "docs" / "quality.md").read_text(encoding="utf-8")
    found = re.search(r"`phrases/our-shop-qa.toml`:\n\n```toml\n(.*?)```", doc, re.S)
    assert found is not None
    return found.group(1)


async def test_qa_doc_example_layout_starts_and_reloads(aiohttp_client: Any, config: Config, tmp_path: Path) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    (phrases / "our-shop-qa.toml").write_text(doc_example_rules(), encoding="utf-8")
    config = replace_config(config, "phrases", path=str(phrases), workers=0)
    config = replace_config(config, "qa", rules=["qa.toml", "our-shop-qa.toml"])
    client = await aiohttp_client(create_app(config))  # the phrase library leaves the rule file alone
    body = await (await client.get("/v1/qa/check", params={"text": "我们家是殿堂级的做工"})).json()
    assert [f["category"] for f in body["flags"]] == ["ad_extreme"]
    # The example's exception of every rule applies to every rule (written last, it was the last rule's own).
    body = await (await client.get("/v1/qa/check", params={"text": "活动还剩第一名额哦"})).json()
    assert body["flags"] == []
    resp = await client.post("/v1/admin/reload")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["rules"] == ["qa.toml", "our-shop-qa.toml"]  # the files read, as at start


def test_qa_flags_of_a_masked_message_point_into_the_masked_text() -> None:
    # /v1/qa/recent and the live page gave the masked text with offsets into the raw one: the supervisors'
    # page marked nothing (or other words) in 我电话138****5678，地址…****，再不退款我就投诉你们.
    from assistant.privacy import mask
    from assistant.qa import store as qa_store

    text = "我电话13812345678，地址浙江省杭州市西湖区文三路478号华星时代广场A座1201室，投诉？再不退款我就投诉你们"
    second = text.rindex("投诉")
    flags = [{"category": "risk", "match": "投诉", "start": second, "end": second + 2}]
    (moved,) = qa_store.masked_flags(flags, text)
    shown = mask(text)
    assert shown[moved["start"] : moved["end"]] == "投诉"
    assert moved["start"] == shown.rindex("投诉")  # the same occurrence: the second


def test_qa_flags_of_a_masked_message_show_no_more_than_the_masked_text() -> None:
    # The live views (panel, /qa, /v1/qa/recent, alerts) masked a flag's words alone: 加我qq 11010119900 showed the
    # digits of an ID number the masked message hides whole.
    from assistant.privacy import mask
    from assistant.qa import store as qa_store
    from tests.test_qa_log_report import INSPECTOR

    text = "有事加我qq 110101199003071234 私聊"
    flags = [f.to_json() for f in INSPECTOR.inspect(text, "agent") if f.category == "off_platform"]
    assert flags and any("1101011990" in f["match"] for f in flags)
    shown = mask(text)
    assert "1101011990" not in shown
    for moved in qa_store.masked_flags(flags, text):
        assert "1101011990" not in moved["match"]
        assert shown[moved["start"] : moved["end"]] == moved["match"]


async def test_qa_a_spaced_phone_number_is_masked_in_every_flag_shown(
    client: Client, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The flag showed the whole number it caught (1 3 9 8 8 8 8 8 8 8 8) in the webhook's answer, /v1/qa/recent,
    # the alert, the supervisors' page and the log, while masking hid only numbers written in one run.
    raw, shown = "1 3 9 8 8 8 8 8 8 8 8", "1 3 9 * * * * 8 8 8 8"
    event = live_event(conversation="c-phone", sender="agent", agent="小美", text=f"亲加我微信吧 {raw}")
    answer = await (await client.post("/v1/events", data=body_of(event))).json()
    assert [f["match"] for f in answer["qa"] if f["rule"] == "off_platform.phone"] == [shown]
    doc = await (await client.get("/v1/qa/recent")).json()
    [flagged] = doc["flags"]
    assert flagged["text"] == f"亲加我微信吧 {shown}"
    phone = [f for f in flagged["flags"] if f["rule"] == "off_platform.phone"]
    assert [flagged["text"][f["start"] : f["end"]] for f in phone] == [shown]
    assert raw not in json.dumps(doc, ensure_ascii=False)
    html = await (await client.get("/qa")).text()
    assert shown in html and raw not in html
    assert main(["log", "--db", str(db_path), "--date", day_of(event), "--format", "csv"]) == 0
    [row] = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["text"] == f"亲加我微信吧 {shown}"
    assert f"off_platform:{shown}" in row["qa"] and raw not in row["qa"]
    assert main(["log", "--db", str(db_path), "--date", day_of(event)]) == 0
    assert f"质检 站外引流「{shown}」" in capsys.readouterr().out
