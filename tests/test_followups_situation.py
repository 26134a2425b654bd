"""What the conversation's words change in the idle follow-up: after-sale talk, complaints, a request to cancel,
goods that ship no parcel soon, a hand-over, and a buyer known only by an account id."""

from __future__ import annotations

import json

import pytest

from assistant import store
from assistant.followups.policy import AFTER_SALE, SHIPPING_WORDS
from assistant.suggest.phrases import Library
from tests.followup_harness import IDLE, T0, Harness, Recorder
from tests.helpers import BACKENDS, ROOT

pytestmark = BACKENDS


@pytest.fixture(scope="module")
def followup_phrases() -> Library:
    """The shipped phrases: the `harness` composes this module's follow-ups from them."""
    return Library.load([ROOT / "phrases"])


async def paid_then(h: Harness, conversation: str, buyer: str, agent: str) -> None:
    """An order created and paid, then the buyer's words and the agent's answer."""
    await h.send("order_created", conversation=conversation, order=f"o-{conversation}", amount=59.9)
    await h.send("order_paid", conversation=conversation, order=f"o-{conversation}", amount=59.9)
    await h.send(conversation=conversation, text=buyer)
    await h.agent_says(agent, conversation=conversation)


def sent(recorder: Recorder) -> dict[str, str]:
    return {call["conversation"]["conversation"]: call["text"] for call in recorder.calls}


async def test_followups_after_sale_words_after_a_payment_get_no_thanks_for_buying(
    harness: Harness, recorder: Recorder
) -> None:
    # Found: "we will ship it soon" / "thanks for your trust" went to buyers holding the goods, asking for a refund
    # or complaining, because an order was paid within the payment reminder window.
    await paid_then(harness, "got", "东西昨天到了 裤子太长想换短一点的", "好的亲，订单里申请换货就可以")
    await paid_then(harness, "refund", "拉链两天就坏了 我要退款", "抱歉亲，已经给您申请了")
    await paid_then(harness, "angry", "饼干全碎了 恶心死了 我要投诉", "非常抱歉亲，麻烦拍张照片")
    await paid_then(harness, "happy", "好的 谢谢", "亲，今天下午就给您安排")
    await harness.advance(IDLE)
    assert list(sent(recorder)) == ["happy"]  # the buyer with nothing after the payment still gets thanks
    by = {f.conversation: f for f in harness.followups()}
    for conversation in ("got", "refund", "angry"):
        f = by[conversation]
        assert f.state == "cancelled" and f.last_error is not None, conversation
        assert f.last_error.startswith(AFTER_SALE.split("(")[0]), f.last_error
    assert (by["happy"].phrase_id or "").startswith("followup_paid.")


async def test_followups_complaint_or_demanding_buyer_gets_no_closing(harness: Harness, recorder: Recorder) -> None:
    # Found: buyers threatening 12315 or sending photos of a defect were invited to 收藏店铺, and the demanding
    # type's closing said 您的要求我都记下了 after the agent had refused the demand.
    await harness.send(conversation="threat", text="半个月了还没发 再拖我就打12315")
    await harness.agent_says("亲，我这就去问仓库", conversation="threat")
    harness.customer_types["boss"] = "demanding"
    await harness.send(conversation="boss", text="这单必须周日前给我送到")
    await harness.agent_says("亲，周日前到不能保证呢", conversation="boss")
    await harness.send(conversation="browsing", text="这个有蓝色的吗")
    await harness.agent_says("亲，有的哦", conversation="browsing")
    await harness.advance(IDLE)
    assert list(sent(recorder)) == ["browsing"]
    states = {f.conversation: f.state for f in harness.followups()}
    assert states == {"threat": "cancelled", "boss": "cancelled", "browsing": "sent"}


async def test_followups_buyer_who_asked_to_cancel_gets_no_payment_reminder(
    harness: Harness, recorder: Recorder
) -> None:
    # Found: 拍错了 帮我取消订单, the agent agreed, and a 催付 went out until the platform's order_closed came.
    await harness.send(conversation="oops", text="下错单了 麻烦帮我取消订单")
    await harness.agent_says("好的亲，您在订单页取消就行", conversation="oops")
    await harness.send("order_created", conversation="oops", order="o-oops", amount=45.0)
    await harness.send(conversation="later", text="好的 我晚点付")
    await harness.agent_says("好的亲", conversation="later")
    await harness.send("order_created", conversation="later", order="o-later", amount=45.0)
    await harness.advance(IDLE)
    kinds = {call["conversation"]["conversation"]: call["kind"] for call in recorder.calls}
    assert kinds == {"later": "payment_reminder"}
    [oops] = [f for f in harness.followups() if f.conversation == "oops"]
    assert (oops.kind, oops.state) == ("followup", "cancelled")


