"""Answers from the catalog over the webhook: sizes from the chart, facts, the conversation's item, the panel."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import store
from assistant.catalog import measures
from assistant.catalog.importer import import_files
from assistant.config import Config, ConfigError, load_config
from assistant.signing import sign
from tests.catalog_data import HOODIE, ITEMS_HEADER, TSHIRT, say, top, tshirt_files, write_csv
from tests.helpers import BACKENDS, ROOT, body_of, make_app, make_event, replace_config

Client = TestClient  # type: ignore[type-arg]
NO_CHART = "600000000003"
NO_FABRIC = "600000000004"
# (height cm, weight 斤, the size the T-shirt's chart gives): inside rows, disagreeing measures, shared boundaries.
CASES = [
    (153, 85, "S"), (156, 90, "S"), (160, 100, "M"), (163, 105, "M"), (168, 115, "L"), (170, 120, "L"),
    (175, 130, "XL"), (176, 135, "XL"), (180, 150, "2XL"), (183, 145, "2XL"),
    (160, 120, "L"), (175, 115, "L"),  # height and weight disagree: the weight decides
    (165, 110, "L"), (158, 95, "M"),  # on the boundary of two rows for both: the larger size
]  # fmt: skip
_CN = "零一二三四五六七八九"


def cn_number(n: int) -> str:
    """A number as buyers write it in Chinese characters: 一百一十, 九十五, 一百零五."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    out = f"{_CN[hundreds]}百" if hundreds else ""
    if tens:
        out += f"{_CN[tens]}十"
    elif hundreds and units:
        out += "零"
    return out + (_CN[units] if units else "")


def height_forms(h: int) -> list[tuple[str, bool]]:
    """(text, written without a unit) for every way a buyer writes a height."""
    metres = f"{_CN[h // 100]}米{''.join(_CN[int(d)] for d in str(h % 100).zfill(2))}"
    return [
        (f"{h}", True), (f"{h}cm", False), (f"1米{h % 100:02d}", False), (f"{h / 100:.2f}m", False),
        (metres, False), (f"{h}公分", False), (f"身高{h}", False),
    ]  # fmt: skip


def weight_forms(w: int) -> list[tuple[str, bool]]:
    kg = f"{w / 2:g}"
    return [
        (f"{w}斤", False), (f"{cn_number(w)}斤", False), (f"{kg}kg", False), (f"{kg}公斤", False),
        (f"体重{w}", False), (f"{w}", True),
    ]  # fmt: skip


SENTENCES: list[Callable[[str, str], str]] = [
    lambda h, w: f"{h} {w}穿什么码",
    lambda h, w: f"{h}，{w}，选哪个码",
    lambda h, w: f"我{h} {w} 拿多大的合适",
    lambda h, w: f"亲 {h}/{w} 穿几码",
]


def catalog_db(tmp: Path, db_path: store.Location, extra: bool = True) -> None:
    files = tshirt_files(tmp)
    if extra:
        rows = [(NO_CHART, "亚麻衬衫", "100%亚麻", "", "", ""), (NO_FABRIC, "帆布包", "", "浙江义乌", "", "")]
        files.append(write_csv(tmp / "more.csv", ITEMS_HEADER, rows))
    conn = store.connect(db_path)
    try:
        assert import_files(conn, files).written
    finally:
        conn.close()


@pytest.fixture
async def shop(aiohttp_client: Any, config: Config, tmp_path: Path, db_path: Path) -> Client:
    """The service with the T-shirt's item list and size chart imported."""
    catalog_db(tmp_path, db_path)
    return await aiohttp_client(make_app(config))


async def test_size_questions_get_the_charts_size_in_the_top_suggestion(shop: Client) -> None:
    asked, misses = 0, []
    for n, (h, w, size) in enumerate(CASES):
        for i, (height, bare_h) in enumerate(height_forms(h)):
            for j, (weight, bare_w) in enumerate(weight_forms(w)):
                if not (bare_h and bare_w) and (i + j) % 3 == 0:
                    text = f"{weight} {height}穿什么码"  # weight first, now and then, when a unit tells them apart
                else:
                    text = SENTENCES[(i + j) % len(SENTENCES)](height, weight)
                body = await say(shop, text, f"size-{n}-{i}-{j}", item=TSHIRT)
                asked += 1
                if f"建议拿{size}码" not in top(body)["text"]:
                    misses.append((text, size, top(body)["text"]))
    assert asked == len(CASES) * 7 * 6
    assert len(misses) <= 0.05 * asked, misses
    assert not misses  # on this chart every form is read: a miss is a regression worth seeing


