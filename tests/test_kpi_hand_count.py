"""Three figures a supervisor pays on — 询单转化率, 平均响应, 答问比 — against a count by hand of a small day with the
awkward cases (docs/kpi.md): a buyer who orders without asking, an order paid the next day, one buyer in two
conversations (a contact merge, a second chat window), a transfer mid-burst, messages at midnight exactly."""

from __future__ import annotations

from tests.helpers import BACKENDS
from tests.kpi_log import Log


def awkward_day(log: Log) -> None:
    # u1 asks A, orders, and pays the next morning (within the payment window: it counts for D).
    log.customer("10:00", "这款有货吗", conversation="c1", customer="u1")
    log.agent("10:00:20", "A", "亲，您好，有货的", conversation="c1", customer="u1")
    log.customer("10:01", "好的，我拍了", conversation="c1", customer="u1")
    log.agent("10:01:10", "A", "好的亲", conversation="c1", customer="u1")
    log.order("10:02", "o1", 100.0, conversation="c1", customer="u1")
    log.paid("D+1 09:00", "o1", 100.0, conversation="c1", customer="u1")
    # u2 orders without asking (静默下单: in no figure), then asks B when it ships (售后: consulted, no inquiry).
    log.order("09:00", "o2", 50.0, agent="B", conversation="c2", customer="u2")
    log.paid("09:01", "o2", 50.0, conversation="c2", customer="u2")
    log.customer("15:00", "什么时候发货", conversation="c2", customer="u2")
    log.agent("15:00:40", "B", "亲，今天就发哦", conversation="c2", customer="u2")
    # u3 writes twice to A's conversation, which is handed to B, who answers: one burst of B's, 120 s from the first.
    log.customer("14:00", "能便宜点吗", agent="A", conversation="c3", customer="u3")
    log.customer("14:00:30", "在吗", agent="A", conversation="c3", customer="u3")
    log.event("conversation_assigned", "14:01", agent="B", conversation="c3", customer="u3")
    log.agent("14:02", "B", "亲，您好，现在下单有券哦", conversation="c3", customer="u3")
    # Midnight: u4 at 00:00:00.000 is D's; u6's 23:59:59 the day before is not (A's reply at 00:00:10 is D's message);
    # u7's 00:00:00.000 the next day is not.
    log.customer("00:00", "在吗", conversation="c4", customer="u4")
    log.agent("00:00:30", "A", "在的亲", conversation="c4", customer="u4")
    log.customer("D-1 23:59:59", "还在吗", conversation="c6", customer="u6")
    log.agent("00:00:10", "A", "在的亲", conversation="c6", customer="u6")
    log.customer("D+1 00:00", "你好", conversation="c7", customer="u7")
    log.agent("D+1 00:00:05", "A", "您好亲", conversation="c7", customer="u7")
    # u5 in two conversations (one buyer since a contact merge): A answers the first, B the second, last before the
    # order, which names no agent: B's sale; u5 is an inquiry of A's too, without an order.
    log.customer("16:00", "有红色吗", conversation="c5a", customer="u5")
    log.agent("16:00:15", "A", "亲，有的", conversation="c5a", customer="u5")
    log.customer("16:30", "红色XL有吗", conversation="c5b", customer="u5")
    log.agent("16:30:25", "B", "亲，有的哦", conversation="c5b", customer="u5")
    log.order("16:40", "o5", 80.0, conversation="c5b", customer="u5")
    log.paid("16:41", "o5", 80.0, conversation="c5b", customer="u5")
    # u8 asks A in the evening and orders the next morning, the order naming C, who sent the 催付 and never had the
    # inquiry: A's sale, for D.
    log.customer("20:00", "这个多久能到", conversation="c8", customer="u8")
    log.agent("20:00:10", "A", "亲，一般两三天到", conversation="c8", customer="u8")
    log.order("D+1 10:00", "o8", 60.0, agent="C", conversation="c8", customer="u8")
    log.paid("D+1 10:05", "o8", 60.0, conversation="c8", customer="u8")
    # u10's 在吗 of 23:59:59.500 the day before, delivered again at 00:00:00.800 (rule 17): no message of D, no burst.
    log.customer("D-1 23:59:59.5", "在吗", conversation="c10", customer="u10")
    log.customer("00:00:00.8", "在吗", conversation="c10", customer="u10")
    log.agent("00:00:05", "A", "在的亲", conversation="c10", customer="u10")


@BACKENDS
def test_kpi_three_figures_agree_with_a_count_by_hand(log: Log) -> None:
    awkward_day(log)
    # By hand. A: buyers' messages of D 10:00, 10:01, 00:00, 16:00, 20:00 (5); A's 10:00:20, 10:01:10, 00:00:30,
    # 00:00:10, 16:00:15, 20:00:10, 00:00:05 (7); bursts of D answered in 20, 10, 30, 15, 10 s; inquiries u1, u4, u5,
    # u8, paid u1, u8. B: 15:00, 14:00, 14:00:30, 16:30 (4); 15:00:40, 14:02, 16:30:25 (3); bursts 40, 120, 25 s;
    # inquiries u3, u5 (u2 ordered before asking), paid u5.
    expected = {
        "A": {"inquiries": 4, "paid": 2, "conversion": 0.5, "responses": 5, "response_avg_s": 17.0,
              "customer_messages": 5, "agent_messages": 7, "ask_answer_ratio": 1.4},
        "B": {"inquiries": 2, "paid": 1, "conversion": 0.5, "responses": 3, "response_avg_s": 61.67,
              "customer_messages": 4, "agent_messages": 3, "ask_answer_ratio": 0.75},
        "(team)": {"inquiries": 6, "paid": 3, "conversion": 0.5, "responses": 8, "response_avg_s": 33.75,
                   "customer_messages": 9, "agent_messages": 10, "ask_answer_ratio": 1.111},
    }  # fmt: skip
    for parallel in (False, True):
        r = log.report(parallel=parallel)
        got = {row.agent if row is not r.team else "(team)": row.metrics for row in [*r.agents, r.team]}
        assert {a: {k: got[a][k] for k in keys} for a, keys in expected.items()} == expected
        assert set(got) == {"A", "B", "(team)"}  # C, named by an order alone, has no row
