"""Render KPI reports as a terminal table, CSV, JSON or a self-contained HTML page (no metrics computed here)."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from assistant import i18n, pg, store, templating
from assistant.clock import local_time
from assistant.config import Config, KpiTargets
from assistant.i18n import N_
from assistant.kpi import window
from assistant.kpi.figures import NO_REPLY, UNASSIGNED, Flagged
from assistant.kpi.metrics import METRIC_KEYS, RESPONSE_BUCKETS, ShopReport, judge
from assistant.kpi.paylines import record_text, supervisor_text
from assistant.privacy import mask as mask_text
from assistant.safetext import Column, CsvWriter, Sheet, display_width, terminal, write_sheets
from assistant.templating import FAVICON, format_value

if TYPE_CHECKING:
    from assistant.web.daynav import DayNav


FORMATS = ("table", "csv", "json", "html")  # and "xlsx": bytes, through `render_xlsx`
LOGS_PAGE = "/logs/daily"
TEAM = N_("(team)")
UNASSIGNED_SHOWN = N_("(unassigned)")  # conversations no agent answered: `queries.UNASSIGNED` in CSV and JSON

RECORD_BONUS = N_("Record bonus")  # 询单转化率历史最高奖: a whole month's column, where the shop pays one (record.py)
LATE_REFUNDS = N_("Refunds after the window")  # per agent credited and the team's, in no figure (kpi/late.py)
WINDOW_CHANGES = N_("Payment window changes")  # the workbook's sheet saying them (kpi/window.py)
IN_YUAN = N_("%(heading)s (yuan)")  # a money column's heading in the table and the workbook
PERSON_DAYS = N_(
    "A range counts a customer on each day they wrote: consulted, served and inquiries are person-days, not people."
)
# Terminal table: (key, header, kind) — kinds pick the number format.
_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("consulted", N_("Consulted"), "int"),
    ("served", N_("Served"), "int"),
    ("reply_rate", N_("Reply rate"), "pct"),
    ("inquiries", N_("Inquiries"), "int"),
    ("ordered", N_("Orders"), "int"),
    ("paid", N_("Payments"), "int"),
    ("conversion", N_("Conversion"), "pct"),
    ("sales", N_("Sales"), "money"),
    ("refunds", N_("Refunds"), "money"),  # already taken off the sales
    ("aov", N_("Average order"), "money"),
    ("first_response_avg_s", N_("First resp. s"), "sec"),
    ("response_avg_s", N_("Avg resp. s"), "sec"),
    ("slow_responses", N_("Slow"), "int"),
    ("after_hours", N_("After hours"), "int"),  # 夜间咨询: the bursts whose waits ran from the opening
    ("agent_messages", N_("Agent messages"), "int"),  # a rate's counts beside it: 答问比 and 采纳率 stood alone
    ("customer_messages", N_("Customer messages"), "int"),
    ("ask_answer_ratio", N_("Answers per question"), "ratio"),
    ("short_replies", N_("Short replies"), "int"),
    ("followups_sent", N_("Follow-ups"), "int"),  # what 挽回 is read against
    ("followups_recovered", N_("Won back"), "int"),
    ("suggestions_shown", N_("Suggestions shown"), "int"),
    ("suggestions_used", N_("Suggestions used"), "int"),
    ("adoption_rate", N_("Adoption"), "pct"),
    ("qa_flags", N_("Quality"), "int"),
    ("commission_rate", N_("Commission rate"), "pct"),  # the tier applied, so 提成 can be checked from the table
    ("commission", N_("Commission"), "money"),
    ("upsells", N_("Upsells"), "int"),  # 追销 and what the shop's tiers pay for them
    ("upsell_bonus", N_("Upsell bonus"), "money"),
    ("score", N_("Score"), "score"),
    ("grade", N_("Grade"), "text"),
)


TIMED_OUT = N_(
    "the report took longer than [store] report_timeout_s allows (%(s)s s): ask for fewer days or one shop, or raise it"
)


def reader(config: Config, path: store.Location) -> Callable[[], sqlite3.Connection]:
    """How a report opens each of its read-only connections: on PostgreSQL from the reports' own pool, each statement
    cancelled past `[store] report_timeout_s` (assistant/pg), so that reports never hold the connections an event's
    reads and the panels wait for."""
    if isinstance(path, pg.Location):
        timeout_s = config.store.report_timeout_s
        return lambda: cast(sqlite3.Connection, pg.connect(path, readonly=True, report_timeout_s=timeout_s))
    return lambda: store.connect(path, readonly=True)


def timed_out(exc: BaseException) -> bool:
    """Whether a report's read was cancelled for its time (PostgreSQL's statement_timeout, `reader`)."""
    return getattr(exc, "sqlstate", None) == "57014" and "statement timeout" in str(exc)


def render(
    reports: list[ShopReport],
    fmt: str,
    *,
    config: Config | None = None,
    nav: DayNav | None = None,
    log_links: bool = True,
    period: str = "",
    window_changes: Sequence[window.Change] = (),
) -> str:
    """One of FORMATS; `config` gives the HTML its targets, masking and language.

    `nav` is the served page's day navigation; a file saved with --out has neither it nor `log_links`,
    since a link to the service would be dead in a file. `period` (`metrics.period_text`) names the day or
    range asked for, which a page without a shop's report still titles. `window_changes` are the payment
    window's changes since days of the period were reported (kpi/window.py), said in every format: the JSON's
    `payment_window_changes`, the CSV's column of that name, lines under the table, the page's warnings.
    """
    config = config or Config()
    said = window.warnings(window_changes, config.ui.language, config.tz)
    if fmt == "table":
        return render_table(reports, config.ui.language, window_change=said)
    if fmt == "csv":
        return render_csv(reports, window_changes)
    if fmt == "json":
        return render_json(reports, window_changes)
    if fmt == "html":
        return render_html(
            reports,
            targets=config.kpi.targets,
            slow_s=config.kpi.slow_response_s,
            mask=config.privacy.mask,
            language=config.ui.language,
            nav=nav,
            log_links=log_links,
            period=period,
            window_change=said,
        )
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def to_json(
    reports: list[ShopReport], window_changes: Sequence[window.Change] = ()
) -> dict[str, Any] | list[dict[str, Any]]:
    """One object per shop; a list when there are several (or none). Each says the payment window's changes
    that touch the period (`payment_window_changes`, oldest first; docs/kpi.md), as the page does."""
    docs = [
        {**r.to_json(), "payment_window_changes": [c.to_json(ZoneInfo(r.timezone)) for c in window_changes]}
        for r in reports
    ]
    return docs[0] if len(docs) == 1 else docs


def render_json(reports: list[ShopReport], window_changes: Sequence[window.Change] = ()) -> str:
    return json.dumps(to_json(reports, window_changes), ensure_ascii=False, indent=2) + "\n"


def render_csv(reports: list[ShopReport], window_changes: Sequence[window.Change] = ()) -> str:
    """One row per agent plus the team row, per shop, each with its late refunds (kpi/late.py). Every row
    says the payment window's changes that touch the period in a last column (docs/kpi.md): a note outside the
    rows would break the CSV for programs, and a row of the file is read alone, sorted or filtered."""
    buf = io.StringIO()
    writer = CsvWriter(buf)  # names from the log: formula starts neutralized, line breaks quoted
    head = ["shop", "date", "pending", "payment_window_hours", "agent", *METRIC_KEYS, "late_refunds"]
    writer.writerow([*head, *SUPERVISOR_KEYS, "payment_window_changes"])
    for r in reports:
        changed = " ".join(change.token(ZoneInfo(r.timezone)) for change in window_changes)
        for row in [*r.agents, r.team]:
            values = ("" if row.metrics[key] is None else row.metrics[key] for key in METRIC_KEYS)
            pending = "true" if r.pending else "false"
            late = r.late_refunds_of(row)  # in no figure of the row: what the supervisor may take off its 提成
            boss = ("" if v is None else v for v in (supervisor_cells(r) if row is r.team else SUPERVISOR_NONE))
            writer.writerow([r.shop, r.period, pending, r.window_hours, row.agent, *values, late, *boss, changed])
    return buf.getvalue()


# The 客服主管's commission and each figure it is made of: the team row's own (the agents' rows keep one agent's pay,
# so that a sum over them stays the agents'), empty without a profit margin (docs/kpi.md).
SUPERVISOR_KEYS = (
    "profit_margin",
    "supervisor_agents",
    "supervisor_average_conversion",
    "supervisor_commission_rate",
    "supervisor_commission",
)
_SUPERVISOR_COLUMNS = (
    (N_("Profit margin"), "pct"),
    (N_("Agents with inquiries"), "int"),
    (N_("Agents' average conversion"), "pct"),
    (N_("Supervisor's rate"), "pct"),
    (N_("Supervisor's commission"), "money"),
)


SUPERVISOR_NONE: tuple[None, ...] = tuple(None for _ in SUPERVISOR_KEYS)


def supervisor_cells(r: ShopReport) -> Sequence[Any]:
    """The supervisor's commission as the team row's cells (SUPERVISOR_KEYS): None without a margin, and for the
    rate and the average when no agent had an inquiry."""
    s = r.supervisor
    if s is None:
        return SUPERVISOR_NONE
    return (s.margin, s.agents, s.average_conversion, s.rate, s.commission)


# The workbook adds what the conversion is checked against: A and B beside C.
_XLSX_COLUMNS = tuple(
    extra
    for column in _TABLE_COLUMNS
    for extra in (
        (("order_rate", N_("A order rate"), "pct"), ("pay_rate", N_("B payment rate"), "pct"), column)
        if column[0] == "conversion"
        else (column,)
    )
)
_XLSX_FORMATS = {"pct": "0.0%", "money": "#,##0.00", "sec": "0.0", "ratio": "0.00", "score": "0.0", "int": "#,##0"}


def render_xlsx(
    reports: list[ShopReport],
    out: BinaryIO,
    language: str = i18n.DEFAULT_LANGUAGE,
    *,
    period: str = "",
    window_change: Sequence[str] = (),
) -> None:
    """The table's columns as a workbook for supervisors: headings in `language`, figures as numbers (rates as
    percentages) so that they sort and sum. The agents' rows in the first sheet, the team rows in a second (in
    one sheet a sort moved the team among the agents and a column's sum counted everyone twice); a day still
    being counted says 延迟统计 on each row, as the table and the page say it. `period` names a range with no
    report (its workbook is a 客服报表 all the same). `window_change` (window.warnings) is a third sheet, 付款期限变更,
    one change a row: a note among the rows would move with a sort and count in a column's sum."""
    t = i18n.translator(language)
    columns = [
        Column(t.gettext("Shop"), 12),
        Column(t.gettext("Date"), 12),
        Column(t.gettext("Pending"), 9),
        Column(t.gettext("Payment window (hours)"), 12),
        Column(t.gettext("Agent"), 14),
        *(Column(heading(h, kind, t), 10, _XLSX_FORMATS.get(kind)) for _, h, kind in _XLSX_COLUMNS),
        Column(heading(LATE_REFUNDS, "money", t), 12, _XLSX_FORMATS["money"]),
    ]
    record = any(r.record is not None and r.record.computed for r in reports)
    columns += [Column(heading(RECORD_BONUS, "money", t), 12, _XLSX_FORMATS["money"])] if record else []
    yes, no = t.gettext("yes"), t.gettext("no")

    def row_of(r: ShopReport, row: Any, name: str) -> list[Any]:
        head = [r.shop, r.period, yes if r.pending else no, r.window_hours, name]
        tail = [row.metrics["record_bonus"]] if record else []
        return [*head, *(row.metrics[k] for k, _, _ in _XLSX_COLUMNS), r.late_refunds_of(row), *tail]

    agents = (row_of(r, row, shown_agent(row.agent, t)) for r in reports for row in r.agents)
    # The supervisor's commission is the team row's, in its sheet, where a shop has a margin: a column of the agents'
    # sheet would be summed with their pay (docs/kpi.md).
    paid = any(r.supervisor is not None for r in reports)
    boss = [Column(heading(h, kind, t), 12, _XLSX_FORMATS[kind]) for h, kind in _SUPERVISOR_COLUMNS] if paid else []
    teams = ([*row_of(r, r.team, t.gettext(TEAM)), *(supervisor_cells(r) if paid else ())] for r in reports)
    ranged = "/" in period or any("/" in r.period for r in reports)
    title = t.gettext("Service report") if ranged else t.gettext("KPI report")  # a range's is no 日报
    sheets = [Sheet(title, columns, agents), Sheet(t.gettext("Team"), [*columns, *boss], teams)]
    if window_change:
        changed = t.gettext(WINDOW_CHANGES)
        sheets.append(Sheet(changed, [Column(changed, 160)], ([said] for said in window_change)))
    write_sheets(sheets, out)


