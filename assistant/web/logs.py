"""`GET /logs/daily`: the daily log as a page with filters and search (supervisor token)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlencode

from aiohttp import web

from assistant import store
from assistant.config import Config
from assistant.daylog.archive import ArchiveError
from assistant.daylog.formats import Wording, wording_of
from assistant.daylog.query import (
    Conversation,
    DayQuery,
    Item,
    Rules,
    conversation_keys,
    day_choices,
    iter_conversations,
    iter_items,
)
from assistant.daylog.search import Sought
from assistant.daylog.source import open_day
from assistant.daylog.workbook import write_xlsx
from assistant.events import ORDER_TYPES, clean_name
from assistant.i18n import N_, event_kinds, followup_states, label, translator
from assistant.privacy import search_fold
from assistant.templating import FAVICON, render_page
from assistant.web.appkeys import CONFIG, DB_PATH, ENGINE, QA, QA_INSPECTOR, WORKBOOKS
from assistant.web.auth import require
from assistant.web.daynav import DayNav, QueryError, default_day, latest_day, query_day, shops_in_log
from assistant.web.downloads import FormatError, ascii_name, wanted_format, workbook_response
from assistant.web.errors import json_error
from assistant.web.longreads import LongReads, TimedOut

if TYPE_CHECKING:
    from assistant.suggest.phrases import Library

T = TypeVar("T")

# The pages are read in threads of their own, this many at once (the others wait their turn), from the reports'
# connections (pg.supervisors_reads): eight supervisors opening a big day's log took every thread of the loop's
# default executor and every connection of the readers' pool, and events and the panel pages waited for them.
DAYLOGS_AT_ONCE = 2
TIMED_OUT = N_(
    "the daily log took longer than [store] report_timeout_s allows (%(s)s s): pick one shop or agent, or raise it"
)
_daylogs = LongReads("daylog", DAYLOGS_AT_ONCE, "daylog_timed_out", TIMED_OUT)
PAGE_SIZE = 100  # conversations per page
MAX_PAGE_SIZE = 1000
# A filtered page counts the matches past it (共 N 条) by reading on, for this many conversations at most: a
# broad filter on a big day would otherwise read the whole day for a count (4-7 s at 200,000 messages).
COUNT_AHEAD = 1000


def daily_log_url(day: date, shop: str | None = None, conversation: str | None = None) -> str:
    """A link to a day's log, opened at one conversation (for the KPI report's flagged rows)."""
    params = {"date": day.isoformat()}
    if shop is not None:
        params["shop"] = shop
    if conversation is not None:
        params["conversation"] = conversation
    url = "/logs/daily?" + urlencode(params)
    return url + "#" + quote(f"conv-{conversation}", safe="") if conversation is not None else url


@dataclass(frozen=True)
class Filters:
    """The page's filters; conversation-level ones keep a conversation when any of its messages matches."""

    agent: str | None = None
    customer_type: str | None = None
    intent: str | None = None
    slow: bool = False
    unanswered: bool = False
    short: bool = False
    qa: str | None = None  # a quality category, or "any"
    search: str = ""
    conversation: str | None = None
    offset: int = 0
    limit: int = PAGE_SIZE

    @property
    def narrows(self) -> bool:
        return bool(
            self.customer_type or self.intent or self.slow or self.unanswered or self.short or self.qa or self.search
        )

    def hits(self, item: Item) -> bool:
        """Whether one item matches every message-level filter that is set."""
        if item["kind"] not in ("message", "followup", *ORDER_TYPES):
            return False
        if self.customer_type and item.get("customer_type") != self.customer_type:
            return False
        if self.intent and item.get("intent") != self.intent:
            return False
        if self.slow and not item.get("slow"):
            return False
        if self.unanswered and not item.get("unanswered"):
            return False
        if self.short and not item.get("short"):
            return False
        if self.qa and not any(self.qa in ("any", f.get("category")) for f in item.get("qa") or ()):
            return False
        if self.search and not self._shows(item, search_fold(self.search)):
            return False
        return item["kind"] in ("message", "followup") or bool(self.search)  # an order matches a search only

    @staticmethod
    def _shows(item: Item, folded: str) -> bool:
        """Whether the item shows the searched text: in its text, or as the buyer's id on the buyer's own
        message, or as an order's id (a supervisor following a complaint or an order has these in hand)."""
        if folded in search_fold(item.get("text") or ""):
            return True
        if item.get("sender") == "customer" and folded in search_fold(item.get("customer") or ""):
            return True
        return item["kind"] in ORDER_TYPES and folded in search_fold(str(item.get("order") or ""))