async def test_size_answer_says_measures_and_size(shop: Client) -> None:
    body = await say(shop, "165 110斤穿什么码", "c1", item=TSHIRT)
    assert top(body)["text"] == "亲，165cm/110斤建议拿L码哦~"
    assert top(body)["phrase_id"] == "catalog.size" and top(body)["intent"] == "size_advice"
    assert body["item"] == {
        "id": TSHIRT,
        "title": "纯棉圆领短袖T恤 男女同款",
        "facts": [
            {"name": "身高", "value": "165cm"},
            {"name": "体重", "value": "110斤"},
            {"name": "尺码", "value": "L（身高165-172cm，体重110-125斤）"},
        ],
    }
    assert len(body["suggestions"]) == 3  # the library's phrases follow


async def test_size_over_two_messages(shop: Client) -> None:
    first = await say(shop, "我身高一米六穿什么码", "two", item=TSHIRT)
    assert top(first)["phrase_id"] == "catalog.ask_weight"
    assert top(first)["text"].startswith("亲，160cm收到啦~") and "体重" in top(first)["text"]
    second = await say(shop, "一百斤", "two")  # the item is remembered
    assert top(second)["text"] == "亲，160cm/100斤建议拿M码哦~"


async def test_size_asks_for_the_height_when_only_the_weight_is_known(shop: Client) -> None:
    first = await say(shop, "55kg穿多大", "h", item=TSHIRT)
    assert top(first)["phrase_id"] == "catalog.ask_height" and "身高" in top(first)["text"]
    assert top(await say(shop, "172", "h"))["text"] == "亲，172cm/110斤建议拿L码哦~"


async def test_size_question_without_measures_keeps_the_librarys_phrase(shop: Client) -> None:
    body = await say(shop, "这件穿什么码", "none", item=TSHIRT)
    assert top(body)["phrase_id"].startswith("size_advice.")


async def test_size_without_a_chart_keeps_the_generic_phrase(shop: Client) -> None:
    body = await say(shop, "165 110斤穿什么码", "nochart", item=NO_CHART)
    assert top(body)["phrase_id"].startswith("size_advice.")
    assert all(not s["phrase_id"].startswith("catalog.") for s in body["suggestions"])
    assert body["item"] == {"id": NO_CHART, "title": "亚麻衬衫", "facts": []}


async def test_size_beyond_the_chart_says_the_chart_has_no_size(shop: Client, tmp_path: Path, db_path: Path) -> None:
    # 身高165 体重240斤 got "我对照尺码表帮您看了，您先按常规对应的码数选" (a library phrase) on a chart up to 160斤
    body = await say(shop, "身高165 体重240斤穿什么码", "big", item=TSHIRT)
    assert top(body)["text"] == (
        "亲，165cm/240斤超出了这款尺码表的范围（身高150-185cm，体重80-160斤），这款可能没有合适您的码，建议看看店里其他款哦~"
    )
    assert top(body)["phrase_id"] == "catalog.no_size"
    assert body["item"]["facts"][-1] == {"name": "尺码", "value": "无（尺码表：身高150-185cm，体重80-160斤）"}
    assert not [s for s in body["suggestions"] if s["intent"] == "size_advice" and s is not top(body)]
    one = write_csv(tmp_path / "one.csv", ("商品ID", "尺码", "体重"), [(NO_CHART, "均码", "80-130")])
    conn = store.connect(db_path)
    assert import_files(conn, [one]).written
    conn.close()
    body = await say(shop, "170 150斤穿什么码", "onesize", item=NO_CHART)
    assert top(body)["phrase_id"] == "catalog.no_size" and "体重80-130斤" in top(body)["text"]
    assert all("对照尺码表帮您看了" not in s["text"] for s in body["suggestions"])


