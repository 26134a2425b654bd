"""Properties over random logs: the team row is the sum of the agents, ratios are recomputed from sums."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import store, upgrade
from assistant.config import load_config
from assistant.events import parse_event
from assistant.kpi import metrics
from tests.kpi_log import SHOP, TZ, D, ms

CONFIG = load_config(None, env={})
START = ms("D-1 22:00")
SPAN_MS = 52 * 3_600_000  # D-1 22:00 .. D+2 02:00
AGENTS = ("A", "B", "C")
CUSTOMERS = ("u1", "u2", "u3", "u4")
COUNT_KEYS = [f.name for f in fields(metrics.Tally)]

when = st.integers(min_value=START, max_value=START + SPAN_MS)
customer = st.sampled_from(CUSTOMERS)
maybe_agent = st.none() | st.sampled_from(AGENTS)

message = st.fixed_dictionaries(
    {
        "type": st.just("message"),
        "ts": when,
        "customer": customer,
        "conv": st.integers(0, 1),
        "sender": st.sampled_from(("customer", "customer", "agent", "agent", "auto")),
        "agent": maybe_agent,
        "text": st.sampled_from(("在吗", "好", " 嗯 ", "亲，今天下单今天发货哦", "<script>x</script>")),
        "followup": st.booleans(),
        "shown": st.booleans(),
        "shop": st.sampled_from((SHOP, SHOP, SHOP, "s2")),
        "again": st.none() | st.integers(0, 3_000),  # delivered again under a new id, this many ms later
    }
)
order = st.fixed_dictionaries(
    {
        "type": st.just("order"),
        "ts": when,
        "customer": customer,
        "agent": maybe_agent,
        "amount": st.integers(1, 50_000).map(lambda cents: cents / 100),
        "paid_after": st.none() | st.integers(0, 40 * 3_600_000),
    }
)
used = st.fixed_dictionaries(
    {"type": st.just("used"), "ts": when, "customer": customer, "agent": st.sampled_from(AGENTS)}
)
logs = st.lists(st.one_of(message, message, message, order, used), max_size=40)


def _write(path: store.Location, plan: list[dict[str, Any]]) -> None:
    conn = store.connect(path)
    upgrade.migrate(conn)
    raws: list[tuple[dict[str, Any], store.Annotation | None]] = []
    for i, e in enumerate(plan):
        base = {"id": f"e{i}", "ts": e["ts"], "shop": e.get("shop", SHOP), "customer": e["customer"]}
        if e["type"] == "message":
            sender, agent = e["sender"], e["agent"]
            if sender == "agent" and agent is None:
                agent = "A"
            raw = {
                **base,
                "type": "message",
                "conversation": f"{e['customer']}-{e['conv']}",
                "sender": sender,
                "text": e["text"],
                "agent": agent,
            }
            if sender == "auto" and e["followup"]:
                raw["followup_id"] = f"f{i}"
            shown = ({"phrase_id": "p", "code": "p", "score": 1.0},) if sender == "customer" and e["shown"] else ()
            raws.append(({k: v for k, v in raw.items() if v is not None}, store.Annotation(suggestions=shown)))
            if e.get("again") is not None:
                again = {**raw, "id": f"e{i}-again", "ts": e["ts"] + e["again"]}
                raws.append(({k: v for k, v in again.items() if v is not None}, store.Annotation(suggestions=shown)))
        elif e["type"] == "order":
            common = {**base, "conversation": f"{e['customer']}-0", "order": f"o{i}", "amount": e["amount"]}
            created = {**common, "type": "order_created", "agent": e["agent"]}
            raws.append(({k: v for k, v in created.items() if v is not None}, None))
            if e["paid_after"] is not None:
                raws.append(({**common, "id": f"p{i}", "type": "order_paid", "ts": e["ts"] + e["paid_after"]}, None))
        else:
            raws.append(
                (
                    {
                        **base,
                        "type": "suggestion_used",
                        "conversation": f"{e['customer']}-0",
                        "agent": e["agent"],
                        "phrase_id": "p",
                    },
                    None,
                )
            )
    with store.transaction(conn):
        for raw, ann in raws:
            store.insert_event(conn, parse_event(raw, max_text_chars=5000), ann)
    conn.close()


# Service hours: none (always open), a day's, and a span across midnight (docs/kpi.md, "Service hours").
HOURS = st.sampled_from(("", "09:00-23:00", "20:00-02:00"))


def _report(path: store.Location, now: int, *, parallel: bool, hours: str = "") -> metrics.ShopReport:
    config = dataclasses.replace(CONFIG, shop=dataclasses.replace(CONFIG.shop, service_hours=hours))
    (found,) = metrics.build_reports(
        lambda: store.connect(path, readonly=True), config, D, shop=SHOP, now_ms=now, parallel=parallel
    )
    return found


def _ratio(num: int, den: int, digits: int) -> float | None:
    return round(float(Fraction(num, den)), digits) if den else None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=logs, now_offset=st.integers(0, 6 * 86_400_000), hours=HOURS)
def test_kpi_team_is_the_sum_of_its_agents(plan: list[dict[str, Any]], now_offset: int, hours: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.db"
        _write(path, plan)
        now = START + now_offset
        r = _report(path, now, parallel=False, hours=hours)
        team, rows = r.team, r.agents
        for key in COUNT_KEYS:
            assert getattr(team.tally, key) == sum(getattr(row.tally, key) for row in rows), key
        for key in (
            "consulted",
            "served",
            "inquiries",
            "ordered",
            "paid",
            "slow_responses",
            "after_hours",
            "customer_messages",
            "agent_messages",
            "short_replies",
            "followups_sent",
            "followups_recovered",
            "suggestions_shown",
            "suggestions_used",
            "first_responses",
            "responses",
        ):
            assert team.metrics[key] == sum(row.metrics[key] for row in rows), key
        assert Fraction(str(team.metrics["sales"])) == round(
            sum(Fraction(str(row.metrics["sales"])) for row in rows), 2
        )
        t = team.tally
        m = team.metrics
        assert m["reply_rate"] == _ratio(t.served, t.consulted, 4)
        assert m["order_rate"] == _ratio(t.ordered, t.inquiries, 4)
        assert m["pay_rate"] == _ratio(t.paid, t.ordered, 4)
        assert m["conversion"] == _ratio(t.paid, t.inquiries, 4)
        assert m["ask_answer_ratio"] == _ratio(t.agent_messages, t.customer_messages, 3)
        assert m["adoption_rate"] == _ratio(t.suggestions_used, t.suggestions_shown, 4)
        assert m["first_response_avg_s"] == _ratio(t.first_response_ms, t.first_responses * 1000, 2)
        assert m["response_avg_s"] == _ratio(t.response_ms, t.responses * 1000, 2)
        for row in rows:
            a = row.tally
            assert a.served <= a.consulted and a.inquiries <= a.consulted
            assert a.paid <= a.ordered <= a.inquiries
            assert a.bursts >= a.responses and a.bursts >= a.slow_responses and a.bursts >= a.after_hours
            if now >= metrics.credit_window(D, TZ)[2]:  # before the horizon a customer may still be waiting
                assert a.responses + a.slow_responses >= a.bursts
            assert a.followups_recovered <= a.followups_sent
            assert a.first_responses <= a.consulted * 2  # at most one per conversation, two per customer here
        assert r.pending == (now < metrics.final_ms(D, CONFIG))  # the payment window after the end of D+1
        _check_totals(path, team.tally)
        parallel = _report(path, now, parallel=True, hours=hours)
        assert {row.agent: row.tally for row in parallel.agents} == {row.agent: row.tally for row in rows}


def _check_totals(path: Path, team: metrics.Tally) -> None:
    """Every customer message of the day belongs to exactly one agent; every message counts once (an agent's copy
    under another id not at all, nor a buyer's)."""
    start, end, _ = metrics.credit_window(D, TZ)
    conn = store.connect(path, readonly=True)
    try:

        def count(sender: str) -> int:
            return int(
                conn.execute(
                    "SELECT count(*) FROM messages WHERE shop = ? AND sender = ? AND ts_ms >= ? AND ts_ms < ?",
                    (SHOP, sender, start, end),
                ).fetchone()[0]
            )

        assert team.customer_messages <= count("customer")
        # A buyer's message again within 2 s (the same conversation, customer and words, after it) counts once.
        sql = "SELECT conversation, customer, text, ts_ms, seq FROM messages WHERE shop = ? AND sender = 'customer'"
        every = conn.execute(sql, (SHOP,)).fetchall()
        buyer_copies = [
            m
            for m in every
            if any(c[:3] == m[:3] and m[3] - 2000 <= c[3] and (c[3], c[4]) < (m[3], m[4]) for c in every)
        ]
        assert team.customer_messages == count("customer") - sum(1 for m in buyer_copies if start <= m[3] < end)
        # An agent's message repeated under a new id (same conversation, agent, ts and words) counts once.
        copies = conn.execute(
            "SELECT count(*) FROM (SELECT DISTINCT conversation, agent, ts_ms, text FROM messages"
            " WHERE shop = ? AND sender = 'agent' AND ts_ms >= ? AND ts_ms < ?) c",
            (SHOP, start, end),
        ).fetchone()[0]
        assert team.agent_messages == copies
    finally:
        conn.close()
