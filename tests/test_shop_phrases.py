"""Several shops on one service: each shop's own phrase layers, closings, reminders and name stay in its own
conversations (`[phrases.shops]`, `[shop.names]`); the shared library serves every shop as before."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.cli.main import main
from assistant.clock import FakeClock
from assistant.config import Config, ConfigError, load_config
from assistant.followups.policy import compose
from assistant.followups.store import FireContext
from assistant.suggest.engine import load_matcher
from assistant.suggest.matcher import Context, Matcher
from assistant.suggest.phrases import Library, LibraryError
from assistant.suggest.qianniu import read_table
from assistant.suggest.training import fingerprint
from tests.followup_harness import T0, Harness, Recorder
from tests.helpers import ROOT, make_app, make_event, replace_config

CLOTHES, SNACKS, GEEK = "衣橱时光女装", "馋嘴 零食铺", "GeekAcc"
FIRST_PHRASES = ROOT / "tests" / "data" / "first_phrases.tsv"


def _phrase(pid: str, intent: str, code: str, text: str, *triggers: str) -> str:
    quoted = ", ".join(f'"{t}"' for t in triggers)
    return f'[[phrase]]\nid = "{pid}"\nintent = "{intent}"\ncode = "{code}"\ntext = "{text}"\ntriggers = [{quoted}]\n\n'


# Each shop's Qianniu import: its shipping policy, its 结束语 under the code all three type (jsy), its 催付.
LAYERS = {
    "yichu": [
        _phrase("shipping_time.yc", "shipping_time", "ycfh", "亲，衣橱时光的衣服下午4点前付款当天发，中通包邮哦~",
                "今天能发货吗", "什么时候发货", "用什么快递"),
        # The demo's fh2 (当天截单时间前付款…) replaced in this shop only.
        _phrase("shipping_time.today", "shipping_time", "fh2", "亲，衣橱时光女装下午4点前付款的订单当天发出~",
                "今天能发吗", "当天发吗"),
        _phrase("followup.imported_jsy", "followup", "jsy", "感谢光临衣橱时光女装店，有任何问题随时找小衣哦~",
                "结束语"),
        _phrase("payment_reminder.imported_cf01", "payment_reminder", "cf01",
                "亲，衣橱时光女装提醒您：您拍下的宝贝还没付款哦~", "催付"),
    ],
    "lingshi": [
        _phrase("shipping_time.ls", "shipping_time", "lsfh", "亲，馋嘴零食铺的零食都是顺丰冷链，下午3点前付款当天发出哦~",
                "今天能发货吗", "什么时候发货", "用什么快递"),
        _phrase("followup.imported_jsy", "followup", "jsy", "感谢光临馋嘴零食铺，吃得开心记得回来囤货哦~", "结束语"),
        _phrase("payment_reminder.imported_cf01", "payment_reminder", "cf01",
                "亲，馋嘴零食铺提醒您：零食还没付款哦~", "催付"),
    ],
    "peijian": [
        _phrase("shipping_time.pj", "shipping_time", "pjfh", "亲，极客配件馆的手机壳下单后24小时内发货，韵达包邮哦~",
                "今天能发货吗", "什么时候发货", "用什么快递"),
        _phrase("followup.imported_jsy", "followup", "jsy", "感谢光临极客配件馆，手机壳有任何问题随时联系我们哦~",
                "结束语"),
        _phrase("payment_reminder.imported_cf01", "payment_reminder", "cf01",
                "亲，极客配件馆提醒您：订单还没付款哦~", "催付"),
    ],
}  # fmt: skip
OWN_CODES = {CLOTHES: {"ycfh", "fh2"}, SNACKS: {"lsfh"}, GEEK: {"pjfh"}}
OTHER_SHOPS_WORDS = {CLOTHES: ("零食", "配件"), SNACKS: ("衣橱", "配件"), GEEK: ("衣橱", "零食")}

CONFIG = f"""
[phrases]
path = ["{ROOT / "phrases"}"]
workers = 0