async def test_size_with_a_blank_weight_in_the_chart_skips_no_size(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: Path
) -> None:
    rows = [("800000000002", "M", "160", "50-60kg"), ("800000000002", "L", "165-175", ""), ("800000000002", "XL", "170-180", "70-80kg")]  # fmt: skip
    files = [
        write_csv(tmp_path / "items.csv", ITEMS_HEADER, [("800000000002", "休闲裤", "", "", "", "")]),
        write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", "身高", "体重"), rows),
    ]
    conn = store.connect(db_path)
    assert import_files(conn, files).written
    conn.close()
    client = await aiohttp_client(make_app(config))
    assert top(await say(client, "162 122斤", "b1", item="800000000002"))["text"] == "亲，162cm/122斤建议拿L码哦~"
    body = await say(client, "168 130斤", "b2", item="800000000002")
    assert top(body)["text"] == "亲，168cm/130斤建议拿L码哦~"
    assert body["item"]["facts"][-1] == {"name": "尺码", "value": "L（身高165-175cm）"}


async def test_size_from_a_shared_chart(shop: Client) -> None:
    body = await say(shop, "170 120斤穿什么码", "hoodie", item=HOODIE)
    assert top(body)["text"] == "亲，170cm/120斤建议拿L码哦~"


async def test_material_question_gets_the_catalogs_material(shop: Client) -> None:
    body = await say(shop, "这件是什么面料的", "fabric", item=TSHIRT)
    assert top(body)["text"] == "亲，这款面料是95%棉 5%氨纶哦~"
    assert (top(body)["phrase_id"], top(body)["intent"]) == ("catalog.fact", "product_info")
    assert body["item"]["facts"] == [{"name": "面料", "value": "95%棉 5%氨纶"}]


async def test_fact_questions_by_other_words(shop: Client) -> None:
    assert top(await say(shop, "什么材质的？", "f1", item=TSHIRT))["text"] == "亲，这款面料是95%棉 5%氨纶哦~"
    assert top(await say(shop, "哪里产的", "f2", item=TSHIRT))["text"] == "亲，这款产地是广东广州哦~"
    both = await say(shop, "面料是什么 产地在哪", "f3", item=TSHIRT)
    assert top(both)["text"] == "亲，这款面料是95%棉 5%氨纶，产地是广东广州哦~"


async def test_weight_questions_get_the_items_weight(shop: Client, tmp_path: Path, db_path: Path) -> None:
    # 多重, 包多重啊 and 有多重 got the library's 详情页的参数表里都有, though 重量 is a fact of the item
    rows = [("700000000101", "通勤托特包", "520g", ""), ("700000000201", "保湿面霜", "", "50g")]
    path = write_csv(tmp_path / "weights.csv", ("商品ID", "标题", "重量", "净含量"), rows)
    conn = store.connect(db_path)
    assert import_files(conn, [path]).written
    conn.close()
    for n, text in enumerate(["多重", "包多重啊", "有多重", "重量多少", "这个有多沉"]):
        assert top(await say(shop, text, f"weight-{n}", item="700000000101"))["text"] == "亲，这款重量是520g哦~", text
    assert top(await say(shop, "多重", "net", item="700000000201"))["text"] == "亲，这款净含量是50g哦~"


PRESALE = "600000000005"


async def test_shipping_questions_get_the_items_shipping_time(shop: Client, tmp_path: Path, db_path: Path) -> None:
    presale = write_csv(tmp_path / "presale.csv", ("商品ID", "标题", "发货时间"), [(PRESALE, "羊绒大衣", "预售 付款后15天内发货")])  # fmt: skip
    conn = store.connect(db_path)
    assert import_files(conn, [presale]).written
    conn.close()
    for n, text in enumerate(["多久发货", "什么时候发货", "几天能发货", "发货时间", "今天能发货吗"]):
        body = await say(shop, text, f"ship-{n}", item=PRESALE)
        assert top(body)["text"] == "亲，这款发货时间是预售 付款后15天内发货哦~", text
        # No library phrase of shipping time beside it: they promise 48 hours or today to a presale item.
        assert not [s["text"] for s in body["suggestions"][1:] if s["intent"] == "shipping_time"], text
        plain = await say(shop, text, f"ship-plain-{n}", item=NO_CHART)  # no 发货时间: the library's phrase
        assert top(plain)["phrase_id"].startswith("shipping_time."), text


async def test_fit_questions_get_the_items_fit(shop: Client) -> None:
    for n, text in enumerate(["我平时穿M这个要拿大一码吗", "偏大还是偏小", "这个偏大吗", "偏小吗", "尺码准吗"]):
        body = await say(shop, text, f"fit-{n}", item=TSHIRT)  # 版型 宽松
        assert top(body)["text"] == "亲，这款版型是宽松哦~", text
        assert body["item"]["facts"] == [{"name": "版型", "value": "宽松"}]
        plain = await say(shop, text, f"fit-plain-{n}", item=HOODIE)  # no 版型: the library's phrase
        assert top(plain)["phrase_id"] != "catalog.fact", text


