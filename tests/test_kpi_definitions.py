"""Each KPI definition of docs/kpi.md on a hand-built log (shop s1, day D = 2026-11-20, Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from assistant import store
from assistant.kpi import metrics
from tests.helpers import BACKENDS, replace_config
from tests.kpi_log import D, Log, ms

pytestmark = BACKENDS


# ---- consulted, served, reply rate ---------------------------------------------------------------


def test_kpi_reply_rate_is_served_over_consulted(log: Log) -> None:
    log.customer("10:00", customer="u1", conversation="c1", agent="A")
    log.agent("10:00:20", "A", customer="u1", conversation="c1")
    log.customer("11:00", customer="u2", conversation="c2", agent="A")  # never answered
    m = log.metrics("A")
    assert (m["consulted"], m["served"], m["reply_rate"]) == (2, 1, 0.5)


def test_kpi_consulted_counts_customers_not_messages(log: Log) -> None:
    for second in (0, 5, 9):
        log.customer(f"10:00:{second:02d}")
    log.agent("10:00:30", "A")
    log.customer("15:00", conversation="c9")  # the same customer in a second conversation
    log.agent("15:00:10", "A", conversation="c9")
    m = log.metrics("A")
    assert (m["consulted"], m["served"], m["customer_messages"]) == (1, 1, 4)


def test_kpi_customer_messages_of_other_days_do_not_count(log: Log) -> None:
    log.customer("D-1 12:00")
    log.agent("D-1 12:00:10", "A")
    log.customer("D+1 12:00")
    log.agent("D+1 12:00:10", "A")
    assert log.reports() == [] or log.metrics("A")["consulted"] == 0


def test_kpi_reply_after_midnight_serves_the_customer_of_d(log: Log) -> None:
    log.customer("23:59:50")
    log.agent("D+1 00:00:20", "A")
    m = log.metrics("A")
    assert (m["consulted"], m["served"], m["first_response_avg_s"], m["response_avg_s"]) == (1, 1, 30.0, 30.0)


def test_kpi_reply_after_the_next_day_does_not_count(log: Log) -> None:
    log.customer("23:00", agent="A")
    log.agent("D+2 09:00", "A")  # past the end of D+1
    m = log.metrics("A")
    assert (m["served"], m["responses"], m["slow_responses"]) == (0, 0, 1)


# ---- who a customer message belongs to -----------------------------------------------------------


def test_kpi_auto_messages_are_not_responses(log: Log) -> None:
    log.customer("10:00")
    log.auto("10:00:05", agent="A")
    log.agent("10:01:00", "A")
    m = log.metrics("A")
    assert (m["first_response_avg_s"], m["response_avg_s"], m["agent_messages"], m["served"]) == (60.0, 60.0, 1, 1)


def test_kpi_auto_message_alone_leaves_the_customer_unanswered(log: Log) -> None:
    log.customer("10:00", agent="A")
    log.auto("10:00:05", agent="A")
    m = log.metrics("A")
    assert (m["consulted"], m["served"], m["responses"], m["slow_responses"], m["agent_messages"]) == (1, 0, 0, 1, 0)


def test_kpi_unanswered_message_belongs_to_its_agent_field(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.customer("10:05", agent="B")  # reassigned to B, who never answers
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["customer_messages"], b["customer_messages"]) == (1, 1)
    assert (b["consulted"], b["served"], b["slow_responses"]) == (1, 0, 1)


def test_kpi_unanswered_burst_splits_its_messages_by_their_agent_field(log: Log) -> None:
    """docs/kpi.md, choice 6: an unanswered burst belongs to the agent current at its first message, and each
    of its messages counts for the agent the rule gives for it, its own `agent` field first."""
    log.customer("09:59")
    log.agent("09:59:10", "A")
    log.customer("10:00", agent="A", suggestions=["greeting.welcome"])
    log.customer("10:05", text="还在吗", agent="B", suggestions=["urge.reply_delay"])  # reassigned; nobody answers
    log.customer("10:06", text="人呢")  # no field: the last agent who wrote, A
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["consulted"], a["customer_messages"], a["suggestions_shown"], a["slow_responses"]) == (1, 3, 1, 1)
    assert (b["consulted"], b["served"], b["customer_messages"], b["suggestions_shown"]) == (1, 0, 1, 1)
    assert (b["slow_responses"], b["first_responses"], b["responses"], b["inquiries"]) == (0, 0, 0, 1)
    team = log.report().team.metrics
    assert (team["customer_messages"], team["consulted"], team["slow_responses"], team["responses"]) == (4, 2, 1, 1)


def test_kpi_unanswered_message_without_agent_goes_to_the_last_agent(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.customer("10:05")
    log.customer("10:05:20")
    m = log.metrics("A")
    assert (m["customer_messages"], m["responses"], m["slow_responses"], m["response_avg_s"]) == (3, 1, 1, 10.0)


def test_kpi_message_nobody_owns_is_unassigned(log: Log) -> None:
    log.customer("10:00", customer="u7", conversation="c7")
    r = log.report()
    assert [row.agent for row in r.agents] == [metrics.UNASSIGNED]
    m = r.agents[0].metrics
    assert (m["consulted"], m["served"], m["slow_responses"], m["score"], m["commission"]) == (1, 0, 1, None, 0.0)


def test_kpi_two_agents_in_one_conversation_split_its_messages(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.customer("10:01")
    log.agent("10:01:30", "B")  # transferred
    log.customer("10:02")
    log.agent("10:02:05", "B")
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["consulted"], a["customer_messages"], a["responses"], a["first_responses"]) == (1, 1, 1, 1)
    assert (b["consulted"], b["customer_messages"], b["responses"], b["first_responses"]) == (1, 2, 2, 0)
    assert (a["response_avg_s"], b["response_avg_s"]) == (10.0, 17.5)
    assert log.report().team.metrics["consulted"] == 2  # team counts are the agents' sums


# ---- bursts, response times, slow responses -------------------------------------------------------


def test_kpi_burst_response_runs_from_its_first_message(log: Log) -> None:
    log.customer("10:00:00")
    log.customer("10:00:30")
    log.customer("10:00:50")
    log.agent("10:01:10", "A")  # 70 s after the burst began
    log.agent("10:01:15", "A")
    log.customer("10:02:00")
    log.agent("10:02:05", "A")
    m = log.metrics("A")
    assert (m["responses"], m["response_avg_s"], m["slow_responses"]) == (2, 37.5, 1)
    assert (m["first_responses"], m["first_response_avg_s"]) == (1, 70.0)
    assert (m["customer_messages"], m["agent_messages"], m["ask_answer_ratio"]) == (4, 3, 0.75)


def test_kpi_slow_means_strictly_slower_than_the_threshold(log: Log) -> None:
    log.customer("10:00:00", conversation="c1", customer="u1")
    log.agent("10:01:00", "A", conversation="c1", customer="u1")  # exactly 60 s: not slow
    log.customer(ms("11:00:00"), conversation="c2", customer="u2")
    log.agent(ms("11:00:00") + 60_001, "A", conversation="c2", customer="u2")
    m = log.metrics("A")
    assert (m["responses"], m["slow_responses"]) == (2, 1)


def test_kpi_customer_still_waiting_within_the_threshold_is_not_slow_in_a_report_made_mid_day(log: Log) -> None:
    """A report asked for at 12:00 on D, its log written up to then: a customer who wrote 30 s ago is waiting, not
    slow; one waiting 2 minutes is. Once the day is final, both unanswered bursts are slow."""
    log.customer("10:00:00", customer="u1", conversation="c1", agent="A")
    log.agent("10:00:20", "A", customer="u1", conversation="c1")  # 20 s
    log.customer("11:58:00", "有货吗", customer="u2", conversation="c2", agent="A")  # 120 s by 12:00: slow
    log.customer("11:59:30", "在吗", customer="u3", conversation="c3", agent="A")  # 30 s by 12:00: waiting
    midday = log.report(now=ms("12:00:00"))
    assert midday.pending is True
    m = midday.agents[0].metrics
    assert (m["consulted"], m["served"], m["responses"], m["slow_responses"]) == (3, 1, 1, 1)
    assert [f.customer for f in midday.figures.slow_responses] == ["u2"]
    assert (midday.figures.histogram["≤10s"], midday.figures.histogram["10–30s"]) == (0, 1)
    assert midday.figures.histogram[metrics.NO_REPLY] == 1
    final = log.report()
    assert final.pending is False
    m = final.agents[0].metrics
    assert (m["consulted"], m["served"], m["responses"], m["slow_responses"]) == (3, 1, 1, 2)
    assert [f.customer for f in final.figures.slow_responses] == ["u2", "u3"]
    assert final.figures.histogram[metrics.NO_REPLY] == 2


def test_kpi_first_response_is_per_conversation_and_day(log: Log) -> None:
    log.customer("09:00", conversation="c1")
    log.agent("09:00:04", "A", conversation="c1")
    log.customer("09:30", conversation="c1")
    log.agent("09:30:20", "A", conversation="c1")
    log.customer("10:00", conversation="c2", customer="u2")
    log.agent("10:00:08", "A", conversation="c2", customer="u2")
    m = log.metrics("A")
    assert (m["first_responses"], m["first_response_avg_s"]) == (2, 6.0)
    assert (m["responses"], m["response_avg_s"]) == (3, pytest.approx(32 / 3, abs=0.01))


def test_kpi_first_response_is_credited_to_the_replying_agent(log: Log) -> None:
    log.customer("10:00", agent="A")
    log.agent("10:00:12", "B")
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["consulted"], b["consulted"], b["first_responses"], b["first_response_avg_s"]) == (0, 1, 1, 12.0)


def test_kpi_burst_begun_the_day_before_keeps_its_response_there(log: Log) -> None:
    log.customer("D-1 23:59:30")
    log.customer("00:00:10")
    log.agent("00:00:40", "A")
    today = log.metrics("A")
    assert (today["customer_messages"], today["consulted"], today["served"]) == (1, 1, 1)
    assert (today["responses"], today["slow_responses"], today["first_responses"]) == (0, 0, 1)
    assert today["first_response_avg_s"] == 30.0  # from the day's first message
    yesterday = log.metrics("A", D - timedelta(days=1))
    assert (yesterday["customer_messages"], yesterday["responses"], yesterday["response_avg_s"]) == (1, 1, 70.0)


def test_kpi_agent_reply_after_midnight_closes_the_old_burst(log: Log) -> None:
    log.customer("D-1 23:59:30")
    log.agent("00:00:05", "A")  # answers yesterday's burst
    log.customer("00:01:00")  # a new burst of D
    log.agent("00:01:09", "A")
    m = log.metrics("A")
    assert (m["responses"], m["response_avg_s"], m["agent_messages"]) == (1, 9.0, 2)


# ---- the funnel: inquiries, orders, payments ------------------------------------------------------


def test_kpi_after_sale_contacts_are_not_inquiries(log: Log) -> None:
    log.order("D-3 10:00", "o-old", 50, customer="u1", conversation="c0", agent="A")
    log.paid("D-3 10:05", "o-old", 50, customer="u1", conversation="c0")
    log.customer("10:00", customer="u1", conversation="c1")  # 售后: ordered before
    log.agent("10:00:10", "A", customer="u1", conversation="c1")
    log.order("09:00", "o-early", 30, customer="u3", conversation="c3", agent="A")  # ordered before writing on D
    log.customer("11:00", customer="u3", conversation="c3")
    log.agent("11:00:10", "A", customer="u3", conversation="c3")
    log.customer("12:00", customer="u2", conversation="c2")  # 售前
    log.agent("12:00:10", "A", customer="u2", conversation="c2")
    m = log.metrics("A")
    assert (m["consulted"], m["inquiries"], m["ordered"], m["conversion"]) == (3, 1, 0, 0.0)


def test_kpi_order_created_after_midnight_counts_for_the_day_of_the_inquiry(log: Log) -> None:
    log.customer("23:50")
    log.agent("23:50:10", "A")
    log.order("D+1 00:30", "o1", 199, agent="A")
    log.paid("D+1 00:31", "o1", 199)
    m = log.metrics("A")
    assert (m["inquiries"], m["ordered"], m["paid"], m["sales"], m["conversion"]) == (1, 1, 1, 199.0, 1.0)
    assert log.metrics("A", D + timedelta(days=1))["ordered"] == 0  # no customer message on D+1


@pytest.mark.parametrize("parallel", [False, True])
def test_kpi_range_credits_an_order_once_to_its_earliest_day(log: Log, parallel: bool) -> None:
    """docs/kpi.md, "The team row, ranges": an order two days of a range would credit counts on the first."""
    nxt = D + timedelta(days=1)
    log.customer("23:00")  # u1 consults on D …
    log.agent("23:00:10", "A")
    log.customer("D+1 00:10")  # … and again on D+1, before ordering
    log.agent("D+1 00:10:10", "A")
    log.order("D+1 00:20", "o1", 100, agent="A")
    log.paid("D+1 00:21", "o1", 100)
    log.customer("D+1 10:00", customer="u2", conversation="c2")  # an order D does not credit, on D+1 alone
    log.agent("D+1 10:00:10", "A", customer="u2", conversation="c2")
    log.order("D+1 10:05", "o2", 50, agent="A", customer="u2", conversation="c2")
    log.paid("D+1 10:06", "o2", 50, customer="u2", conversation="c2")
    funnel = ("inquiries", "ordered", "paid", "sales", "conversion", "commission")
    day, next_day = log.metrics("A", parallel=parallel), log.metrics("A", nxt, parallel=parallel)
    assert tuple(day[k] for k in funnel) == (1, 1, 1, 100.0, 1.0, 6.0)
    assert tuple(next_day[k] for k in funnel) == (2, 2, 2, 150.0, 1.0, 9.0)  # a single day is unchanged
    (both,) = log.reports(D, nxt, parallel=parallel)
    (a,) = both.agents
    # o1 once, on D; on D+1 u1 is still an inquiry, not an order: 3 inquiries, 2 orders, ¥150 at 6 %.
    assert tuple(a.metrics[k] for k in funnel) == (3, 2, 2, 150.0, 0.6667, 9.0)
    assert both.team.metrics["sales"] == 150.0 and both.team.metrics["commission"] == 9.0


def test_kpi_order_after_the_next_day_is_not_counted(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("D+2 00:00:01", "o1", 99, agent="A")
    log.paid("D+2 00:05", "o1", 99)
    m = log.metrics("A")
    assert (m["inquiries"], m["ordered"], m["paid"], m["order_rate"], m["pay_rate"]) == (1, 0, 0, 0.0, None)


def test_kpi_order_must_follow_the_first_message_of_the_day(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:00:00", "o1", 99, agent="A")  # same instant: not after it
    assert log.metrics("A")["ordered"] == 0


def test_kpi_next_day_payment_counts_and_the_day_stays_pending(log: Log) -> None:
    log.customer("20:00")
    log.agent("20:00:10", "A")
    log.order("20:30", "o1", 88.8, agent="A")
    log.paid("D+1 10:00", "o1", 88.8)
    before_payment = log.report(now=ms("D+1 09:00"))
    assert before_payment.pending is True
    assert before_payment.agents[0].metrics["paid"] == 0
    after_payment = log.report(now=ms("D+1 12:00"))
    assert after_payment.pending is True  # until D+1 has ended
    assert (after_payment.agents[0].metrics["paid"], after_payment.agents[0].metrics["sales"]) == (1, 88.8)
    assert log.report(now=ms("D+4 23:59")).pending is True  # and the 72 h payment window after it
    final = log.report(now=ms("D+5 00:00"))
    assert final.pending is False
    assert final.to_json()["pending"] is False


def test_kpi_order_is_credited_to_its_agent_field(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.customer("10:01", conversation="c2")
    log.agent("10:01:10", "B", conversation="c2")  # the customer asked both
    log.order("10:30", "o1", 100, agent="A")  # A answered last, but the order names A
    log.paid("10:31", "o1", 100)
    log.order("10:40", "o2", 50, agent="B")
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["inquiries"], a["ordered"], a["sales"], b["inquiries"], b["ordered"], b["sales"]) == (
        1,
        1,
        100.0,
        1,
        1,
        0,
    )


def test_kpi_order_naming_an_agent_without_the_inquiry_goes_to_the_inquiry_agent(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:30", "o1", 100, agent="B")  # B (say, a colleague's 催付) never had this customer's inquiry
    log.paid("10:31", "o1", 100)
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["inquiries"], a["ordered"], a["paid"], a["sales"]) == (1, 1, 1, 100.0)
    assert (b["inquiries"], b["ordered"]) == (0, 0)
    team = log.report().team.metrics
    assert (team["inquiries"], team["ordered"], team["paid"], team["sales"]) == (1, 1, 1, 100.0)


def test_kpi_order_of_an_unanswered_inquiry_goes_to_the_agent_the_message_named(log: Log) -> None:
    log.customer("10:00", agent="W")  # only an auto-reply: W's unanswered inquiry
    log.auto("10:00:05", agent="W")
    log.order("10:30", "o1", 60)  # names no agent, and no human wrote to the customer
    log.paid("10:31", "o1", 60, agent="B")  # a payment naming an agent who never had the inquiry
    w = log.metrics("W")
    assert (w["inquiries"], w["ordered"], w["paid"], w["sales"]) == (1, 1, 1, 60.0)


def test_kpi_order_without_agent_goes_to_the_last_human_writer_in_the_shop(log: Log) -> None:
    log.customer("10:00", conversation="c1")
    log.agent("10:00:10", "A", conversation="c1")
    log.customer("10:20", conversation="c2")  # the same customer, another conversation of the shop
    log.agent("10:20:10", "B", conversation="c2")
    log.auto("10:25", agent="A", conversation="c1")  # not a human message
    log.order("10:30", "o1", 100, conversation="c1")
    log.paid("10:35", "o1", 100, conversation="c1")
    a, b = log.metrics("A"), log.metrics("B")
    assert (a["inquiries"], a["ordered"], b["inquiries"], b["ordered"], b["paid"]) == (1, 0, 1, 1, 1)


def test_kpi_order_of_another_shop_is_ignored(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:30", "o1", 100, agent="A", shop="s2")
    m = log.metrics("A")
    assert (m["inquiries"], m["ordered"]) == (1, 0)


def test_kpi_sales_sum_paid_amounts_and_aov_divides_by_paying_customers(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:10", "o1", 99.9, agent="A")
    log.paid("10:11", "o1", 99.9)
    log.order("10:20", "o2", 0.1, agent="A")
    log.paid("10:21", "o2", 0.1)
    log.order("10:30", "o3", 500, agent="A")  # never paid
    log.customer("11:00", customer="u2", conversation="c2")
    log.agent("11:00:10", "A", customer="u2", conversation="c2")
    log.order("11:10", "o4", 50, agent="A", customer="u2", conversation="c2")
    log.paid("11:11", "o4", 50, customer="u2", conversation="c2")
    m = log.metrics("A")
    assert (m["inquiries"], m["ordered"], m["paid"]) == (2, 2, 2)
    assert (m["sales"], m["aov"]) == (150.0, 75.0)
    assert (m["order_rate"], m["pay_rate"], m["conversion"]) == (1.0, 1.0, 1.0)


def test_kpi_sales_count_every_payment_of_an_order_paid_in_instalments(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:05", "pre1", 200, agent="A")  # 预售: 定金 then 尾款
    log.paid("10:06", "pre1", 30)
    log.paid("20:00", "pre1", 170)
    log.paid("20:00", "pre1", 170)  # the balance notified twice (another event id): one payment
    m = log.metrics("A")
    assert (m["paid"], m["sales"], m["aov"], m["commission"]) == (1, 200.0, 200.0, 12.0)
    assert log.metrics("A", now=ms("12:00"))["sales"] == 30.0  # the balance is not in yet


def test_kpi_sales_of_a_repriced_order_are_what_was_paid(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:10", "A")
    log.order("10:05", "o1", 200, agent="A")
    log.paid("10:06", "o1", 180)
    assert log.metrics("A")["sales"] == 180.0


def test_kpi_payment_without_its_order_created_counts_as_an_order_then(log: Log) -> None:
    log.customer("12:00")
    log.agent("12:00:10", "A")
    log.paid("12:05", "p22", 50, agent="A")  # the order_created webhook was lost
    m = log.metrics("A")
    assert (m["inquiries"], m["ordered"], m["paid"], m["sales"]) == (1, 1, 1, 50.0)
    log.customer("D+1 09:00")  # on D+1 the customer is after-sale: the order existed
    assert log.metrics("A", day=D + timedelta(days=1))["inquiries"] == 0


def test_kpi_payments_of_a_log_written_before_the_payments_table_all_count(db_path: store.Location) -> None:
    old = Log(db_path)
    old.customer("10:00")
    old.agent("10:00:10", "A")
    old.order("10:05", "pre1", 200, agent="A")
    old.paid("10:06", "pre1", 30)
    old.paid("20:00", "pre1", 170)
    old.paid("20:00", "pre1", 170)
    # As the log was before: no payments table, the order keeping its first payment; then the migration runs.
    applied = "_assistant_migrations" if store.dialect(old.conn) == "postgresql" else "_sqlite_migrations"
    with store.transaction(old.conn):
        old.conn.execute("DROP TABLE payments")
        old.conn.execute("UPDATE orders SET paid_amount = 30")
        old.conn.execute(f"DELETE FROM {applied} WHERE name = '090_payments'")
    old.close()
    again = Log(db_path)
    try:
        assert again.metrics("A")["sales"] == 200.0
    finally:
        again.close()


def test_kpi_agent_names_differing_by_spaces_are_one_agent_in_new_and_old_logs(db_path: store.Location) -> None:
    old = Log(db_path)
    old.customer("10:00")
    old.agent("10:00:10", "A", unchecked_agent="A ")  # as a log written before names were trimmed holds it
    old.customer("11:00", customer="u2\u3000", conversation="c2")
    old.agent("11:00:10", "A ", customer="u2", conversation="c2")  # trimmed at intake
    applied = "_assistant_migrations" if store.dialect(old.conn) == "postgresql" else "_sqlite_migrations"
    with store.transaction(old.conn):
        old.conn.execute(f"DELETE FROM {applied} WHERE name = '100_trimmed_names'")
    old.close()
    again = Log(db_path)
    try:
        report = again.report()
        assert [(row.agent, row.metrics["consulted"]) for row in report.agents] == [("A", 2)]
    finally:
        again.close()


def test_kpi_funnel_is_a_times_b_equals_c(log: Log) -> None:
    for i in range(5):  # five inquiries, three orders, two paid
        log.customer(f"10:0{i}", customer=f"u{i}", conversation=f"c{i}")
        log.agent(f"10:0{i}:10", "A", customer=f"u{i}", conversation=f"c{i}")
        if i < 3:
            log.order(f"10:0{i}:30", f"o{i}", 10, agent="A", customer=f"u{i}", conversation=f"c{i}")
        if i < 2:
            log.paid(f"10:0{i}:40", f"o{i}", 10, customer=f"u{i}", conversation=f"c{i}")
    m = log.metrics("A")
    assert (m["order_rate"], m["pay_rate"], m["conversion"]) == (0.6, 0.6667, 0.4)
    assert m["order_rate"] * m["pay_rate"] == pytest.approx(m["conversion"], abs=1e-4)


# ---- messages, short replies, follow-ups, suggestions --------------------------------------------


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("好的", True),
        ("  好的呢 ", True),
        ("好的呢亲", False),
        ("\u3000\u3000嗯\u3000", True),
        ("ok!", True),
        ("", True),
        ("\t亲亲亲亲\n", False),
        ("👍", True),
        ("嗯 嗯 嗯", True),
        ("好\u00a0的 呢 亲", False),
    ],
)
def test_kpi_short_reply_is_under_four_characters_without_whitespace(log: Log, text: str, short: bool) -> None:
    log.customer("10:00")
    log.agent("10:00:05", "A", text=text)
    log.auto("10:06", text="好", followup_id="f1", agent="A")  # auto messages are never short replies
    assert log.metrics("A")["short_replies"] == int(short)


def test_kpi_short_replies_are_listed_with_their_text(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:05", "A", text="嗯")
    log.agent("10:00:06", "A", text="亲，这款今天下单今天发货哦")
    listed = log.report().figures.short_replies
    assert [(f.agent, f.text, f.conversation) for f in listed] == [("A", "嗯", "c1")]


def test_kpi_agent_message_repeated_under_a_new_id_counts_once(log: Log) -> None:
    # Found: a platform's retry of 好的 under a new event id counted twice in 客服消息数, 答问比 and the short replies.
    log.customer("10:00")
    log.agent("10:00:05", "A", text="好的")
    log.agent("10:00:05", "A", text="好的")  # the same message again: same conversation, agent, ts and words
    log.agent("10:00:06", "A", text="好的")  # written again a second later: a message of its own
    log.agent("10:00:05", "B", text="好的")  # another agent's
    m = log.metrics("A")
    assert (m["agent_messages"], m["short_replies"], m["ask_answer_ratio"]) == (2, 2, 2.0)
    assert log.metrics("B")["agent_messages"] == 1
    figures = log.report().figures
    assert [(f.agent, f.ts_ms) for f in figures.short_replies] == [
        ("A", ms("10:00:05")),
        ("B", ms("10:00:05")),
        ("A", ms("10:00:06")),
    ]
    assert figures.hourly[10] == (1, 3)


@pytest.mark.parametrize(
    ("day", "before", "clock"),
    [
        (date(2026, 3, 29), "+01:00", "+02:00"),  # Berlin springs forward at 02:00: a day of 23 hours
        (date(2026, 10, 25), "+02:00", "+01:00"),  # and falls back at 03:00: 25 hours, 02:00–03:00 twice
    ],
)
def test_kpi_hourly_volume_counts_a_message_in_the_hour_its_local_time_shows(
    log: Log, day: date, before: str, clock: str
) -> None:
    # Found: the hourly volume counted hours since the day's start, so on a DST day every message after the change
    # went to the hour before or after the one its time shows (10:00 in the 09:00 or the 11:00 bar).
    log.config = replace_config(log.config, "shop", timezone="Europe/Berlin")
    log.customer(f"{day}T10:00:00{clock}")
    log.agent(f"{day}T10:00:05{clock}", "A")
    log.agent(f"{day}T10:59:59{clock}", "A")
    log.customer(f"{day}T23:30:00{clock}")
    log.customer(f"{day}T01:30:00{before}")  # before the change
    hourly = log.report(day).figures.hourly
    assert (hourly[1], hourly[10], hourly[23]) == ((1, 0), (1, 2), (1, 0))
    assert sum(c for c, _ in hourly) == 3 and sum(a for _, a in hourly) == 2


def test_kpi_followups_recovered_within_the_window(log: Log) -> None:
    log.customer("10:00")
    log.agent("10:00:05", "A")
    log.auto("10:05:05", followup_id="f1")  # no agent field: the conversation's last agent
    log.customer("10:35:05")  # 1800 s later: recovered
    log.agent("10:35:10", "A")
    log.auto("12:00", followup_id="f2", agent="A")
    log.customer("12:30:01")  # 1801 s: too late
    log.auto("13:00", agent="A")  # an auto message without follow-up id is not a follow-up
    m = log.metrics("A")
    assert (m["followups_sent"], m["followups_recovered"]) == (2, 1)


def test_kpi_suggestion_adoption_is_used_over_shown(log: Log) -> None:
    for i in range(4):
        log.customer(f"10:0{i}", suggestions=["greeting.welcome", "shipping.today"])
        log.agent(f"10:0{i}:10", "A")
    log.customer("10:10")  # nothing shown
    log.agent("10:10:10", "A")
    log.used("10:00:08", "A")
    m = log.metrics("A")
    assert (m["suggestions_shown"], m["suggestions_used"], m["adoption_rate"]) == (4, 1, 0.25)


def test_kpi_a_message_whose_suggestion_is_clicked_again_counts_as_used_once(log: Log) -> None:
    log.customer("10:00", suggestions=["shipping.today"])
    for second in ("05", "06", "09"):  # the copy did not take; the key pressed twice
        log.used(f"10:00:{second}", "A", "shipping.today")
    log.agent("10:00:10", "A")
    log.customer("10:01")  # nothing shown: a phrase found by search is no adopted suggestion
    log.used("10:01:05", "A")
    log.customer("10:02", suggestions=["greeting.welcome"], conversation="c2")
    log.used("10:02:05", "A", conversation="c2")
    log.used("10:02:06", "B", conversation="c2")  # a colleague's use is the colleague's
    log.agent("10:02:10", "A", conversation="c2")
    m, b = log.metrics("A"), log.metrics("B")
    assert (m["suggestions_shown"], m["suggestions_used"], m["adoption_rate"]) == (2, 2, 1.0)
    assert b["suggestions_used"] == 1


def test_kpi_a_click_after_midnight_counts_for_its_messages_day(log: Log) -> None:
    # The click counted on its own day: 0 % on the message's day, and 133 % the next (a card still on the panel).
    log.customer("23:59:30", suggestions=["shipping.today"])
    log.used("D+1 00:00:20", "A", "shipping.today")
    log.agent("D+1 00:00:25", "A")
    today, tomorrow = log.metrics("A"), log.metrics("A", D + timedelta(days=1))
    assert (today["suggestions_shown"], today["suggestions_used"]) == (1, 1)
    assert (tomorrow["suggestions_shown"], tomorrow["suggestions_used"]) == (0, 0)


def test_kpi_rates_are_null_without_a_denominator(log: Log) -> None:
    log.agent("10:00", "A")  # writes first, nobody asked
    m = log.metrics("A")
    assert m["agent_messages"] == 1
    for key in (
        "reply_rate",
        "order_rate",
        "pay_rate",
        "conversion",
        "aov",
        "first_response_avg_s",
        "response_avg_s",
        "ask_answer_ratio",
        "adoption_rate",
        "commission_rate",
    ):
        assert m[key] is None, key


def test_kpi_days_follow_the_shop_timezone(log: Log) -> None:
    log.event("message", "2026-11-20T23:30:00+00:00", sender="customer", text="在吗")  # 07:30 on D+1 in Shanghai
    log.event("message", "2026-11-20T23:30:05+00:00", sender="agent", agent="A", text="在的亲")
    assert log.reports(D, shop=None) == []
    assert log.metrics("A", D + timedelta(days=1))["consulted"] == 1


# ---- the worked example of docs/kpi.md ------------------------------------------------------------


def test_kpi_worked_example_of_the_docs(log: Log) -> None:
    """docs/kpi.md, "Worked example": the numbers printed there."""
    # 买家 u1 (c1), served by 小美: a two-message burst, a short reply, an order, a follow-up that recovers.
    log.customer("10:00:00", "在吗？这款连衣裙有M码吗", suggestions=["size.m"])
    log.customer("10:00:05", "想今天买")
    log.agent("10:00:20", "小美", text="亲，在的呢~ M码有现货哦")
    log.customer("10:02:00", "能便宜点吗", suggestions=["price.coupon"])
    log.used("10:02:05", "小美", "price.coupon")
    log.agent("10:02:08", "小美", text="好的")
    log.order("10:05", "o1", 199.00, agent="小美")
    log.paid("10:06", "o1", 199.00)
    log.auto("10:12:08", "亲，还在考虑吗？", followup_id="f1")
    log.customer("10:20:00", "那我再看看别的颜色")
    log.agent("10:20:10", "小美", text="好的呢亲，颜色都有现货")
    # 买家 u4 (c4), routed to 小美, never answered.
    log.customer("16:00", "有优惠券吗", customer="u4", conversation="c4", agent="小美")
    # 买家 u2 (c2), served by 阿杰 just before midnight; orders and pays the next day.
    log.customer("23:50:00", "明天能发货吗", customer="u2", conversation="c2")
    log.agent("23:51:30", "阿杰", text="亲，明天一早就发哦", customer="u2", conversation="c2")
    log.order("D+1 00:20", "o2", 88.00, customer="u2", conversation="c2")  # no agent: the last human writer
    log.paid("D+1 09:00", "o2", 88.00, customer="u2", conversation="c2")
    # 买家 u3 (c3) bought five days ago: an after-sale contact; the auto-reply is no response.
    log.order("D-5 12:00", "o0", 59.00, customer="u3", conversation="c3", agent="阿杰")
    log.paid("D-5 12:01", "o0", 59.00, customer="u3", conversation="c3")
    log.customer("14:00:00", "快递到哪了", customer="u3", conversation="c3")
    log.auto("14:00:04", "自动回复：您好，客服马上来", customer="u3", conversation="c3")
    log.agent("14:00:30", "阿杰", text="亲，帮您查一下物流~", customer="u3", conversation="c3")

    r = log.report(now=ms("D+5 08:00"))  # the day is final: D+1 has ended, and 72 h after it
    assert [row.agent for row in r.agents] == ["小美", "阿杰"]
    mei, jie, team = r.agents[0].metrics, r.agents[1].metrics, r.team.metrics
    assert mei == {
        "consulted": 2, "served": 1, "reply_rate": 0.5,
        "inquiries": 2, "ordered": 1, "paid": 1, "order_rate": 0.5, "pay_rate": 1.0, "conversion": 0.5,
        "sales": 199.0, "refunds": 0.0, "aov": 199.0,
        "first_response_avg_s": 20.0, "first_responses": 1, "response_avg_s": 12.67, "responses": 3,
        "slow_responses": 1, "after_hours": 0, "customer_messages": 5, "agent_messages": 3, "ask_answer_ratio": 0.6,
        "short_replies": 1, "followups_sent": 1, "followups_recovered": 1,
        "suggestions_shown": 2, "suggestions_used": 1, "adoption_rate": 0.5, "qa_flags": 0,
        "commission_rate": 0.06, "commission": 11.94, "upsells": 0, "upsell_bonus": 0.0, "record_bonus": None, "score": 78.5, "grade": "C",
    }  # fmt: skip
    assert jie == {
        "consulted": 2, "served": 2, "reply_rate": 1.0,
        "inquiries": 1, "ordered": 1, "paid": 1, "order_rate": 1.0, "pay_rate": 1.0, "conversion": 1.0,
        "sales": 88.0, "refunds": 0.0, "aov": 88.0,
        "first_response_avg_s": 60.0, "first_responses": 2, "response_avg_s": 60.0, "responses": 2,
        "slow_responses": 1, "after_hours": 0, "customer_messages": 2, "agent_messages": 2, "ask_answer_ratio": 1.0,
        "short_replies": 0, "followups_sent": 0, "followups_recovered": 0,
        "suggestions_shown": 0, "suggestions_used": 0, "adoption_rate": None, "qa_flags": 0,
        "commission_rate": 0.06, "commission": 5.28, "upsells": 0, "upsell_bonus": 0.0, "record_bonus": None, "score": 78.3, "grade": "C",
    }  # fmt: skip
    assert team == {
        "consulted": 4, "served": 3, "reply_rate": 0.75,
        "inquiries": 3, "ordered": 2, "paid": 2, "order_rate": 0.6667, "pay_rate": 1.0, "conversion": 0.6667,
        "sales": 287.0, "refunds": 0.0, "aov": 143.5,
        "first_response_avg_s": 46.67, "first_responses": 3, "response_avg_s": 31.6, "responses": 5,
        "slow_responses": 2, "after_hours": 0, "customer_messages": 7, "agent_messages": 5, "ask_answer_ratio": 0.714,
        "short_replies": 1, "followups_sent": 1, "followups_recovered": 1,
        "suggestions_shown": 2, "suggestions_used": 1, "adoption_rate": 0.5, "qa_flags": 0,
        "commission_rate": 0.06, "commission": 17.22, "upsells": 0, "upsell_bonus": 0.0, "record_bonus": None, "score": 78.9, "grade": "C",
    }  # fmt: skip
    assert r.pending is False
    early = log.report(now=ms("D+1 08:00"))  # before u2 paid: 阿杰's payment is not in yet, the day is pending
    assert early.pending is True
    assert [row.metrics["paid"] for row in early.agents if row.agent == "阿杰"] == [0]


def test_kpi_short_replies_agree_with_the_daily_log(log: Log) -> None:
    """The report's count and the daily log's `short` mark are the same rule."""
    from assistant.schema import is_short_reply

    # An em space counts as a character in both (it once counted in one and not in the other).
    texts = ["好的", " 嗯 嗯 ", "好的呢亲", "\u3000ok\u3000", "亲，这款今天下单今天发货哦", "好的\u2003\u2003"]
    for i, text in enumerate(texts):
        log.customer(f"10:0{i}")
        log.agent(f"10:0{i}:05", "A", text=text)
    by_log = sum(is_short_reply(t) for t in texts)
    assert log.metrics("A")["short_replies"] == by_log == 3


@pytest.mark.parametrize("parallel", [False, True])
def test_kpi_back_to_back_ranges_credit_an_order_once(log: Log, parallel: bool) -> None:
    """docs/kpi.md, "The team row, ranges": the day before a range is the last of the range before it."""
    # Found: a buyer who asked on the last day of November and again on 1 December before ordering paid once and
    # counted in both months' 询单销售额, and in both months' commission.
    nxt = D + timedelta(days=1)
    log.customer("23:00")
    log.agent("23:00:10", "A")
    log.customer("D+1 00:10")
    log.agent("D+1 00:10:10", "B")
    log.order("D+1 00:20", "o1", 100, agent="B")
    log.paid("D+1 00:21", "o1", 100)
    log.customer("D+2 10:00", customer="u2", conversation="c2")
    log.agent("D+2 10:00:10", "B", customer="u2", conversation="c2")
    log.order("D+2 10:05", "o2", 50, agent="B", customer="u2", conversation="c2")
    log.paid("D+2 10:06", "o2", 50, customer="u2", conversation="c2")
    (before,) = log.reports(D - timedelta(days=1), D, parallel=parallel)
    (after,) = log.reports(nxt, nxt + timedelta(days=1), parallel=parallel)
    assert before.team.metrics["sales"] == 100.0  # o1 is the earlier range's, A's: the inquiry of D
    assert [(a.agent, a.metrics["ordered"], a.metrics["sales"]) for a in after.agents] == [("B", 1, 50.0)]
    assert after.team.metrics["inquiries"] == 2  # u1 on D+1 is still an inquiry, as on a range's later days
    assert log.metrics("B", nxt, parallel=parallel)["sales"] == 100.0  # a single day is unchanged