@dataclass
class Shown:
    """A conversation on the page, with the ids of the items that matched the filters."""

    conversation: Conversation
    hits: set[str] = field(default_factory=set)


@dataclass
class Page:
    day: date
    shop: str | None
    filters: Filters
    masked: bool
    timezone: str
    conversations: list[Shown]
    more: bool
    choices: dict[str, list[str]]
    qa_labels: dict[str, str] = field(default_factory=dict)  # quality category → label, for the filter
    latest: date | None = None  # the latest day with data
    shops: tuple[str, ...] = ()  # the log's shops, when the one asked for is not among them
    total: int = 0  # the conversations that pass the filters, on every page (共 N 个会话)
    hits: int = 0  # with message filters or a search: the items that match, on every page (共 N 条)
    counted: bool = True  # False: more match than `total` and `hits` say, which stopped at COUNT_AHEAD


async def daily_log_page(request: web.Request) -> web.StreamResponse:
    """The day's conversations, filtered, each folded; `?unmasked=1` needs the admin token."""
    require(request, "supervisor")
    config = request.app[CONFIG]
    query = request.query
    try:
        fmt = wanted_format(query)
    except FormatError as exc:
        return json_error(400, "invalid_query", "format", str(exc))
    try:
        day = _date(query.get("date"))
        filters = _filters(query)
    except QueryError as exc:  # said in the page's language: a browser shows it on the error page
        return json_error(400, "invalid_query", exc.field, exc.shown(config.ui.language))
    masked = config.privacy.mask
    if query.get("unmasked") in ("1", "true", "on") and masked:
        require(request, "admin")
        masked = False
    shop = clean_name(query.get("shop") or "") or None
    if fmt == "xlsx":
        library = request.app[ENGINE].library if ENGINE in request.app else None
        wording = wording_of(library, config.ui.language)
        try:
            async with request.app[WORKBOOKS]:
                data, day = await _daylogs.read(
                    config, partial(build_workbook, config, request.app[DB_PATH], day, shop, filters, masked, wording)
                )
        except ArchiveError as exc:
            return json_error(409, "archive_unreadable", "date", str(exc))
        except TimedOut:
            return _daylogs.timed_out(config)
        local = translator(config.ui.language).gettext("Daily log")
        named = f"{shop}-{day}" if shop else str(day)
        return workbook_response(data, f"daily-log-{ascii_name(named)}.xlsx", f"{local}-{named}.xlsx")
    try:
        page = await _daylogs.read(
            config, partial(build_page, config, request.app[DB_PATH], day, shop, filters, masked)
        )
    except ArchiveError as exc:
        return json_error(409, "archive_unreadable", "date", str(exc))
    except TimedOut:
        return _daylogs.timed_out(config)
    nonce = secrets.token_urlsafe(16)
    # The rules serving now (a reload replaces them; QA_INSPECTOR is the start's, released by the first reload).
    inspector = request.app[QA].inspector if QA in request.app else request.app.get(QA_INSPECTOR)
    if inspector is not None:
        page.qa_labels = {k: v for k, v in inspector.labels().items() if k != "short"}
    language = config.ui.language
    # The day links and the date picker keep the filters: a supervisor following an agent, a search or a conversation
    # across midnight to the day before lost them on every step. Paging starts again at the top.
    f = page.filters
    kept = (  # never a token: the page cookie carries it (web/auth.py)
        ("shop", shop), ("agent", f.agent), ("customer_type", f.customer_type), ("intent", f.intent),
        ("slow", "1" if f.slow else None), ("unanswered", "1" if f.unanswered else None),
        ("short", "1" if f.short else None), ("qa", f.qa), ("q", f.search or None), ("conversation", f.conversation),
        ("unmasked", None if masked else "1"),
    )  # fmt: skip
    params = tuple((k, v) for k, v in kept if v)
    nav = DayNav(
        page.day, page.latest, "/logs/daily", params, unknown_shop=shop if page.shops else None, shops=page.shops
    )
    labels = library_labels(request.app[ENGINE].library if ENGINE in request.app else None, language)
    html = await render_page(
        "daylog.html", language, page=page, nonce=nonce, url=_page_url, nav=nav, labels=labels,
        favicon=FAVICON,
    )  # fmt: skip
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'nonce-{nonce}'; form-action 'self'"
            ),
            "Referrer-Policy": "no-referrer",  # a program's URL may carry ?token=
            "Cache-Control": "no-store",
        },
    )