async def test_a_fact_is_given_only_to_a_question_it_answers(shop: Client) -> None:
    for n, text in enumerate(["面料舒服吗", "面料会缩水吗", "会缩水吗", "这个面料起球吗？"]):
        body = await say(shop, text, f"other-{n}", item=HOODIE)
        assert all(s["phrase_id"] != "catalog.fact" for s in body.get("suggestions", [])), text
    for n, text in enumerate(["面料是棉的吗", "面料呢", "纯棉吗", "面料怎么样"]):
        body = await say(shop, text, f"asked-{n}", item=HOODIE)
        assert top(body)["text"] == "亲，这款面料是80%棉 20%聚酯纤维哦~", text


async def test_fact_missing_keeps_the_generic_phrase(shop: Client) -> None:
    body = await say(shop, "这件是什么面料的", "nofabric", item=NO_FABRIC)
    assert top(body)["intent"] == "product_info" and top(body)["phrase_id"] != "catalog.fact"


async def test_a_remark_is_not_a_question(shop: Client) -> None:
    body = await say(shop, "面料摸着挺舒服", "remark", item=TSHIRT)
    assert all(s["phrase_id"] != "catalog.fact" for s in body.get("suggestions", []))


async def test_a_phrase_for_one_kind_of_goods_fits_when_the_item_is_of_that_kind(shop: Client) -> None:
    """The item's title speaks of its goods: a clothing phrase (cp17, `goods`) answers about the T-shirt only."""
    codes = [s["code"] for s in (await say(shop, "会掉色吗", "plain"))["suggestions"]]
    assert "cp17" not in codes
    assert top(await say(shop, "会掉色吗", "tshirt", item=TSHIRT))["code"] == "cp17"


async def test_unknown_item_and_no_item_answer_as_today(shop: Client, client: Client) -> None:
    unknown = await say(shop, "这件是什么面料的", "unknown", item="999999999")
    assert top(unknown)["phrase_id"] != "catalog.fact"
    assert unknown["item"] == {"id": "999999999", "title": None, "facts": []}
    plain = await say(shop, "这件是什么面料的", "plain")
    assert "item" not in plain and top(plain)["phrase_id"] != "catalog.fact"


async def test_link_in_a_message_attaches_the_item(shop: Client) -> None:
    link = f"https://item.taobao.com/item.htm?spm=a1z10.1&id={TSHIRT}"
    first = await say(shop, f"{link} 这个还有吗", "link")
    assert first["item"]["id"] == TSHIRT
    assert top(await say(shop, "什么面料", "link"))["text"] == "亲，这款面料是95%棉 5%氨纶哦~"


async def test_agents_link_attaches_the_item(shop: Client) -> None:
    link = f"https://detail.tmall.com/item.htm?id={HOODIE}"
    await say(shop, f"亲，推荐这款 {link}", "agent-link", sender="agent", agent="小美")
    assert (await say(shop, "什么面料", "agent-link"))["item"]["id"] == HOODIE


async def test_last_item_wins(shop: Client) -> None:
    await say(shop, "在吗", "switch", item=TSHIRT)
    await say(shop, f"那这个呢 https://item.taobao.com/item.htm?id={HOODIE}", "switch")
    assert top(await say(shop, "170 120斤穿什么码", "switch"))["text"] == "亲，170cm/120斤建议拿L码哦~"


async def test_item_survives_a_restart(aiohttp_client: Any, config: Config, tmp_path: Path, db_path: Path) -> None:
    catalog_db(tmp_path, db_path)
    first = await aiohttp_client(make_app(config))
    await say(first, f"看看 https://item.taobao.com/item.htm?id={TSHIRT}", "restart")
    await say(first, "我165", "restart")
    await first.close()
    again = await aiohttp_client(make_app(config))  # a fresh process: nothing in memory
    assert top(await say(again, "110斤", "restart"))["text"] == "亲，165cm/110斤建议拿L码哦~"