[phrases.shops]
"{CLOTHES}" = ["yichu"]
"{SNACKS}" = ["lingshi"]
"{GEEK}" = "peijian"

[shop.names]
"{CLOTHES}" = "衣橱时光女装"
"{SNACKS}" = "馋嘴零食铺"
"""


def write_shops(folder: Path, extra: str = "") -> Path:
    """Three shops' layers and a config naming them; the config file's path."""
    for layer, phrases in LAYERS.items():
        (folder / layer).mkdir(exist_ok=True)
        (folder / layer / "qianniu.toml").write_text('group = "千牛"\n\n' + "".join(phrases), encoding="utf-8")
    path = folder / "config.toml"
    path.write_text(CONFIG + extra, encoding="utf-8")
    return path


@pytest.fixture
def shops_config(tmp_path: Path, db_path: store.Location) -> Config:
    return load_config(write_shops(tmp_path), overrides={"store": {"path": str(db_path)}})


@pytest.fixture
def shops_matcher(shops_config: Config) -> Matcher:
    matcher = load_matcher(shops_config)
    matcher.strict = True
    return matcher


def codes(suggestions: list[dict[str, Any]]) -> list[str]:
    return [s["code"] for s in suggestions]


# ---- the library --------------------------------------------------------------------------------------


def test_library_keeps_each_shops_own_phrases_beside_the_shared_ones(shops_matcher: Matcher) -> None:
    library = shops_matcher.library
    shipped = Library.load(ROOT / "phrases")
    assert [p.id for p in library.phrases] == [p.id for p in shipped.phrases]  # the shared library as it was
    assert {shop: [p.code for p in own] for shop, own in library.shop_phrases.items()} == {
        CLOTHES: ["ycfh", "fh2", "jsy", "cf01"], SNACKS: ["lsfh", "jsy", "cf01"], GEEK: ["pjfh", "jsy", "cf01"]
    }  # fmt: skip
    # fh2 is the clothing shop's own there, the demo's everywhere else.
    assert library.render("shipping_time.today", shop=CLOTHES) == "亲，衣橱时光女装下午4点前付款的订单当天发出~"
    assert library.render("shipping_time.today", shop=SNACKS) == shipped.render("shipping_time.today")
    assert library.find("shipping_time.ls", SNACKS) is not None and library.find("shipping_time.ls", CLOTHES) is None


def test_a_shops_phrases_of_one_intent_are_its_visible_ones_of_that_intent_in_their_order(
    shops_matcher: Matcher,
) -> None:
    """What follow-ups read by intent (`of_intent`) is what a conversation of that shop may get (`visible`)."""
    library = shops_matcher.library
    intents = {p.intent for p in library.phrases} | {p.intent for own in library.shop_phrases.values() for p in own}
    for shop in (CLOTHES, SNACKS, GEEK, "another shop", ""):
        visible = library.visible(shop)
        for intent in (*sorted(intents), "no such intent"):
            assert library.of_intent(intent, shop) == [p for p in visible if p.intent == intent], (shop, intent)
    assert library.of_intent("shipping_time", CLOTHES)[0].shop == CLOTHES  # its own first, the shared after


def test_a_shop_only_layer_leaves_the_shared_scorer_fitting(shops_matcher: Matcher) -> None:
    """The scorer learns from the shared library: a shop's own layer does not make it look stale at every start."""
    assert fingerprint(shops_matcher.library) == fingerprint(Library.load(ROOT / "phrases"))


def test_a_broken_shop_layer_is_named_with_its_directory(tmp_path: Path) -> None:
    config = load_config(write_shops(tmp_path))
    with (tmp_path / "lingshi" / "qianniu.toml").open("a", encoding="utf-8") as f:
        f.write("broken = [\n")
    with pytest.raises(LibraryError) as caught:
        load_matcher(config)
    assert [p.file for p in caught.value.problems] == ["lingshi/qianniu.toml"]
    assert main(["phrases", "check", "--config", str(tmp_path / "config.toml")]) == 1


