"""`adjust_suggestions`: a shop's plugin reorders, drops or adds (a library phrase by its code) the suggestions before
anyone sees them (the webhook's answer, the panel's card, `GET /v1/suggest`, `on_suggestions`); two plugins chain; and
every mistake of the engineer's leaves the suggestions as they were, told in the log with the plugin, the hook, its
file and line, once a minute."""

from __future__ import annotations

import logging
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from assistant.clock import FakeClock
from assistant.config import Config, ConfigError, load_config
from assistant.plugins import build_plugin_manager
from assistant.web.appkeys import ENGINE, PLUGINS
from assistant.web.stream import conversation_json
from tests.catalog_data import TSHIRT, say
from tests.helpers import ROOT, body_of, make_app, make_event, with_hooks
from tests.test_catalog_answers import catalog_db
from tests.test_hooks_engineer import said

# A plugin that shows the suggestions in reverse, its hook on line 5 (the slow plugin: the tests time its calls).
REVERSING = (
    "from assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_suggestions(suggestions):\n"
    "    return suggestions[::-1]\n"
)

# A shop's VIP rule: no haggling answer for a VIP buyer, the shop's VIP-price phrase (yj6) first instead.
VIP = """\
from assistant.hookspecs import hookimpl

GIVEN = []


@hookimpl
def adjust_suggestions(customer, text, customer_type, suggestions):
    GIVEN.append((customer, text, customer_type is not None, [s.code for s in suggestions]))
    if customer != "老顾客小王":
        return None
    return ["yj6"] + [s for s in suggestions if s.code != "yj1"]
"""
# Registered after VIP, so asked first: it drops the delivery-choice phrase; VIP then sees its list.
NO_EXPRESS = """\
from assistant.hookspecs import hookimpl


@hookimpl
def adjust_suggestions(suggestions):
    return [s for s in suggestions if s.intent != "express_choice"]
"""
HEARS = """\
from assistant.hookspecs import hookimpl

HEARD = []


@hookimpl
def on_suggestions(suggestions):
    HEARD.append([s["code"] for s in suggestions])
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


async def post(client: Any, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/events", data=body_of(make_event(ts=now_iso(), **fields)))
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [s["code"] for s in body["suggestions"]]


async def test_adjust_suggestions_changes_the_answer_the_panel_the_suggest_route_and_on_suggestions(
    aiohttp_client: Any, config: Config, hook_dir: Path
) -> None:
    for name, source in (("vip", VIP), ("no_express", NO_EXPRESS), ("hears", HEARS)):
        (hook_dir / f"{name}.py").write_text(source, encoding="utf-8")
    app = make_app(with_hooks(config, "vip", "no_express", "hears"))
    client = await aiohttp_client(app)
    plain = await post(client, id="m1", conversation="c1", customer="新买家", text="能便宜点吗")
    vip = await post(client, id="m2", conversation="c2", customer="老顾客小王", text="能便宜点吗")
    assert codes(plain) == ["yj1", "yj3"]  # the matcher's yj1, yj3, kd1 without the delivery choice
    assert codes(vip) == ["yj6", "yj3"]
    assert vip["suggestions"][0]["text"].startswith("亲")  # the library's phrase, rendered
    # Chained: VIP saw the list NO_EXPRESS made, with the message and its buyer.
    given = sys.modules["hooks.vip"].GIVEN
    assert given[:2] == [
        ("新买家", "能便宜点吗", True, ["yj1", "yj3"]),
        ("老顾客小王", "能便宜点吗", True, ["yj1", "yj3"]),
    ]
    assert sys.modules["hooks.hears"].HEARD == [["yj1", "yj3"], ["yj6", "yj3"]]
    card = app[ENGINE].conversations.get("shop1", "c2").card_parts()[0]
    assert [s["code"] for s in card] == ["yj6", "yj3"]
    resp = await client.get("/v1/suggest", params={"text": "能便宜点吗", "shop": "shop1", "conversation": "c2"})
    assert codes(await resp.json()) == ["yj6", "yj3"]
    # After a restart the card is rebuilt from the log, its suggestions matched again: adjusted too.
    await client.close()
    restarted = make_app(with_hooks(config, "vip", "no_express", "hears"))
    await aiohttp_client(restarted)
    state = restarted[ENGINE].conversations.get("shop1", "c2")
    assert [s["code"] for s in conversation_json(state, restarted[ENGINE])["suggestions"]] == ["yj6", "yj3"]


MISTAKES = {
    "raises": ("    raise KeyError('vip')\n", "raised KeyError: 'vip'", 6),
    "not_a_list": ("    return {'codes': ['yj6']}\n", "returned dict, not a list of suggestions and phrase codes", 5),
    "unknown_code": ("    return ['yj99'] + suggestions\n", "returned the phrase code 'yj99', which the shop's", 5),
    "a_dict": (
        "    return [dict(code='yj6')]\n",
        "returned dict \"{'code': 'yj6'}\" in its list: neither one of the suggestions it was given nor a phrase code",
        5,
    ),
    "awaitable": ("    import asyncio\n    return asyncio.sleep(0)\n", "returned an awaitable", 5),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
async def test_adjust_suggestions_mistake_leaves_them_unchanged_and_names_the_plugin_once_a_minute(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture, mistake: str
) -> None:
    body, problem, line = MISTAKES[mistake]
    source = "from assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_suggestions(suggestions):\n" + body
    (hook_dir / "broken.py").write_text(source, encoding="utf-8")
    app = make_app(with_hooks(config, "broken"))
    client = await aiohttp_client(app)
    clock = FakeClock(10**12)
    app[PLUGINS].clock = clock
    caplog.set_level(logging.ERROR, logger="assistant.plugins")
    answers = [await post(client, id=f"m{i}", conversation=f"c{i}", text="能便宜点吗") for i in range(3)]
    assert [codes(a) for a in answers] == [["yj1", "yj3", "kd1"]] * 3  # as the library gave them, each time
    lines = said(caplog, "adjust_suggestions of hooks.broken")
    assert len(lines) == 1
    assert lines[0].startswith(f"adjust_suggestions of hooks.broken ({hook_dir / 'broken.py'}, line {line}) {problem}")
    assert "the suggestions are used as they were before it; said once a minute" in lines[0]
    clock.advance(60_000)
    await post(client, id="m9", conversation="c9", text="能便宜点吗")
    assert said(caplog, "adjust_suggestions of hooks.broken")[1].endswith("(2 more since the last such line)")


async def test_adjust_suggestions_slow_is_named_with_its_time(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (hook_dir / "slow.py").write_text(REVERSING, encoding="utf-8")
    app = make_app(with_hooks(config, "slow"))
    client = await aiohttp_client(app)
    ticks = iter(range(1000))
    app[PLUGINS].timer = lambda: next(ticks) * 0.25  # each call measured as 0.25 s
    app[PLUGINS].waiting = lambda: 0.0  # none of it preempted
    caplog.set_level(logging.ERROR, logger="assistant.plugins")
    body = await post(client, id="m1", text="能便宜点吗")
    assert codes(body) == ["kd1", "yj3", "yj1"]  # slow, but its answer is used
    [line] = said(caplog, "adjust_suggestions of hooks.slow")
    assert f"({hook_dir / 'slow.py'}, line 5) took 0.25 s: the service waited for it meanwhile" in line


async def test_adjust_suggestions_slow_again_and_again_is_switched_off_said_once_and_in_readyz(
    aiohttp_client: Any, config: Config, hook_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (hook_dir / "slow.py").write_text(REVERSING, encoding="utf-8")
    app = make_app(with_hooks(config, "slow"))
    client = await aiohttp_client(app)
    clock = FakeClock(10**12)
    app[PLUGINS].clock = clock
    took = iter([0.05, 0.25] * 1000)  # every other call fast: only the slow ones count
    ticks = iter(range(10**6))
    app[PLUGINS].timer = lambda: next(ticks) % 2 and next(took) or 0.0  # starts read 0, ends what the call took
    app[PLUGINS].waiting = lambda: 0.0  # none of it preempted
    caplog.set_level(logging.ERROR)
    reversed_ = ["kd1", "yj3", "yj1"]

    async def asked(n: int) -> list[str]:
        return codes(await post(client, id=f"m{n}", conversation=f"c{n}", text="能便宜点吗"))

    assert [await asked(n) for n in range(8)] == [reversed_] * 8  # 4 slow calls within a minute: still asked
    clock.advance(61)  # those 4 are more than a minute old
    assert [await asked(n) for n in range(8, 16)] == [reversed_] * 8  # 4 slow ones again within a minute
    assert not said(caplog, "switched off")
    assert await asked(16) == reversed_  # fast
    assert await asked(17) == reversed_  # the 5th slow call within a minute: its answer used, then switched off
    assert await asked(18) == ["yj1", "yj3", "kd1"]  # the matcher's own, no call made
    [line] = said(caplog, "switched off")
    assert line.startswith(
        f"adjust_suggestions of hooks.slow ({hook_dir / 'slow.py'}, line 5) switched off until the service restarts: "
        "5 calls of 0.1 s or more within 60 s (the last 0.25 s)"
    )
    ready = await (await client.get("/readyz")).json()
    assert ready["hooks_switched_off"] == {
        "hooks.slow": "adjust_suggestions: 5 calls of 0.1 s or more within 60 s (the last 0.25 s)"
    }


def test_adjust_suggestions_async_def_is_refused_at_start(config: Config, hook_dir: Path) -> None:
    (hook_dir / "later.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n\n@hookimpl\nasync def adjust_suggestions(suggestions):\n"
        "    return None\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        build_plugin_manager(with_hooks(config, "later"))
    assert str(info.value) == (
        f"[hooks] enabled：hooks.later：adjust_suggestions（{hook_dir / 'later.py'} 第 5 行）必须是普通函数，"
        "不能是 async def（见 docs/hooks.md）"
    )


async def test_adjust_suggestions_phrase_added_by_code_is_rendered_with_the_conversations_item(
    aiohttp_client: Any, hook_dir: Path, tmp_path: Path, db_path: Path
) -> None:
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    (phrases / "shop.toml").write_text(
        '[[phrase]]\nid = "shop.item_stock"\nintent = "stock"\ncode = "kc99"\n'
        'text = "亲，{{ item.title }}有现货，产地{{ item[\\"产地\\"] | default(\\"见详情页\\") }}，今天拍今天发哦~"\n'
        'triggers = ["这件宝贝到底有没有现货"]\n',
        encoding="utf-8",
    )
    (hook_dir / "stock_first.py").write_text(
        "from assistant.hookspecs import hookimpl\n\n\n@hookimpl\ndef adjust_suggestions(suggestions):\n"
        "    return ['kc99'] + [s for s in suggestions if s.code != 'kc99']\n",
        encoding="utf-8",
    )
    overrides = {"store": {"path": str(db_path)}, "phrases": {"path": str(phrases)}}
    config = with_hooks(load_config(ROOT / "config.toml", env={}, overrides=overrides), "stock_first")
    catalog_db(tmp_path, db_path)
    client = await aiohttp_client(make_app(config))
    named = await say(client, "能便宜点吗", "t1", item=TSHIRT)
    assert named["suggestions"][0]["text"] == "亲，纯棉圆领短袖T恤 男女同款有现货，产地广东广州，今天拍今天发哦~"
    # The conversation's item holds for its next message, which names none.
    later = await say(client, "快递发哪家", "t1")
    assert later["suggestions"][0]["text"] == "亲，纯棉圆领短袖T恤 男女同款有现货，产地广东广州，今天拍今天发哦~"
    unknown = await say(client, "能便宜点吗", "t2")
    assert unknown["suggestions"][0]["text"] == "亲，这款宝贝有现货，产地见详情页，今天拍今天发哦~"
    resp = await client.get("/v1/suggest", params={"text": "能便宜点吗", "shop": "shop1", "item": TSHIRT})
    assert (await resp.json())["suggestions"][0][
        "text"
    ] == "亲，纯棉圆领短袖T恤 男女同款有现货，产地广东广州，今天拍今天发哦~"