@BACKENDS
async def test_item_field_survives_a_restart_on_either_backend(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: store.Location
) -> None:
    catalog_db(tmp_path, db_path)
    first = await aiohttp_client(make_app(config))
    await say(first, "在吗", "restart-field", item=TSHIRT)
    await first.close()
    again = await aiohttp_client(make_app(config))  # a fresh process: the item is read from the log
    body = await say(again, "什么面料", "restart-field")
    assert body["item"]["id"] == TSHIRT
    assert top(body)["text"] == "亲，这款面料是95%棉 5%氨纶哦~"


async def test_webhook_rejects_a_malformed_item(shop: Client, db_path: Path) -> None:
    for bad, message in ((123, "must be a string, got int"), ("", "must not be empty"), ("x" * 201, "longer")):
        resp = await shop.post("/v1/events", data=body_of(make_event(item=bad)))
        assert resp.status == 400
        body = await resp.json()
        assert body["field"] == "item" and message in body["message"]
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


async def test_panel_shows_the_item_and_the_facts_used(shop: Client) -> None:
    await say(shop, "这件是什么面料的", "panel", item=TSHIRT, agent="a1")
    html = await (await shop.get("/panel?agent=a1")).text()
    assert '<span class="item-title">纯棉圆领短袖T恤 男女同款</span>' in html
    assert '<span class="fact-name">面料</span><span class="fact-value">95%棉 5%氨纶</span>' in html


async def test_panel_escapes_item_title_and_facts(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: Path
) -> None:
    rows = [("800000000001", "<script>alert(1)</script>T恤", "<b>棉</b>", "", "", "")]
    conn = store.connect(db_path)
    import_files(conn, [write_csv(tmp_path / "x.csv", ITEMS_HEADER, rows)])
    conn.close()
    client = await aiohttp_client(make_app(config))
    await say(client, "什么面料", "xss", item="800000000001", agent="a1")
    html = await (await client.get("/panel?agent=a1")).text()
    assert "<script>alert(1)</script>T恤" not in html and "<b>棉</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;T恤" in html and "&lt;b&gt;棉&lt;/b&gt;" in html


async def test_phrase_templates_use_the_item(aiohttp_client: Any, tmp_path: Path, db_path: Path) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    (phrases / "shop.toml").write_text(
        '[[phrase]]\nid = "stock.item_named"\nintent = "stock"\ncode = "kc99"\n'
        'text = "亲，{{ item.title }}有现货，产地{{ item[\\"产地\\"] | default(\\"见详情页\\") }}，放心拍哦~"\n'
        'triggers = ["这件有货吗还有吗"]\n',
        encoding="utf-8",
    )
    config = load_config(
        ROOT / "config.toml", env={}, overrides={"store": {"path": str(db_path)}, "phrases": {"path": str(phrases)}}
    )
    catalog_db(tmp_path, db_path)
    client = await aiohttp_client(make_app(config))
    texts = {
        s["phrase_id"]: s["text"] for s in (await say(client, "这件有货吗还有吗", "t1", item=TSHIRT))["suggestions"]
    }
    assert texts["stock.item_named"] == "亲，纯棉圆领短袖T恤 男女同款有现货，产地广东广州，放心拍哦~"
    texts = {
        s["phrase_id"]: s["text"] for s in (await say(client, "这件有货吗还有吗", "t2", item=NO_CHART))["suggestions"]
    }
    assert texts["stock.item_named"] == "亲，亚麻衬衫有现货，产地见详情页，放心拍哦~"
    texts = {s["phrase_id"]: s["text"] for s in (await say(client, "这件有货吗还有吗", "t3"))["suggestions"]}
    assert texts["stock.item_named"] == "亲，这款宝贝有现货，产地见详情页，放心拍哦~"


async def test_catalog_wording_comes_from_config(
    aiohttp_client: Any, config: Config, tmp_path: Path, db_path: Path
) -> None:
    catalog_db(tmp_path, db_path)
    custom = replace_config(config, "catalog", size_answer="宝宝，{{ item.title }}您穿{{ size }}正好（{{ measures }}）")
    client = await aiohttp_client(make_app(custom))
    body = await say(client, "165 110斤穿什么码", "w", item=TSHIRT)
    assert top(body)["text"] == "宝宝，纯棉圆领短袖T恤 男女同款您穿L码正好（165cm/110斤）"