def test_without_shops_or_in_a_shop_with_none_of_its_own_the_suggestions_are_the_shared_librarys(
    shipped_matcher: Matcher, shops_matcher: Matcher
) -> None:
    rows = [line.split("\t") for line in FIRST_PHRASES.read_text(encoding="utf-8").splitlines() if line[:1] != "#"]
    texts = [text for _, text in rows] + ["今天能发货吗？用什么快递", "你好", "在吗"]
    for text in texts:
        want = shipped_matcher.suggest(text)
        assert shops_matcher.suggest(text) == want, text
        assert shops_matcher.suggest(text, Context(shop="另一家店")) == want, text


def test_a_shops_own_phrases_answer_its_conversations_only(shops_matcher: Matcher) -> None:
    text = "你们家什么时候发货，用什么快递"
    for shop, own in OWN_CODES.items():
        found = shops_matcher.suggest(text, Context(shop=shop))
        assert {s.code for s in found} & own, (shop, found)
        assert not any(word in s.text for s in found for word in OTHER_SHOPS_WORDS[shop]), (shop, found)
    assert not {s.code for s in shops_matcher.suggest(text)} & set().union(*OWN_CODES.values())


# ---- through the service ------------------------------------------------------------------------------


async def test_webhook_and_get_suggest_offer_each_shop_its_own_phrases_and_name(
    aiohttp_client: Any, shops_config: Config
) -> None:
    client = await aiohttp_client(make_app(shops_config))
    for n, (shop, own) in enumerate(OWN_CODES.items()):
        raw = make_event(shop=shop, conversation="c1", customer="u1", text="今天能发货吗？用什么快递", id=f"e{n}")
        resp = await client.post("/v1/events", json=raw)
        assert resp.status == 200, await resp.text()
        found = (await resp.json())["suggestions"]
        assert set(codes(found)) & own and not any(w in s["text"] for s in found for w in OTHER_SHOPS_WORDS[shop])
        # GET /v1/suggest reads the shop as events do: spaces around it are not part of it.
        resp = await client.get("/v1/suggest", params={"text": "你们家什么时候发货，用什么快递", "shop": f" {shop} "})
        found = (await resp.json())["suggestions"]
        assert set(codes(found)) & own and not any(w in s["text"] for s in found for w in OTHER_SHOPS_WORDS[shop])
    greetings = {}
    for shop in (CLOTHES, SNACKS, GEEK):
        resp = await client.get("/v1/suggest", params={"text": "你好", "shop": shop})
        greetings[shop] = (await resp.json())["suggestions"][0]["text"]
    assert "衣橱时光女装" in greetings[CLOTHES] and "衣橱" not in greetings[SNACKS] + greetings[GEEK]
    assert "馋嘴零食铺" in greetings[SNACKS] and "本店" in greetings[GEEK]


async def test_phrase_search_finds_a_shops_own_phrases_in_its_conversations_only(
    aiohttp_client: Any, shops_config: Config
) -> None:
    client = await aiohttp_client(make_app(shops_config))

    async def search(**params: str) -> list[str]:
        resp = await client.get("/v1/phrases/search", params={"q": "感谢光临", "limit": "50", **params})
        return [s["text"] for s in (await resp.json())["results"]]

    clothes = await search(shop=CLOTHES)
    assert any("衣橱时光女装店" in t for t in clothes) and not any("零食" in t or "配件" in t for t in clothes)
    assert not any("衣橱" in t or "零食" in t or "配件" in t for t in await search())
    resp = await client.get("/v1/phrases/search", params={"q": "jsy", "shop": SNACKS})
    assert [s["text"] for s in (await resp.json())["results"]] == ["感谢光临馋嘴零食铺，吃得开心记得回来囤货哦~"]