async def test_followups_words_the_buyer_declines_do_not_count(harness: Harness, recorder: Recorder) -> None:
    # Found: 不用退款了 and 不想取消了 read as a refund and a cancellation, so a satisfied buyer got no thanks and one
    # who changed their mind no payment reminder. Words still asking or still waiting keep counting.
    await paid_then(harness, "kept", "不用退款了，谢谢 衣服挺好的", "好的亲，有问题随时找我")
    await paid_then(harness, "fixed", "退货就算了 我自己缝一下", "好的亲")
    await paid_then(harness, "waiting", "怎么还没有退款", "亲，已经在处理了")
    await harness.send(conversation="stay", text="不想取消了，帮我发货吧")
    await harness.agent_says("好的亲，付款后马上安排", conversation="stay")
    await harness.send("order_created", conversation="stay", order="o-stay", amount=45.0)
    await harness.advance(IDLE)
    kinds = {call["conversation"]["conversation"]: call["kind"] for call in recorder.calls}
    assert kinds == {"kept": "followup", "fixed": "followup", "stay": "payment_reminder"}
    [waiting] = [f for f in harness.followups() if f.conversation == "waiting"]
    assert waiting.state == "cancelled"


async def test_followups_virtual_and_presale_goods_are_not_promised_shipping(
    harness: Harness, recorder: Recorder
) -> None:
    # Found: a 会员月卡 whose code the agent had delivered, a top-up done, and a presale item shipping in 15 days were
    # all told 订单我们会尽快为您安排发货.
    conn = store.connect(harness.db)
    try:
        conn.execute(
            "INSERT INTO catalog_items (item_id, title, attrs, size_chart, source, imported_ms) VALUES (?, ?, ?, ?, ?, ?)",
            ("9001", "无线耳机 新款", json.dumps([["发货时间", "预售 付款后20天内发货"]], ensure_ascii=False), None,
             "test", T0),
        )  # fmt: skip
        conn.commit()
    finally:
        conn.close()
    for conversation, agent in (
        ("code", "兑换码在订单详情里，复制就能用"),
        ("topup", "话费已经到账了哦"),
        ("presale", "好的亲"),
    ):
        item = "9001" if conversation == "presale" else None
        await harness.send("order_created", conversation=conversation, order=f"o-{conversation}", amount=30.0)
        await harness.send("order_paid", conversation=conversation, order=f"o-{conversation}", amount=30.0)
        await harness.send(conversation=conversation, text="好的 谢谢", item=item)
        await harness.agent_says(agent, conversation=conversation)
    await paid_then(harness, "parcel", "好的 谢谢", "亲，今天下午就给您安排")
    await harness.advance(IDLE)
    texts = sent(recorder)
    assert set(texts) == {"code", "topup", "presale", "parcel"}
    for conversation in ("code", "topup", "presale"):
        assert not any(w in texts[conversation] for w in SHIPPING_WORDS), texts[conversation]
    by = {f.conversation: f for f in harness.followups()}
    assert all(by[c].kind == "followup" for c in texts)
    # A parcel still gets the library's paid closings (all of which speak of shipping or the parcel).
    assert (by["parcel"].phrase_id or "").startswith("followup_paid.")


async def test_followups_hand_over_waits_for_the_new_agents_reply(harness: Harness, recorder: Recorder) -> None:
    # Found: 稍等我转给专门的同事, then conversation_assigned: 8 s later a goodbye signed by the agent who handed over.
    await harness.send(text="发票怎么开")
    await harness.agent_says("亲，稍等我转给负责发票的同事")
    await harness.send("conversation_assigned", agent="财务 阿青")
    await harness.advance(IDLE)
    assert recorder.calls == [] and harness.followups() == []
    assert harness.rows("SELECT state, reason FROM timers") == [("cancelled", "handed_over")]
    await harness.send("message", sender="agent", agent="财务 阿青", text="亲，发票在订单页申请就可以")
    await harness.advance(IDLE)
    [f] = harness.followups()
    assert (f.state, f.agent) == ("sent", "财务 阿青")


async def test_followups_reassigned_to_the_same_agent_still_closes(harness: Harness, recorder: Recorder) -> None:
    await harness.send(text="这个有蓝色的吗")
    await harness.agent_says("亲，有的哦")
    await harness.send("conversation_assigned", agent="小美")
    await harness.advance(IDLE)
    assert [f.state for f in harness.followups()] == ["sent"]