def heading(text: str, kind: str, t: i18n.Translator) -> str:
    """A column's heading in the reader's language; a money column's names its unit, 销售额（元）, since the table and the
    workbook show bare numbers (the page writes ¥ before each amount)."""
    return t.gettext(IN_YUAN, heading=t.gettext(text)) if kind == "money" else t.gettext(text)


def _pad(text: str, width: int, left: bool) -> str:
    gap = " " * max(0, width - display_width(text))
    return text + gap if left else gap + text


def render_table(
    reports: list[ShopReport], language: str = i18n.DEFAULT_LANGUAGE, *, window_change: Sequence[str] = ()
) -> str:
    """A readable terminal table per shop: agents ranked, then the team; under each, its notes and the payment
    window's changes that touch the period (`window_change`, window.warnings)."""
    t = i18n.translator(language)
    out = []
    for r in reports:
        zone = t.gettext("(%(zone)s)", zone=i18n.zone_name(r.timezone, language))  # （北京时间）
        first, _sep, last = r.period.partition("/")  # a range as a reader says it: 2026-11-01 至 2026-11-30
        period = t.gettext("%(first)s to %(last)s", first=first, last=last) if last else first
        head = f"{terminal(r.shop, single_line=True)}  {period}  {zone}  " + window_text(r, t)
        if r.pending:
            head += "  — " + t.gettext(
                "pending: orders count until the end of the next day, payments and refunds within the payment window"
            )
        # Each agent's late refunds, beside the figures they are not in.
        late = [heading(LATE_REFUNDS, "money", t)] if r.late_refunds else []
        record = [heading(RECORD_BONUS, "money", t)] if r.record is not None and r.record.computed else []
        header = [t.gettext("Agent"), *(heading(h, kind, t) for _, h, kind in _TABLE_COLUMNS), *late, *record]
        rows = [
            [
                t.gettext(TEAM) if row is r.team else terminal(shown_agent(row.agent, t), single_line=True),
                *(format_value(row.metrics[k], kind) for k, _, kind in _TABLE_COLUMNS),
                *(format_value(r.late_refunds_of(row), "money") for _ in late),
                *(format_value(row.metrics["record_bonus"], "money") for _ in record),
            ]
            for row in [*r.agents, r.team]
        ]
        widths = [max(display_width(line[i]) for line in [header, *rows]) for i in range(len(header))]

        def line(cells: list[str], widths: list[int] = widths) -> str:
            return "  ".join(_pad(c, w, i == 0) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "-" * len(line(header))
        body = [line(c) for c in rows[:-1]]
        note = [t.gettext(PERSON_DAYS)] if "/" in r.period else []
        note += [late_text(r, t)] if r.late_refunds else []
        note += [supervisor_text(r.supervisor, t)] if r.supervisor is not None else []
        note += [terminal(record_text(r.record, t))] if r.record is not None else []
        note += [terminal(said) for said in window_change]
        out.append("\n".join([head, line(header), rule, *body, rule, line(rows[-1]), *note, *_quality_lines(r, t)]))
    return "\n\n".join(out) + "\n"


def late_text(r: ShopReport, t: i18n.Translator) -> str:
    """The period's refunds after their order's window, as the table and the page say them (the team's)."""
    return t.ngettext(
        "%(num)d refund after its order's payment window, %(amount)s in all: in no figure above (the order's day"
        " stays final); a shop that takes such refunds off the commission takes them from here.",
        "%(num)d refunds after their orders' payment window, %(amount)s in all: in no figure above (the orders'"
        " days stay final); a shop that takes such refunds off the commission takes them from here.",
        len(r.late_refunds),
        amount="¥" + format_value(r.late_refunds_counted, "money"),
    )


def window_text(r: ShopReport, t: i18n.Translator) -> str:
    """The payment window the figures used, as every output states it (a changed window recomputes past days)."""
    return t.gettext("payment window %(hours)s h", hours=r.window_hours)


def _labels(r: ShopReport) -> dict[str, str]:
    """Category → label, as the flags themselves were logged."""
    found: dict[str, str] = {}
    for f in r.figures.qa_flagged:
        for flag in f.flags:
            found.setdefault(str(flag.get("category")), str(flag.get("label") or flag.get("category")))
    return found


def _quality_lines(r: ShopReport, t: i18n.Translator) -> list[str]:
    """质检: each agent's flagged messages per category, one line."""
    if not r.figures.qa:
        return []
    labels = _labels(r)
    parts = []
    for agent, counts in sorted(r.figures.qa.items()):
        shown = " ".join(f"{labels.get(c, c)} {n}" for c, n in sorted(counts.items()))
        parts.append(f"{shown_agent(agent, t)}: {shown}")
    return [t.gettext("Quality") + "  " + "   ".join(parts)]


def shown_agent(agent: str, t: i18n.Translator) -> str:
    """An agent's name as a page or the terminal shows it (the unassigned in the reader's language)."""
    return t.gettext(UNASSIGNED_SHOWN) if agent == UNASSIGNED else agent


def _quality_rows(r: ShopReport, t: i18n.Translator) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    labels = _labels(r)
    categories = sorted({c for counts in r.figures.qa.values() for c in counts})
    header = [{"name": c, "label": labels.get(c, c)} for c in categories]
    rows = [
        {"agent": shown_agent(agent, t), "counts": [counts.get(c, 0) for c in categories]}
        for agent, counts in sorted(r.figures.qa.items())
    ]
    return header, rows


# ---- HTML -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of an inline SVG chart, in the chart's own coordinates."""

    x: float
    y: float
    w: float
    h: float
    label: str
    value: int
    css: str


def log_link(shop: str, day: str, conversation: str) -> str:
    """Where the day's log shows a conversation (logs_web.daily_log_url's format; no token: the page cookie opens
    it, docs/panel.md)."""
    params = {"date": day, "shop": shop, "conversation": conversation}
    query = urlencode(params)
    return f"{LOGS_PAGE}?{query}#{quote('conv-' + conversation, safe='')}"


def bucket_label(label: str, t: i18n.Translator) -> str:
    """A response-time bucket as the reader's language writes it (the JSON keeps the keys)."""
    if label == NO_REPLY:
        return t.gettext("no reply")
    if label.endswith("min"):
        return label.removesuffix("min") + t.gettext("min")
    return label.removesuffix("s") + t.gettext("s")


def _response_chart(histogram: dict[str, int], slow_s: float, t: i18n.Translator) -> list[Bar]:
    """One bar per response-time bucket, red past the slow-response threshold, then the unanswered."""
    buckets = [*RESPONSE_BUCKETS, (NO_REPLY, None)]
    top = max([histogram.get(label, 0) for label, _ in buckets] + [1])
    bars, slot, height = [], 60.0, 140.0
    for i, (label, upper) in enumerate(buckets):
        count = histogram.get(label, 0)
        h = height * count / top
        fast = label != NO_REPLY and upper is not None and upper <= slow_s
        shown = bucket_label(label, t)
        bars.append(Bar(i * slot + 8, 10 + height - h, slot - 16, h, shown, count, "good" if fast else "bad"))
    return bars


def _hourly_chart(hourly: list[tuple[int, int]]) -> list[Bar]:
    top = max([max(c, a) for c, a in hourly] + [1])
    bars, slot, height = [], 24.0, 140.0
    for hour, (customer, agent) in enumerate(hourly):
        for j, (count, css) in enumerate(((customer, "customer"), (agent, "agent"))):
            h = height * count / top
            bars.append(Bar(hour * slot + 2 + j * 10, 10 + height - h, 9, h, f"{hour:02d}", count, css))
    return bars


def _flag_rows(
    r: ShopReport,
    flagged: list[Flagged],
    tz: ZoneInfo,
    t: i18n.Translator,
    *,
    mask: bool,
    links: bool,
) -> list[dict[str, Any]]:
    def shown(text: str | None) -> str | None:
        return mask_text(text) if mask and text is not None else text

    rows = []
    for f in flagged:
        local = local_time(f.ts_ms, tz)
        rows.append(
            {
                "time": local.strftime("%m-%d %H:%M:%S") if r.first != r.last else local.strftime("%H:%M:%S"),
                "agent": shown_agent(f.agent, t),
                "customer": f.customer,
                "conversation": f.conversation,
                "text": shown(f.text),
                "wait": f.wait_s,
                "reply": shown(f.reply),
                "link": log_link(r.shop, local.date().isoformat(), f.conversation) if links else None,
                "sender": f.sender,
                "labels": "、".join(dict.fromkeys(str(x.get("label") or x.get("category")) for x in f.flags)),
            }
        )
    return rows


def _late_rows(r: ShopReport, tz: ZoneInfo, t: i18n.Translator) -> dict[str, Any] | None:
    """The late refunds' line and list for the page (None: none in the period)."""
    if not r.late_refunds:
        return None
    rows = [
        {
            "time": local_time(x.ts_ms, tz).strftime("%Y-%m-%d %H:%M"),
            "placed": local_time(x.placed_ms, tz).date().isoformat(),
            "order": x.order,
            "agent": shown_agent(x.agent, t) if x.agent else "",
            "credited": shown_agent(x.credited, t),
            "amount": x.cents / 100,
            "counted": x.counted_cents / 100,
        }
        for x in r.late_refunds
    ]
    ranked = [row.agent for row in r.agents]  # the agents' order in the report
    agents = [
        {"agent": shown_agent(agent, t), "count": count, "counted": counted}
        for agent, (count, counted) in sorted(r.late_refunds_by_agent.items(), key=lambda a: _place(ranked, a[0]))
    ]
    return {"text": late_text(r, t), "rows": rows, "agents": agents, "count": len(r.late_refunds)}


def _place(ranked: list[str], agent: str) -> int:
    return ranked.index(agent) if agent in ranked else len(ranked)


def _cells(metrics: dict[str, Any], targets: KpiTargets) -> dict[str, str]:
    """The colour class of each metric that has a target."""
    return {key: judge(key, value, targets) or "" for key, value in metrics.items()}


def render_html(
    reports: list[ShopReport],
    *,
    targets: KpiTargets,
    slow_s: float = 60.0,
    mask: bool = True,
    language: str = i18n.DEFAULT_LANGUAGE,
    nav: DayNav | None = None,
    log_links: bool = True,
    period: str = "",
    window_change: Sequence[str] = (),
) -> str:
    """A self-contained page: inline CSS and SVG, no scripts, no external assets; all text escaped.

    `mask` hides personal data in the listed chat text (privacy.py); `nav` draws the day navigation of a served page.
    """
    t = i18n.translator(language)
    links = log_links
    # The period asked for, whatever it holds: a range with no conversation was titled as a one-day 日报 of its
    # first day (and a saved page without any report had no period at all).
    period = period or (nav.period if nav is not None else "") or (reports[0].period if reports else "")
    shops = []
    for r in reports:
        tz = ZoneInfo(r.timezone)
        shops.append(
            {
                "report": r,
                "team": r.team.metrics,
                "team_class": _cells(r.team.metrics, targets),
                "agents": [
                    {
                        "rank": i,
                        "name": shown_agent(row.agent, t),
                        "m": row.metrics,
                        "cls": _cells(row.metrics, targets),
                    }
                    for i, row in enumerate(r.agents, 1)
                ],
                "response_bars": _response_chart(r.figures.histogram, slow_s, t),
                "hourly_bars": _hourly_chart(r.figures.hourly),
                "slow": _flag_rows(r, r.figures.slow_responses, tz, t, mask=mask, links=links),
                "short": _flag_rows(r, r.figures.short_replies, tz, t, mask=mask, links=links),
            }
        )
        shops[-1]["late_refunds"] = _late_rows(r, tz, t)
        shops[-1]["supervisor"] = supervisor_text(r.supervisor, t) if r.supervisor is not None else ""
        shops[-1]["record"] = record_text(r.record, t) if r.record is not None else ""
        shops[-1]["record_computed"] = r.record is not None and r.record.computed
        shops[-1]["qa_categories"], shops[-1]["qa_rows"] = _quality_rows(r, t)
        shops[-1]["qa_flagged"] = _flag_rows(r, r.figures.qa_flagged, tz, t, mask=mask, links=links)
    return templating.render(
        "report.html",
        language,
        shops=shops,
        targets=targets,
        slow_s=f"{slow_s:g}",
        nav=nav,
        period=period,
        favicon=FAVICON,
        window_change=window_change,
    )