def build_page(
    config: Config, db_path: store.Location, day: date | None, shop: str | None, filters: Filters, masked: bool
) -> Page:
    """Read the day (None: the latest with data) and keep one page of the conversations that pass the filters.

    Runs in a thread.
    """
    latest, query, rules = _day_query(config, db_path, day, shop, filters, masked)
    day = query.day
    with open_day(config, db_path, day, shop) as conn:
        choices = _with_chosen(day_choices(conn, query, rules), filters)
        keys, skip, listed = None, filters.offset, 0
        if not filters.narrows:
            # Without message filters every listed conversation is shown: the listing counts them (no second
            # query), and the page starts at its own instead of reading and annotating all the conversations
            # before it (the last of 20,000 took 3.8 s).
            with closing(conversation_keys(conn, query, rules)) as every:
                before = sum(1 for _key in islice(every, filters.offset))
                keys, skip = list(islice(every, filters.limit + 1)), 0
                listed = before + len(keys) + sum(1 for _key in every)
        with closing(iter_items(conn, query, rules, keys=keys)) as items:
            shown, more, matched, hits, counted = _one_page(iter_conversations(items), filters, skip)
    shops = shops_in_log(db_path) if shop is not None and latest is None else ()
    total = matched if filters.narrows else listed
    return Page(
        day, shop, filters, masked, config.shop.timezone, shown, more, choices, latest=latest, shops=shops,
        total=total, hits=hits, counted=counted or not filters.narrows,
    )  # fmt: skip


def _day_query(
    config: Config, db_path: store.Location, day: date | None, shop: str | None, filters: Filters, masked: bool
) -> tuple[date | None, DayQuery, Rules]:
    """The latest day with data, and the query of the day asked for (None: that latest day)."""
    latest = latest_day(config, db_path, shop)
    sought = Sought(filters.search, filters.intent, filters.customer_type, filters.qa)
    query = DayQuery(
        day or default_day(config, latest), shop=shop, agent=filters.agent, conversation=filters.conversation,
        mask=masked, sought=sought or None,
    )  # fmt: skip
    return latest, query, Rules.from_config(config)


def build_workbook(
    config: Config,
    db_path: store.Location,
    day: date | None,
    shop: str | None,
    filters: Filters,
    masked: bool,
    wording: Wording,
) -> tuple[bytes, date]:
    """Every conversation of the day the filters keep (not one page), whole, as the supervisors' workbook, and
    the day it holds. Runs in a thread."""
    _latest, query, rules = _day_query(config, db_path, day, shop, filters, masked)
    buffer = io.BytesIO()
    with open_day(config, db_path, query.day, shop) as conn, closing(iter_items(conn, query, rules)) as items:
        kept = (item for shown in _matching(iter_conversations(items), filters) for item in shown.conversation.items)
        write_xlsx(kept, buffer, wording)
    return buffer.getvalue(), query.day


def _with_chosen(choices: dict[str, list[str]], filters: Filters) -> dict[str, list[str]]:
    """The menus' values with each chosen one the day lacks (a kept link): the menu then shows the filter
    in force, where it read 全部 over a filtered page and sending the form again dropped the filter."""
    chosen = {"agent": filters.agent, "customer_type": filters.customer_type, "intent": filters.intent}
    shown = dict(choices)
    for name, value in chosen.items():
        if value and value not in shown.get(name, []):
            shown[name] = sorted([*shown.get(name, []), value])
    return shown