@pytest.mark.parametrize(
    ("key", "source", "reason"),
    [
        ("size_answer", "亲，{{ sizes }}", "未知变量 'sizes'"),
        ("fact_answer", "{% for f in facts %}{{ f }}{% endfor %}", "不安全的模板写法：{% for %}"),
        ("ask_height", "{{ item.__class__ }}", "只能取 item.<name>"),
        ("ask_weight", "{{ ", "模板语法错误："),
    ],
)
def test_bad_catalog_wording_stops_the_start(config: Config, key: str, source: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[catalog\] {key}：.*{reason}"):
        make_app(replace_config(config, "catalog", **{key: source}))


CW_SECRET = "cw-secret"


async def test_chatwoot_conversation_attribute_attaches_the_item(
    aiohttp_client: Any, tmp_path: Path, db_path: Path
) -> None:
    catalog_db(tmp_path, db_path)
    config = load_config(
        ROOT / "config.toml",
        env={"CHATWOOT_WEBHOOK_SECRET": CW_SECRET},
        overrides={"store": {"path": str(db_path)}, "hooks": {"enabled": ["chatwoot"]}},
    )
    client = await aiohttp_client(make_app(config))
    payload = json.loads((ROOT / "tests" / "data" / "chatwoot" / "contact_message.json").read_text(encoding="utf-8"))
    payload["content"] = "这件是什么面料的"
    payload["conversation"]["custom_attributes"] = {"item_id": int(TSHIRT)}  # a number attribute, as Chatwoot keeps it
    body = json.dumps(payload, ensure_ascii=False).encode()
    stamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Chatwoot-Signature": sign(CW_SECRET, stamp, body),
        "X-Chatwoot-Timestamp": str(stamp),
        "X-Chatwoot-Delivery": "d-item",
    }
    resp = await client.post("/v1/chatwoot", data=body, headers=headers)
    assert resp.status == 200
    result = (await resp.json())["events"][0]
    assert result["suggestions"][0]["text"] == "亲，这款面料是95%棉 5%氨纶哦~"
    assert result["item"]["id"] == TSHIRT


async def test_a_new_import_is_seen_without_a_restart(shop: Client, tmp_path: Path, db_path: Path) -> None:
    assert top(await say(shop, "什么面料", "r1", item=TSHIRT))["text"] == "亲，这款面料是95%棉 5%氨纶哦~"
    newer = write_csv(tmp_path / "newer.csv", ("商品ID", "标题", "面料"), [(TSHIRT, "T恤", "100%新疆长绒棉")])
    conn = store.connect(db_path)
    assert import_files(conn, [newer]).written
    conn.close()
    assert top(await say(shop, "什么面料", "r2", item=TSHIRT))["text"] == "亲，这款面料是100%新疆长绒棉哦~"


def test_library_check_requires_a_default_for_item_attributes() -> None:
    from assistant.suggest.phrases import Library, LibraryError

    def phrase(text: str) -> list[tuple[str, dict[str, Any]]]:
        entry = {"id": "stock.x", "intent": "stock", "code": "kc99", "text": text, "triggers": ["有货吗还有吗"]}
        return [("x.toml", {"group": "测试", "phrase": [entry]})]

    library = Library.build(
        phrase('亲，{{ item.title }}有现货，产地{{ item["产地"] | default("见详情页") }}，今天拍今天发哦~')
    )
    assert library.item_phrases == {"stock.x"}
    long_title = {"id": "1", "title": "长" * 1000, "attrs": {}, "产地": "广" * 1000}
    rendered = library.render("stock.x", item=long_title)
    assert rendered.count("长") == 200 and rendered.count("广") == 200  # cut like any other variable
    with pytest.raises(LibraryError, match=r"无法渲染：.*商品可能没有这一项：写成 item\[\"名称\"\] \| default"):
        Library.build(phrase('亲，这款有现货，产地是{{ item["产地"] }}，放心拍哦~'))
    with pytest.raises(LibraryError, match="只能取 item.<name>"):
        Library.build(phrase("亲，这款有现货，{{ item.attrs.x.y }}，放心拍哦~"))


async def test_get_suggest_answers_about_an_item(shop: Client) -> None:
    resp = await shop.get("/v1/suggest", params={"text": "165 110斤穿什么码", "item": TSHIRT})
    assert resp.status == 200
    assert (await resp.json())["suggestions"][0]["text"] == "亲，165cm/110斤建议拿L码哦~"
    resp = await shop.get("/v1/suggest", params={"text": "什么面料", "item": "1" * 201})
    assert resp.status == 400 and (await resp.json())["field"] == "item"


