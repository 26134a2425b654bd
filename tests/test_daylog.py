"""`assistant log`: a day built through the webhook, read back in each format."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from assistant import pg, store
from assistant.clock import day_bounds
from assistant.config import Config, StoreConfig
from assistant.daylog import formats
from assistant.daylog.query import DayQuery, Rules, day_choices, iter_conversations, iter_items
from assistant.daylog.search import Sought
from assistant.daylog.workbook import write_xlsx
from assistant.store import connect
from assistant.web.logs import Filters
from tests.daylog_day import ADDRESS, DAY, PHONE, SCRIPT, log_app, log_config, post_day
from tests.helpers import BACKENDS, ROOT, body_of
from tests.kpi_log import D, Log

pytestmark = BACKENDS

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def day_db(aiohttp_client: Any, config: Config, db_path: store.Location) -> store.Location:
    """The test database holding the day, written by the real service."""
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    return db_path


def db_args(db: store.Location, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """`--db` and the environment for a database: a file, or a PostgreSQL URL with its password."""
    if isinstance(db, pg.Location):
        return ["--db", db.url], {**env, StoreConfig().password_env: db.password or ""}
    return ["--db", str(db)], env


def run_log(db: store.Location, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m assistant log` as an operator runs it (output piped: not a terminal)."""
    where, env = db_args(db, {"PATH": "/usr/bin:/bin"})
    return subprocess.run(
        [sys.executable, "-m", "assistant", "log", "--config", str(ROOT / "config.toml"), *where, *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip


def jsonl(db: store.Location, *args: str) -> list[dict[str, Any]]:
    out = run_log(db, "--date", DAY.isoformat(), "--format", "jsonl", *args)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def test_daylog_jsonl_orders_conversations_by_their_first_event_of_the_shop_day(day_db: store.Location) -> None:
    items = jsonl(day_db)
    order = [item["conversation"] for item in items]
    assert list(dict.fromkeys(order)) == ["M", "B", "A", "Z"]
    assert order == sorted(order, key=["M", "B", "A", "Z"].index)  # each conversation in one piece
    assert [i["id"] for i in items if i["conversation"] == "A"] == [f"A{n}" for n in range(1, 10)]
    for conversation in "MBAZ":
        stamps = [i["ts_ms"] for i in items if i["conversation"] == conversation]
        assert stamps == sorted(stamps)


def test_daylog_jsonl_day_is_the_shop_day_not_the_utc_day(day_db: store.Location) -> None:
    items = by_id(jsonl(day_db))
    assert {"M2", "M3", "B1", "Z1"} <= set(items)  # 00:30 and 08:30 shop time given in UTC
    assert "M1" not in items and "Z2" not in items  # 23:59:30 the day before, 00:00:01 the day after
    assert items["M3"]["ts"] == "2026-11-20T00:30:00+08:00"
    assert items["B1"]["ts"] == "2026-11-20T08:30:00+08:00"


def test_daylog_jsonl_annotates_customer_messages(day_db: store.Location) -> None:
    items = by_id(jsonl(day_db))
    first = items["A1"]
    assert first["intent"] == "shipping_time" and first["customer_type"] == "impatient"
    assert [(s["code"], s["score"], s["used"]) for s in first["suggestions"]] == [
        ("fh1", 91.3, True),
        ("fh2", 55.0, False),
    ]
    assert first["suggestion_used"] is True
    assert first["response_s"] == 25.0 and first["slow"] is False and first["unanswered"] is False
    assert items["A4"]["response_s"] == 120.0 and items["A4"]["slow"] is True
    assert items["A5"]["short"] is True and items["A3"]["short"] is False
    assert items["A7"]["unanswered"] is True and items["B1"]["unanswered"] is True
    assert items["Z1"]["response_s"] == 2.0  # the reply came after midnight: the log looks ahead
    assert items["M3"]["unanswered"] is True


def test_daylog_jsonl_shows_followup_outcome_and_orders(day_db: store.Location) -> None:
    items = by_id(jsonl(day_db))
    followup = items["A6"]["followup"]
    assert followup["id"] == "fu-A" and followup["outcome"] == "came_back" and followup["came_back_s"] == 120.0
    assert items["A8"]["kind"] == "order_created" and items["A8"]["order"] == "A-1001"
    assert items["A8"]["amount"] == 199.0 and items["A8"]["agent"] == "小美"
    assert items["A9"]["kind"] == "order_paid"
    assert items["A2"]["kind"] == "suggestion_used" and items["A2"]["phrase_id"] == "shipping_time.today"


async def test_daylog_shows_an_orders_closing(aiohttp_client: Any, config: Config, db_path: store.Location) -> None:
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    closed = [{"id": f"X{i}", "type": kind, "ts": f"2026-11-20T1{i}:00:00+08:00", "shop": "shop1",
               "conversation": "B", "customer": "buyer_b", "order": "B-77", **extra}
              for i, (kind, extra) in enumerate([("order_created", {"amount": 59}), ("order_closed", {})])]  # fmt: skip
    resp = await client.post("/v1/events", data=body_of(closed))
    assert resp.status == 200, await resp.text()
    items = by_id(jsonl(db_path))
    assert (items["X1"]["kind"], items["X1"]["order"], items["X1"]["amount"]) == ("order_closed", "B-77", None)
    assert items["X1"]["paid"] is False
    out = run_log(db_path, "--date", DAY.isoformat(), "--format", "text")
    assert out.returncode == 0, out.stderr
    assert "B-77 已关闭" in out.stdout and "B-77 已下单 ¥59.00" in out.stdout


async def test_daylog_shows_a_refund_and_a_paid_orders_closing(
    aiohttp_client: Any, config: Config, db_path: store.Location
) -> None:
    # Found: a paid order's closing printed "B-78 已关闭" as an unpaid one's does, and a refund could not be sent.
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    steps = [("order_created", {"amount": 500}), ("order_paid", {"amount": 500}), ("order_refunded", {"amount": 500}),
             ("order_closed", {})]  # fmt: skip
    events = [{"id": f"R{i}", "type": kind, "ts": f"2026-11-20T1{i}:00:00+08:00", "shop": "shop1",
               "conversation": "B", "customer": "buyer_b", "order": "B-78", **extra}
              for i, (kind, extra) in enumerate(steps)]  # fmt: skip
    events.append({**events[2], "id": "R2-again"})  # the same refund notified twice: one line
    resp = await client.post("/v1/events", data=body_of(events))
    assert resp.status == 200, await resp.text()
    items = by_id(jsonl(db_path))
    assert (items["R2"]["kind"], items["R2"]["amount"]) == ("order_refunded", 500.0)
    assert (items["R3"]["kind"], items["R3"]["paid"]) == ("order_closed", True)
    out = run_log(db_path, "--date", DAY.isoformat(), "--format", "text")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("B-78 退款 ¥500.00") == 1 and "B-78 已关闭（已付款）" in out.stdout


async def test_daylog_a_reply_the_next_morning_answers_the_burst_as_the_report_counts_it(
    aiohttp_client: Any, config: Config, db_path: store.Location
) -> None:
    """A message of 22:30 answered at 08:30 the next day waited 10 h (the report counts that reply until the end of
    the next day); the log said 未回复, and the report's slow list linked to it. One answered two days later stays
    unanswered, as in the report."""
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    late = [
        {"id": "L1", "type": "message", "ts": "2026-11-20T22:30:00+08:00", "shop": "shop1", "conversation": "L",
         "customer": "buyer_l", "sender": "customer", "text": "明天发货吗"},
        {"id": "L2", "type": "message", "ts": "2026-11-21T08:30:00+08:00", "shop": "shop1", "conversation": "L",
         "customer": "buyer_l", "sender": "agent", "agent": "小张", "text": "亲，今天发"},
        {"id": "N1", "type": "message", "ts": "2026-11-20T22:40:00+08:00", "shop": "shop1", "conversation": "N",
         "customer": "buyer_n", "sender": "customer", "text": "在吗"},
        {"id": "N2", "type": "message", "ts": "2026-11-22T08:30:00+08:00", "shop": "shop1", "conversation": "N",
         "customer": "buyer_n", "sender": "agent", "agent": "小张", "text": "在的"},
    ]  # fmt: skip
    assert (await client.post("/v1/events", data=body_of(late))).status == 200
    items = by_id(jsonl(db_path))
    assert (items["L1"]["response_s"], items["L1"]["slow"], items["L1"]["unanswered"]) == (36000.0, True, False)
    assert "L2" not in items  # the next day's reply is that day's item
    assert (items["N1"]["response_s"], items["N1"]["unanswered"]) == (None, True)


async def test_daylog_shows_a_payment_notified_twice_once(
    aiohttp_client: Any, config: Config, db_path: store.Location
) -> None:
    """The same order, time and amount under another id is one payment (docs/events.md): the report counted it
    once and the log listed ¥50.00 twice."""
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    again = {"id": "A9-again", "type": "order_paid", "ts": "2026-11-20T09:12:00+08:00", "shop": "shop1",
             "conversation": "A", "customer": "buyer_a", "order": "A-1001", "amount": 199.0}  # fmt: skip
    balance = {**again, "id": "A9-balance", "ts": "2026-11-20T09:30:00+08:00", "amount": 50}
    assert (await client.post("/v1/events", data=body_of([again, balance]))).status == 200
    paid = [i for i in jsonl(db_path) if i["kind"] == "order_paid"]
    assert [(i["id"], i["amount"]) for i in paid] == [("A9", 199.0), ("A9-balance", 50.0)]  # a second payment shows


def test_daylog_masks_personal_data_by_default_in_every_format(day_db: store.Location) -> None:
    for fmt in formats.FORMATS:
        out = run_log(day_db, "--date", DAY.isoformat(), "--format", fmt)
        assert out.returncode == 0, out.stderr
        assert PHONE not in out.stdout and "文三路" not in out.stdout, fmt
        assert "138****5678" in out.stdout and "西湖区****" in out.stdout, fmt


def test_daylog_previous_day_settles_across_midnight(day_db: store.Location) -> None:
    items = jsonl(day_db, "--date", (DAY - timedelta(days=1)).isoformat())
    assert [i["id"] for i in items] == ["M1"]
    assert items[0]["response_s"] == 40.0


def test_daylog_csv_has_one_row_per_message(day_db: store.Location) -> None:
    out = run_log(day_db, "--date", DAY.isoformat(), "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    messages = [i for i in jsonl(day_db) if i["kind"] == "message"]
    assert [r["id"] for r in rows] == [m["id"] for m in messages]
    assert list(rows[0]) == list(formats.CSV_COLUMNS)
    a1 = next(r for r in rows if r["id"] == "A1")
    assert (
        a1["suggestions"] == "fh1:91/100* fh2:55/100"
        and a1["suggestion_used"] == "true"
        and a1["intent"] == "shipping_time"
    )
    assert next(r for r in rows if r["id"] == "A6")["followup_outcome"] == "came_back"
    assert next(r for r in rows if r["id"] == "A7")["text"] == SCRIPT


def test_daylog_shows_suggestion_scores_out_of_100_in_every_form(day_db: store.Location) -> None:
    # Found: the text and the CSV said `fh1 91.3`, a bare number: 91 or 0.91, good or not, no reader could tell.
    text = run_log(day_db, "--date", DAY.isoformat())
    assert text.returncode == 0, text.stderr
    assert "fh1 91/100 ✓、fh2 55/100" in text.stdout and "91.3" not in text.stdout
    table = run_log(day_db, "--date", DAY.isoformat(), "--format", "csv")
    assert table.returncode == 0, table.stderr
    a1 = next(r for r in csv.DictReader(io.StringIO(table.stdout)) if r["id"] == "A1")
    assert a1["suggestions"] == "fh1:91/100* fh2:55/100"
    # JSONL keeps the number as logged, on its documented 0–100 scale (docs/daily-log.md, "Fields").
    offered = by_id(jsonl(day_db))["A1"]["suggestions"]
    assert [s["score"] for s in offered] == [91.3, 55.0]


def test_daylog_text_is_plain_when_piped(day_db: store.Location) -> None:
    out = run_log(day_db, "--date", DAY.isoformat())
    assert out.returncode == 0, out.stderr
    assert "\x1b[" not in out.stdout
    headings = [line for line in out.stdout.splitlines() if line.startswith("== ")]
    assert [h.split(" · ")[1] for h in headings] == ["M", "B", "A", "Z"]
    # zh_CN, the shipped config's language: intents and customer types by their labels
    assert "推荐 fh1 91/100 ✓、fh2 55/100" in out.stdout and "意图 发货时间" in out.stdout
    assert "跟进已发送，顾客 2分00秒后回来了" in out.stdout
    assert "A-1001 已下单 ¥199.00 · 小美" in out.stdout  # the page's separator, no ASCII parentheses
    assert "未回复" in out.stdout and "短回复" in out.stdout
    assert "用了 fh2\n" in out.stdout  # a used phrase by its code, as agents know it (its id stays in JSONL/CSV)


def test_daylog_text_colours_a_terminal_and_neutralises_escape_sequences(
    day_db: store.Location, config: Config
) -> None:
    with closing(connect(day_db)) as conn:
        items = list(iter_items(conn, DayQuery(DAY), Rules.from_config(config)))
    items[0]["text"] = "\x1b[2Jgone"
    out = io.StringIO()
    formats.write_text(items, out, color=True)
    assert "\x1b[36m" in out.getvalue()  # the customer's colour
    assert "\x1b[2J" not in out.getvalue() and "?[2Jgone" in out.getvalue()


def test_daylog_filters_by_agent_and_conversation(day_db: store.Location) -> None:
    assert {i["conversation"] for i in jsonl(day_db, "--agent", "小王")} == {"M"}  # Z's reply is the next day
    assert {i["conversation"] for i in jsonl(day_db, "--conversation", "B")} == {"B"}
    assert jsonl(day_db, "--shop", "no-such-shop") == []
    assert jsonl(day_db, "--agent", " 小王\u200b") == jsonl(day_db, "--agent", "小王")  # read as events' names are
    # An empty output says why on stderr: the filter matched nothing, or the shop is not in the log.
    typo = run_log(day_db, "--date", DAY.isoformat(), "--agent", "小黄")
    assert typo.returncode == 0 and typo.stdout == ""
    assert typo.stderr.strip() == f"assistant: {DAY} 没有符合 --agent 或 --conversation 的会话"
    shop = run_log(day_db, "--date", DAY.isoformat(), "--shop", "no-such-shop")
    assert shop.stderr.startswith(f"assistant: {DAY} 没有消息；日志里没有店铺 no-such-shop（已有的店铺：")


def test_daylog_unmasked_needs_the_admin_token_or_an_owned_file(day_db: store.Location, tmp_path: Path) -> None:
    refused = run_log(day_db, "--date", DAY.isoformat(), "--unmasked")
    assert refused.returncode == 2 and PHONE not in refused.stdout
    # The reason in the supervisors' language too, not English inside a Chinese frame.
    assert "拒绝 --unmasked：请给出管理员令牌（--token 或 $ASSISTANT_TOKEN）" in refused.stderr
    out = tmp_path / "day.jsonl"
    allowed = run_log(day_db, "--date", DAY.isoformat(), "--format", "jsonl", "--unmasked", "--out", str(out))
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip().endswith(f"条到 {out}") and "已写入" in allowed.stderr
    assert PHONE in out.read_text() and ADDRESS in out.read_text()
    assert out.stat().st_mode & 0o077 == 0  # unmasked files are private to the operator


def test_daylog_unmasked_to_stdout_with_the_admin_token(day_db: store.Location) -> None:
    where, env = db_args(
        day_db, {"PATH": "/usr/bin:/bin", "ASSISTANT_ADMIN_TOKEN": "s3cret", "ASSISTANT_TOKEN": "s3cret"}
    )
    env_run = subprocess.run(
        [sys.executable, "-m", "assistant", "log", "--config", str(ROOT / "config.toml"), *where,
         "--date", DAY.isoformat(), "--format", "jsonl", "--unmasked"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip
    assert env_run.returncode == 0, env_run.stderr
    assert PHONE in env_run.stdout
    where, env = db_args(day_db, {"PATH": "/usr/bin:/bin", "ASSISTANT_ADMIN_TOKEN": "s3cret"})
    wrong = subprocess.run(
        [sys.executable, "-m", "assistant", "log", "--config", str(ROOT / "config.toml"), *where,
         "--date", DAY.isoformat(), "--unmasked", "--token", "guess"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env=env,
    )  # fmt: skip
    assert wrong.returncode == 2 and PHONE not in wrong.stdout


def test_daylog_conversations_group_the_stream(day_db: store.Location, config: Config) -> None:
    with closing(connect(day_db)) as conn:
        conversations = list(iter_conversations(iter_items(conn, DayQuery(DAY), Rules.from_config(config))))
    assert [c.conversation for c in conversations] == ["M", "B", "A", "Z"]
    assert conversations[2].agents == ["小美"] and len(conversations[2].messages) == 6


@pytest.mark.parametrize(
    ("sought", "shop", "read"),
    [
        (Sought("现货"), None, ["B"]),
        (Sought("在"), "shop1", ["M", "A"]),  # 在的亲, 在吗
        (Sought("亲，还有"), None, ["A"]),  # the follow-up's text
        (Sought("138****5678"), None, ["M", "B", "A", "Z"]),  # words masking may make: no conversation ruled out
        (Sought("XXL"), None, []),
        (Sought("现货"), "shop2", []),
        (Sought(intent="shipping_time"), None, ["A"]),
        (Sought(customer_type="impatient"), "shop1", ["A"]),
        (Sought("发货", intent="shipping_time"), None, ["A"]),
        (Sought("现货", intent="shipping_time"), None, []),  # both must hold for one message
        (Sought(intent="refund"), None, []),
        (Sought(qa="any"), None, ["M", "A"]),  # short replies' flags: read, though the page leaves them to `short`
        (Sought("BUYER_B"), None, ["B"]),  # the buyer's id
        (Sought("a-100"), "shop1", ["A"]),  # an order id, in part
        (Sought("buyer_a", intent="shipping_time"), None, ["A"]),
        (Sought("a-1001", intent="shipping_time"), None, []),  # an order has no intent
    ],
)
def test_daylog_search_reads_only_the_conversations_it_can_match(
    day_db: store.Location, config: Config, sought: Sought, shop: str | None, read: list[str]
) -> None:
    # The same items as the whole day's read, of fewer conversations; none that the page's filter matches left out.
    rules = Rules.from_config(config)
    with closing(connect(day_db)) as conn:
        whole = list(iter_items(conn, DayQuery(DAY, shop=shop), rules))
        searched = list(iter_items(conn, DayQuery(DAY, shop=shop, sought=sought), rules))
    assert [c.conversation for c in iter_conversations(searched)] == read
    assert searched == [item for item in whole if item["conversation"] in read]
    page = Filters(search=sought.text, intent=sought.intent, customer_type=sought.customer_type, qa=sought.qa)
    assert {item["conversation"] for item in whole if page.hits(item)} <= set(read)


@pytest.mark.parametrize("shop", [None, "shop1"])
def test_daylog_choices_are_the_days_values_in_code_point_order(
    day_db: store.Location, config: Config, shop: str | None
) -> None:
    rules = Rules.from_config(config)
    start, end = day_bounds(DAY, rules.tz)
    with closing(connect(day_db)) as conn:
        choices = day_choices(conn, DayQuery(DAY, shop=shop), rules)
        each = {
            column: [
                row[0]
                for row in conn.execute(
                    f"SELECT DISTINCT {column} FROM messages WHERE ts_ms >= ? AND ts_ms < ? AND {column} IS NOT NULL"
                    f" AND shop = coalesce(?, shop) ORDER BY 1",
                    (start, end, shop),
                )
            ]
            for column in ("agent", "customer_type", "intent")
        }
    assert choices == each
    assert choices["agent"] == ["小王", "小美"]  # U+738B before U+7F8E; Z's agent answered the next day
    assert "impatient" in choices["customer_type"] and "shipping_time" in choices["intent"]


def test_daylog_config_disables_followup_timers(config: Config) -> None:
    assert log_config(config).followups.enabled is False


@pytest.mark.parametrize("jobs", ["0", "-3"])
def test_log_cli_refuses_a_count_of_workers_below_one(db_path: store.Location, jobs: str) -> None:
    out = run_log(db_path, "--date", DAY.isoformat(), "--jobs", jobs)
    assert out.returncode == 2 and "--jobs" in out.stderr, out.stderr  # was taken without a word


async def test_daylog_says_what_a_refund_counts_for_when_the_order_was_paid_less_or_not_at_all(
    aiohttp_client: Any, config: Config, db_path: store.Location, caplog: pytest.LogCaptureFixture
) -> None:
    """A refund of ¥500 on a ¥199 payment showed 退款 ¥500.00 where the report takes off ¥199, and one of an order
    never paid showed 退款 ¥10.00 without a word. Both are still accepted (the platform decides; a refund may come
    before its payment); the log says what each counts for, and the service warns."""
    client = await aiohttp_client(log_app(config))
    await post_day(client)
    base = {"shop": "shop1", "conversation": "B", "customer": "buyer_b"}
    steps = [("F1", "order_created", "O1", 199), ("F2", "order_paid", "O1", 199), ("F3", "order_refunded", "O1", 500),
             ("F4", "order_refunded", "NOPE", 10), ("F5", "order_paid", "O2", 100), ("F6", "order_refunded", "O2", 60),
             ("F7", "order_refunded", "O2", 60)]  # fmt: skip
    events = [{**base, "id": i, "type": kind, "order": order, "amount": amount, "ts": f"2026-11-20T12:0{n}:00+08:00"}
              for n, (i, kind, order, amount) in enumerate(steps)]  # fmt: skip
    with caplog.at_level("WARNING", logger="assistant.ingest"):
        resp = await client.post("/v1/events", data=body_of(events))
    assert resp.status == 200, await resp.text()
    warned = caplog.text
    assert "refund F3 of order shop1/O1: ¥500.00 is more than the ¥199.00 paid" in warned, warned
    assert "refund F4 of order shop1/NOPE: no payment of this order is logged" in warned, warned
    items = by_id(jsonl(db_path))
    assert items["F3"]["refund"] == {"counted": 199.0, "unrefunded": 199.0}
    assert items["F4"]["refund"] == {"counted": None, "unrefunded": None}
    assert items["F6"]["refund"] == {"counted": 60.0, "unrefunded": 100.0}
    assert items["F7"]["refund"] == {"counted": 40.0, "unrefunded": 40.0}
    out = run_log(db_path, "--date", DAY.isoformat(), "--format", "text")
    assert out.returncode == 0, out.stderr
    assert "O1 退款 ¥500.00（超出已付未退的 ¥199.00，按 ¥199.00 计）" in out.stdout, out.stdout
    assert "NOPE 退款 ¥10.00（未见此订单的付款）" in out.stdout
    assert "O2 退款 ¥60.00\n" in out.stdout and "O2 退款 ¥60.00（超出已付未退的 ¥40.00，按 ¥40.00 计）" in out.stdout


def test_daylog_says_a_payment_or_refund_after_its_orders_window_counts_in_no_figure(
    db_path: store.Location, config: Config
) -> None:
    """Found: o2's payment 73 hours after the order read 已付款 ¥60.00 in the log of its day, and the report of the
    order's day counted it nowhere (paid 0) without a word; a refund after the window the same."""
    log = Log(db_path)
    try:
        log.customer("10:00")
        log.agent("10:00:10", "小美", "亲，有现货的")
        log.order("10:05", "o1", 100, agent="小美")
        log.paid("10:06", "o1", 100)
        log.order("16:05", "o2", 60, agent="小美")
        log.paid("D+3 10:04", "o1", 1)  # within o1's 72 hours
        log.event("order_refunded", "D+3 10:06", order="o1", amount=30)  # 72 h 1 min after o1: a late refund
        log.paid("D+3 16:06", "o2", 60)  # 72 h 1 min after o2: in no figure
        r = log.report()
        assert (r.agents[0].metrics["ordered"], r.agents[0].metrics["paid"], r.agents[0].metrics["sales"]) == (
            1,
            1,
            101,
        )
        assert [x.order for x in log.report(D + timedelta(days=3)).late_refunds] == ["o1"]  # the report of its day
    finally:
        log.close()
    with closing(connect(db_path)) as conn:
        items = list(iter_items(conn, DayQuery(D + timedelta(days=3)), Rules.from_config(config)))
    assert [(i["order"], i["kind"], i["late"]) for i in items] == [
        ("o1", "order_paid", False),
        ("o1", "order_refunded", True),
        ("o2", "order_paid", True),
    ]
    late_payment = "已过订单的付款期限：不计入报表的任何数字"
    late_refund = "已过订单的付款期限：不计入报表的任何数字，报表列为期后退款"
    out = io.StringIO()
    formats.write_text(items, out)
    assert out.getvalue().splitlines()[1:] == [
        "10:04:00  订单      o1 已付款 ¥1.00",
        "10:06:00  订单      o1 退款 ¥30.00",
        " " * 20 + late_refund,
        "16:06:00  订单      o2 已付款 ¥60.00",
        " " * 20 + late_payment,
    ]
    book = io.BytesIO()
    write_xlsx(items, book)
    sheet = load_workbook(io.BytesIO(book.getvalue())).worksheets[0]
    assert [row[6] for row in sheet.iter_rows(min_row=2, values_only=True)] == [None, late_refund, late_payment]