def _one_page(
    conversations: Iterator[Conversation], filters: Filters, skip: int
) -> tuple[list[Shown], bool, int, int, bool]:
    """The page's conversations after the first `skip` that match, whether more follow, and how many
    conversations and items match: the pass goes on past the page to count them (共 N 条), for COUNT_AHEAD
    conversations at most (False: more than that match, and the counts stop there)."""
    shown: list[Shown] = []
    matched = hits = 0
    for item in _matching(conversations, filters):
        if matched == skip + filters.limit + COUNT_AHEAD:
            return shown, True, matched, hits, False
        matched += 1
        hits += len(item.hits)
        if skip < matched <= skip + filters.limit:
            shown.append(item)
    return shown, matched > skip + len(shown), matched, hits, True


def library_labels(library: Library | None, language: str) -> dict[str, Any]:
    """Names of intents, customer types, follow-up states and event kinds in the page's language, and
    `phrase`: a phrase's code as agents know it (hd2), by its id (an id no longer in the library stays)."""
    intents = library.intents if library is not None else {}
    types = library.customer_types if library is not None else {}
    by_id = library.by_id if library is not None else {}

    def phrase(phrase_id: str) -> str:
        found = by_id.get(phrase_id)
        return found.code if found is not None and found.code else phrase_id

    return {
        "intent": {i: label(language, i, spec.label) for i, spec in intents.items()},
        "customer_type": {i: label(language, i, spec.label) for i, spec in types.items()},
        "followup_state": followup_states(language),
        "event_kind": event_kinds(language),
        "phrase": phrase,
    }


def _matching(conversations: Iterator[Conversation], filters: Filters) -> Iterator[Shown]:
    for conversation in conversations:
        hits = {item["id"] for item in conversation.items if filters.hits(item)} if filters.narrows else set()
        if filters.narrows and not hits:
            continue
        yield Shown(conversation, hits)


def _date(text: str | None) -> date | None:
    if not text:
        return None  # the latest day with data (supervisors read yesterday each morning)
    return query_day("date", text)


def _filters(query: object) -> Filters:
    get = query.get  # type: ignore[attr-defined]

    def flag(name: str) -> bool:
        return get(name) in ("1", "true", "on")

    def number(name: str, default: int, top: int) -> int:
        text = get(name)
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            raise QueryError(name, N_("expected a whole number, got %(value)s"), value=repr(text)) from None
        if not 0 <= value <= top:
            raise QueryError(name, N_("expected %(low)s to %(top)s, got %(value)s"), low=0, top=top, value=value)
        return value

    return Filters(
        agent=clean_name(get("agent") or "") or None,
        customer_type=get("customer_type") or None,
        intent=get("intent") or None,
        slow=flag("slow"),
        unanswered=flag("unanswered"),
        short=flag("short"),
        qa=get("qa") or None,
        search=(get("q") or "").strip(),
        conversation=get("conversation") or None,
        offset=number("offset", 0, 10**9),
        limit=number("limit", PAGE_SIZE, MAX_PAGE_SIZE) or PAGE_SIZE,
    )


def _page_url(page: Page, **changes: object) -> str:
    """This page's URL with some parameters changed (pagination links)."""
    f = page.filters
    params: dict[str, object] = {
        "date": page.day.isoformat(),
        "shop": page.shop,
        "agent": f.agent,
        "customer_type": f.customer_type,
        "intent": f.intent,
        "slow": "1" if f.slow else None,
        "unanswered": "1" if f.unanswered else None,
        "short": "1" if f.short else None,
        "qa": f.qa,
        "q": f.search or None,
        "conversation": f.conversation,
        "offset": f.offset or None,
        "limit": f.limit if f.limit != PAGE_SIZE else None,
        "unmasked": None if page.masked else "1",
    }
    params.update(changes)
    return "/logs/daily?" + urlencode({k: v for k, v in params.items() if v is not None})
