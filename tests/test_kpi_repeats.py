"""The supervisors' numbers when buyers and agents repeat themselves, or an event comes twice (docs/kpi.md, choices
16 and 17), and the daily log agreeing with them: hand-built logs, the figures computed on paper."""

from __future__ import annotations

from contextlib import closing
from datetime import date, timedelta
from typing import Any

from assistant import store
from assistant.daylog.query import DayQuery, Item, Rules, iter_items
from tests.helpers import BACKENDS
from tests.kpi_log import D, Log, ms

pytestmark = BACKENDS

# A flag as quality inspection logs it (assistant/qa): the KPIs count the message under its category.
COMPLAINT = ({"category": "complaint", "label": "投诉", "match": "投诉"},)


def day_items(log: Log, day: date = D, **query: Any) -> list[Item]:
    with closing(store.connect(log.path)) as conn:
        return list(iter_items(conn, DayQuery(day, **query), Rules.from_config(log.config)))


def log_repeating_buyers(log: Log) -> None:
    """u1 whose platform delivers two messages again under new ids, and who really asks 在吗 again a minute later;
    u2 who writes 在吗 twice three seconds apart."""
    log.customer("10:00:00", "在吗？")
    log.customer("10:00:00.800", "在吗？")  # the same message again (a retry, same second): no message of its own
    log.customer("10:01:00", "在吗？")  # written again a minute later: a message of its own
    log.agent("10:01:10", "A", "亲，在的呢")  # answers 10:00:00 after 70 s: slow
    log.customer("10:05:00", "这款有货吗", suggestions=["stock.yes"])
    log.used("10:05:00.500", "A", "stock.yes")
    log.agent("10:05:01", "A", "亲，有现货的哦")  # 1 s
    log.customer("10:05:01.500", "这款有货吗", suggestions=["stock.yes"])  # a relay's resend, after the reply
    log.used("10:05:03", "A", "stock.yes")  # clicked again: for 10:05:00, the message the copy repeats
    log.customer("11:00:00", "在吗", conversation="c2", customer="u2")
    log.customer("11:00:03", "在吗", conversation="c2", customer="u2")  # 3 s later: the buyer's own
    log.agent("11:00:10", "B", "亲，在的", conversation="c2", customer="u2")  # 10 s


def test_kpi_buyer_message_delivered_again_under_a_new_id_counts_once(log: Log) -> None:
    # Found: each copy counted in 顾客消息数 (答问比 2/5 = 0.4), the one after the reply opened a burst nobody
    # answered (慢响应 2, and 未回复 in the chart), its suggestions counted as shown twice and used twice.
    log_repeating_buyers(log)
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["customer_messages"], a["agent_messages"], a["ask_answer_ratio"]) == (3, 2, 0.667)
    assert (a["consulted"], a["served"], a["reply_rate"]) == (1, 1, 1.0)
    assert (a["responses"], a["response_avg_s"], a["slow_responses"], a["first_response_avg_s"]) == (2, 35.5, 1, 70.0)
    assert (a["suggestions_shown"], a["suggestions_used"], a["adoption_rate"]) == (1, 1, 1.0)
    assert (b["customer_messages"], b["responses"], b["response_avg_s"], b["slow_responses"]) == (2, 1, 10.0, 0)
    figures = log.report().figures
    assert (figures.hourly[10], figures.hourly[11]) == ((3, 2), (2, 1))
    assert figures.histogram["no reply"] == 0
    assert [(f.ts_ms, f.wait_s) for f in figures.slow_responses] == [(ms("10:00:00"), 70.0)]


def test_kpi_parallel_report_counts_a_buyers_copy_once_too(log: Log) -> None:
    log_repeating_buyers(log)
    for parallel in (False, True):
        a = log.metrics("A", parallel=parallel)
        assert (a["customer_messages"], a["slow_responses"], a["suggestions_shown"]) == (3, 1, 1)


def test_kpi_flagged_copies_count_once(log: Log) -> None:
    # Found: a complaint delivered twice counted twice in 质检, and so did an agent message's retry (rule 16 left
    # 质检 out).
    for when in ("10:00:00", "10:00:01"):
        log.event("message", when, store.Annotation(qa=COMPLAINT), sender="customer", text="再不发货我就投诉")
    for _ in range(2):
        log.event("message", "10:00:20", store.Annotation(qa=COMPLAINT), sender="agent", agent="A", text="投诉吧")
    r = log.report()
    assert r.figures.qa == {"A": {"complaint": 2}}
    assert [(f.sender, f.ts_ms) for f in r.figures.qa_flagged] == [
        ("customer", ms("10:00:00")),
        ("agent", ms("10:00:20")),
    ]
    assert log.metrics("A")["qa_flags"] == 1


