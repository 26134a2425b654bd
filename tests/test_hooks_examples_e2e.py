"""Both shipped example hooks enabled in config.toml, as a shop's engineer does, in the real service (a subprocess
with its matching worker) on the webhook path: `product_first` puts the shop's own phrase first for its product word
in the answer and the log; `quiet_hours` keeps the 催付 that comes due in its hours from the buyer, while the 结束语
goes out through `webhook_out` to a local receiver."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from assistant.followups.reasons import shown
from tests.followup_harness import OUT_SECRET, Receiver
from tests.helpers import body_of, eventually, followups_settled, make_event
from tests.service import Service, service_config
from tests.test_hooks_examples import DOWN_PHRASE

pytestmark = pytest.mark.slow

SHOP_TZ = ZoneInfo("Asia/Shanghai")
IDLE_S = 2


def hooks_config(tmp_path: Path, receiver: Receiver, start: str, end: str) -> Path:
    """config.toml as the engineer writes it: shop1's own phrase layer, the two examples and the sending hook."""
    shop_phrases = tmp_path / "shop1_phrases"
    shop_phrases.mkdir()
    (shop_phrases / "down.toml").write_text(DOWN_PHRASE, encoding="utf-8")
    return service_config(
        tmp_path,
        f"""
[phrases.shops]
shop1 = ["{shop_phrases}"]

[shop]
timezone = "Asia/Shanghai"

[followups]
idle_seconds = {IDLE_S}
mode = "send"
backoff_base_s = 0.2

[hooks]
enabled = ["webhook_out", "product_first", "quiet_hours"]

[hooks.webhook_out]
url = "{receiver.url}"

[hooks.product_first]
words = {{ "羽绒服" = "ywf1" }}
shops = ["shop1"]

[hooks.quiet_hours]
start = "{start}"
end = "{end}"
""",
    )


async def post(session: aiohttp.ClientSession, service: Service, type: str = "message", **fields: Any) -> Any:
    event = make_event(type, ts=datetime.now(SHOP_TZ).isoformat(), **fields)
    async with session.post(f"{service.url}/v1/events", data=body_of(event)) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def codes(body: dict[str, Any]) -> list[str]:
    return [s["code"] for s in body["suggestions"]]


def logged_codes(db: Path, conversation: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        (suggestions,) = conn.execute(
            "SELECT suggestions FROM messages WHERE conversation = ?", (conversation,)
        ).fetchone()
    return [s["code"] for s in json.loads(suggestions)]


def followups(db: Path) -> dict[str, tuple[str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT conversation, kind, state, last_error FROM followups").fetchall()
    return {conversation: (kind, state, error) for conversation, kind, state, error in rows}


async def test_example_hooks_enabled_in_config_toml_change_a_real_services_answers_and_followups(
    tmp_path: Path,
) -> None:
    now = datetime.now(SHOP_TZ)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    receiver = await Receiver(secret=OUT_SECRET).start()
    config = hooks_config(tmp_path, receiver, start, end)
    service = Service(config, tmp_path / "hooks.db", env={"ASSISTANT_OUTBOUND_SECRET": OUT_SECRET})
    await service.start(timeout=120)
    try:
        async with aiohttp.ClientSession() as session:
            named = await post(session, service, conversation="down", customer="小鹿", text="能便宜点吗，羽绒服")
            other = await post(session, service, shop="shop2", conversation="other", text="能便宜点吗，羽绒服")
            plain = await post(session, service, conversation="plain", customer="小满", text="能便宜点吗")
            await post(session, service, "order_created", conversation="plain", customer="小满", order="o1")
            for conversation, customer in (("down", "小鹿"), ("plain", "小满")):
                await post(
                    session, service, conversation=conversation, customer=customer, sender="agent", agent="小美",
                    text="亲，这款今天拍下今天就发哦",
                )  # fmt: skip
            await eventually(lambda: len(followups(service.db)) == 2, timeout=IDLE_S + 30)
            await eventually(lambda: followups_settled(service.db), timeout=30)
    finally:
        service.stop()
        await receiver.close()
    # product_first: shop1's own ywf1 leads for its word; the same text in shop2, which it is not for, as matched.
    assert codes(named) == ["ywf1", *codes(other)]
    assert named["suggestions"][0]["text"].startswith("亲，这款羽绒服是90%白鸭绒")
    assert "ywf1" not in codes(plain)
    assert logged_codes(service.db, "down") == codes(named)  # the log holds what the agent was shown
    # quiet_hours: the unpaid order's 催付 is due within start–end: not sent; the 结束语 (not one of its kinds) is.
    found = followups(service.db)
    assert found["down"][:2] == ("followup", "sent")
    kind, state, error = found["plain"]
    assert (kind, state) == ("payment_reminder", "cancelled")
    assert error is not None and shown(error).startswith(
        f"hooks.quiet_hours 的 adjust_followup 决定不发给买家：免打扰时段 {start}–{end}"
    )
    assert [(r["json"]["conversation"], r["json"]["kind"], r["verified"]) for r in receiver.requests] == [
        ("down", "followup", True)
    ]