async def test_body_measures_other_than_height_and_weight_are_never_read_as_them(shop: Client) -> None:
    # 臀围95cm 160 gave "95cm/160斤建议拿2XL码"; 腰围2尺2 was a height of 200 cm, 腰围70cm one of 70 cm
    resp = await shop.get("/v1/suggest", params={"text": "臀围95cm 160 穿几码", "item": TSHIRT})
    first = (await resp.json())["suggestions"][0]
    assert first["phrase_id"] == "catalog.ask_weight" and first["text"].startswith("亲，160cm收到啦~")
    for text in ("腰围2尺2穿几码", "腰围70cm穿几码", "腰二尺一穿几码", "胸围86-90cm 臀围95穿什么码", "臀围是95 腰70"):
        assert measures.combine([text]) == measures.Body(), text
    assert measures.combine(["腰围2尺1 165 110斤穿几码"]) == measures.Body(165, 110)


async def test_pounds_are_converted_and_feet_and_inches_read(shop: Client) -> None:
    # 体重130磅 身高5尺5寸 gave "130斤收到啦": pounds were read as 斤, and then the height in feet was not read
    resp = await shop.get("/v1/suggest", params={"text": "体重130磅 身高5尺5寸穿多大", "item": TSHIRT})
    first = (await resp.json())["suggestions"][0]
    assert (first["phrase_id"], first["text"]) == ("catalog.size", "亲，165cm/117.9斤建议拿L码哦~")
    assert measures.combine(["165 130lbs"]) == measures.combine(["165 130lb"]) == measures.Body(165, 117.9)
    assert measures.combine(["我5尺5寸 穿几码"]) == measures.Body(165)


async def test_sizing_questions_get_the_items_sizing_and_fit_questions_its_fit(
    shop: Client, tmp_path: Path, db_path: Path
) -> None:
    # 会不会偏小 got the item's 版型 (宽松) although it has 尺码偏大偏小 (偏大一码)
    rows = [("800000000007", "休闲卫衣", "宽松", "偏大一码")]
    path = write_csv(tmp_path / "both.csv", ("商品ID", "标题", "版型", "尺码偏大偏小"), rows)
    conn = store.connect(db_path)
    assert import_files(conn, [path]).written
    conn.close()
    sizing = ["会不会偏小", "尺码标准吗", "偏大吗", "是标准码吗", "这款偏大还是偏小", "码数准吗"]
    for n, text in enumerate(sizing):
        body = await say(shop, text, f"sizing-{n}", item="800000000007")
        assert top(body)["text"] == "亲，这款尺码偏大偏小是偏大一码哦~", text
    for n, text in enumerate(["版型怎么样", "宽松吗", "修身吗"]):
        body = await say(shop, text, f"cut-{n}", item="800000000007")
        assert top(body)["text"] == "亲，这款版型是宽松哦~", text


def test_item_lookup_failure_is_logged_not_taken_for_no_item(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from assistant.catalog.focus import ItemFocus, LookupFailed

    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a file without the log's tables: the read fails
    focus = ItemFocus(path)
    try:
        with pytest.raises(LookupFailed):
            focus.lookup("shop1", "c1")
    finally:
        focus.close()
    assert "could not be read from the log" in caplog.text


async def test_a_fill_the_items_facts_do_not_say_is_said_to_be_unknown(
    shop: Client, tmp_path: Path, db_path: Path
) -> None:
    # 鸭绒还是鹅绒 of a jacket whose 含绒量 is 90% got the library's phrases: nothing said the facts do not tell
    rows = [("800000000060", "女士轻薄羽绒服", "锦纶", "90%")]
    path = write_csv(tmp_path / "down.csv", ("商品ID", "标题", "面料", "含绒量"), rows)
    conn = store.connect(db_path)
    assert import_files(conn, [path]).written
    conn.close()
    first = top(await say(shop, "鸭绒还是鹅绒", "fill-1", item="800000000060"))
    assert (first["phrase_id"], first["text"]) == (
        "catalog.not_told",
        "亲，这款含绒量是90%，商品信息里没有写是鸭绒还是鹅绒，我帮您确认一下再回复您哦~",
    )
    assert first["facts"] == [{"name": "含绒量", "value": "90%"}]