async def test_the_daily_log_names_a_shops_own_phrase_by_its_code(
    aiohttp_client: Any, shops_config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The log said "agent1 used shipping_time.yc": only the shared library's phrases were named by code.
    client = await aiohttp_client(make_app(shops_config))
    for raw in (
        make_event(shop=CLOTHES, conversation="c1", text="今天能发货吗", id="m1"),
        make_event("suggestion_used", shop=CLOTHES, conversation="c1", phrase_id="shipping_time.yc", id="u1"),
        make_event("suggestion_used", shop=SNACKS, conversation="c2", phrase_id="shipping_time.today", id="u2"),
    ):
        assert (await client.post("/v1/events", json=raw)).status == 200
    await client.close()
    config = write_shops(tmp_path)
    db = str(shops_config.store.path)
    capsys.readouterr()
    assert main(["log", "--config", str(config), "--db", db, "--date", "2026-11-20"]) == 0
    out = capsys.readouterr().out
    assert "ycfh" in out and "shipping_time.yc" not in out
    assert "fh2" in out and "shipping_time.today" not in out  # the shared phrase, in a shop without its own


# ---- follow-ups -----------------------------------------------------------------------------------------


def test_followup_policy_chooses_the_conversations_shops_own_closing_and_reminder(shops_matcher: Matcher) -> None:
    library = shops_matcher.library
    quiet = FireContext("e1", "u1", "小美", None, replied=False, paid=False, unpaid=())
    for shop, word in ((CLOTHES, "衣橱时光女装店"), (SNACKS, "馋嘴零食铺"), (GEEK, "极客配件馆")):
        for n in range(8):
            phrase_id, text = compose("followup", quiet, f"fu-{n}", [library], "名字", shop)
            assert (phrase_id, word in text) == ("followup.imported_jsy", True), (shop, text)
            _, reminder = compose("payment_reminder", quiet, f"fu-{n}", [library], "名字", shop)
            assert word[:4] in reminder and reminder.startswith("亲，"), (shop, reminder)
    for n in range(8):  # a shop without its own: the shared library's closings, never another shop's
        _, text = compose("followup", quiet, f"fu-{n}", [library], "另一家店", "另一家店")
        assert not any(w in text for w in ("衣橱", "零食", "配件")), text


@pytest.fixture
async def shops_harness(shops_config: Config, shops_matcher: Matcher, db_path: store.Location) -> AsyncIterator[Any]:
    config = replace_config(shops_config, "followups", mode="send", idle_seconds=300)
    recorder = Recorder()
    h = await Harness(config, db_path, FakeClock(T0), plugins=[recorder], phrases=shops_matcher.library).start()
    yield h, recorder
    await h.stop()


async def test_idle_followups_go_out_in_the_conversations_shops_own_words(shops_harness: Any) -> None:
    harness, recorder = shops_harness
    for n, shop in enumerate((SNACKS, CLOTHES, GEEK, "另一家店")):
        await harness.send(shop=shop, conversation="c", customer="u", text="在吗", id=f"c{n}")
        if shop == CLOTHES:
            await harness.send("order_created", shop=shop, conversation="c", customer="u", order="FO1", amount=299)
        await harness.agent_says(shop=shop, conversation="c", customer="u", id=f"a{n}")
    await harness.advance(300)
    sent = {call["conversation"]["shop"]: (call["kind"], call["text"]) for call in recorder.calls}
    assert sent[SNACKS] == ("followup", "感谢光临馋嘴零食铺，吃得开心记得回来囤货哦~")
    assert sent[CLOTHES] == ("payment_reminder", "亲，衣橱时光女装提醒您：您拍下的宝贝还没付款哦~")
    assert sent[GEEK] == ("followup", "感谢光临极客配件馆，手机壳有任何问题随时联系我们哦~")
    assert not any(w in sent["另一家店"][1] for w in ("衣橱", "零食", "配件")), sent


# ---- config and import ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('[phrases.shops]\n" GeekAcc" = ["peijian"]\n', "[phrases.shops]"),
        ("[phrases.shops]\nGeekAcc = []\n", "[phrases.shops] GeekAcc"),
        ("[phrases.shops]\nGeekAcc = 3\n", "phrases.shops.GeekAcc"),
        (f'[phrases.shops]\nGeekAcc = ["{ROOT / "phrases"}"]\n', "[phrases.shops] GeekAcc"),
        ('[shop.names]\nGeekAcc = " "\n', "[shop.names] GeekAcc"),
        ('[shop.names]\n"GeekAcc " = "极客"\n', "[shop.names]"),
        ("[shop.nick]\nGeekAcc = 1\n", "shop.nick"),
    ],
)
def test_config_refuses_a_bad_shop_table_naming_the_key(tmp_path: Path, extra: str, named: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[phrases]\npath = ["{ROOT / "phrases"}"]\n{extra}', encoding="utf-8")
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        load_config(path)


def test_two_shops_may_import_the_same_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_shops(tmp_path)
    table = tmp_path / "peijian.csv"
    table.write_text(
        "分组,快捷编码,快捷短语\n结束语,jsy,感谢光临极客配件馆，配件有问题随时找我们哦~\n", encoding="utf-8"
    )
    out = tmp_path / "peijian" / "qianniu.toml"
    assert main(["phrases", "import", str(table), "--out", str(out), "--replace", "--config", str(config)]) == 0
    assert "jsy" in out.read_text(encoding="utf-8") and "占用" not in capsys.readouterr().err
    library = load_matcher(load_config(config)).library
    assert [p.text for p in library.shop_phrases[GEEK] if p.code == "jsy"] == [
        "感谢光临极客配件馆，配件有问题随时找我们哦~"
    ]
    assert [p.text for p in library.shop_phrases[SNACKS] if p.code == "jsy"] == [
        "感谢光临馋嘴零食铺，吃得开心记得回来囤货哦~"
    ]


def test_a_released_matcher_is_freed_without_the_collector(shops_config: Config) -> None:
    # A reload unfroze the heap to collect the replaced library's reference cycles: a full collection of all
    # the service held, every request waiting (0.5-1.2 s at 20,000 conversations). Released, it needs none.
    matcher = load_matcher(shops_config)
    for shop in (CLOTHES, SNACKS, GEEK, ""):
        context = Context(shop=shop, variables={"customer": "小王", "order": "1001", "amount": "99.00"})
        for text in ("什么时候发货", "能便宜点吗", "退款多久到账", "在吗，谢谢", "好的 拜拜"):
            assert isinstance(matcher.suggest(text, context), list)
        matcher.classify([(1_000, "在吗"), (60_000, "快点发货啊")], [30_000])
        assert matcher.search("发货", context=context)
    library = weakref.ref(matcher.library)
    gc.collect()
    gc.disable()
    try:
        matcher.release()
        del matcher
        assert library() is None  # freed by reference counting alone
        assert gc.collect() == 0  # nothing left in reference cycles
    finally:
        gc.enable()


def test_export_of_a_shops_own_phrase_file_writes_its_phrases(tmp_path: Path) -> None:
    # A file in a shop's own layer only ([phrases.shops]): refused as "not a phrase file of the library".
    config = write_shops(tmp_path)
    table = tmp_path / "peijian.csv"
    assert main(["phrases", "export", "--file", str(tmp_path / "peijian" / "qianniu.toml"), "--out", str(table), "--config", str(config)]) == 0  # fmt: skip
    rows = read_table(table)
    assert rows[0] == ["分组", "快捷编码", "快捷短语"]
    assert [r[1] for r in rows[1:]] == ["pjfh", "jsy", "cf01"]
    assert rows[2][2] == "感谢光临极客配件馆，手机壳有任何问题随时联系我们哦~"  # its own, not another shop's jsy