def test_daylog_shows_a_buyers_copy_and_answers_the_burst_as_the_report_counts_it(log: Log) -> None:
    # Found: the resend after the reply opened a burst of its own in the log, marked 未回复 and slow.
    log_repeating_buyers(log)
    bursts = [
        (i["ts_ms"], i["response_s"], i["slow"], i["unanswered"])
        for i in day_items(log)
        if i.get("sender") == "customer" and "response_s" in i
    ]
    assert bursts == [
        (ms("10:00:00"), 70.0, True, False),
        (ms("10:05:00"), 1.0, False, False),
        (ms("11:00:00"), 10.0, False, False),
    ]
    shown = [i["ts_ms"] for i in day_items(log) if i.get("sender") == "customer"]
    assert len(shown) == 7  # every message as it came, the copies too
    stock = [i for i in day_items(log) if i.get("text") == "这款有货吗"]
    assert [i["suggestion_used"] for i in stock] == [True, False]  # both clicks for the message the copy repeats


def test_daylog_knows_a_copy_stamped_after_midnight_of_a_message_before_it(log: Log) -> None:
    # Found: a buyer's 23:59:59 message delivered again stamped 00:00:00.5 opened a burst of its own in the next day's
    # log (answered in 29.5 s), where the report for that day counts the copy nowhere.
    log.customer("23:59:59", "在吗？")
    log.customer("D+1 00:00:00.500", "在吗？")  # the same message again under a new id
    log.agent("D+1 00:00:30", "A", "亲，在的呢")
    next_day = D + timedelta(days=1)
    assert log.metrics("A", day=next_day)["customer_messages"] == 0
    items = day_items(log, day=next_day)
    assert [i["ts_ms"] for i in items if i.get("sender") == "customer"] == [ms("D+1 00:00:00.500")]  # shown
    assert [i["ts_ms"] for i in items if "response_s" in i] == []  # and no burst of its own
    # The message itself still has its burst on its own day, answered after midnight.
    bursts = [(i["ts_ms"], i["response_s"]) for i in day_items(log) if "response_s" in i]
    assert bursts == [(ms("23:59:59"), 31.0)]


def test_daylog_today_waits_as_the_report_does(log: Log) -> None:
    # Found: asked at 12:00, the log marked a customer who wrote at 11:59:30 未回复 and slow, where the report counts a
    # burst still waiting as slow (and 未回复 in its chart) only once it has waited more than slow_response_s.
    log.customer("11:58:00", conversation="c1", customer="u1")
    log.customer("11:59:30", conversation="c2", customer="u2")
    log.customer("11:59:59", conversation="c2", customer="u2")
    noon = ms("12:00")
    report = log.report(now=noon)
    assert report.figures.histogram["no reply"] == 1
    assert [f.conversation for f in report.figures.slow_responses] == ["c1"]
    bursts = [
        (i["conversation"], i["response_s"], i["slow"], i["unanswered"])
        for i in day_items(log, now_ms=noon)
        if "response_s" in i
    ]
    assert bursts == [("c1", None, True, True), ("c2", None, False, False)]
    # At 12:00:31 the second one has waited 61 s; the next day both stay 未回复 whatever the time.
    later = [i["unanswered"] for i in day_items(log, now_ms=noon + 31_000) if "response_s" in i]
    assert later == [True, True]
    final = [i["unanswered"] for i in day_items(log, now_ms=ms("D+2 00:00")) if "response_s" in i]
    assert final == [True, True]


def test_daylog_shows_an_order_event_delivered_twice_once(log: Log) -> None:
    # Found: an order's creation (or closing) delivered again under a new id was one order in the report and two lines
    # in the log (订单 o1 已下单 twice), as a payment notified twice had been before it was shown once.
    log.customer("10:00")
    log.agent("10:00:10", "A", "亲，有现货的")
    for _ in range(2):
        log.order("10:05", "o1", 199.0, agent="A")
        log.order("10:07", "o2", 59.0, agent="A")
        log.event("order_closed", "11:07", order="o2")
    log.order("10:08", "o1", 199.0, agent="A")  # a creation stamped again later is a line of its own
    assert (log.metrics("A")["ordered"], log.metrics("A")["sales"]) == (1, 0.0)
    orders = [(i["kind"], i["order"], i["ts_ms"]) for i in day_items(log) if "order" in i]
    assert orders == [
        ("order_created", "o1", ms("10:05")),
        ("order_created", "o2", ms("10:07")),
        ("order_created", "o1", ms("10:08")),
        ("order_closed", "o2", ms("11:07")),
    ]
