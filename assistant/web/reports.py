"""`GET /reports/daily` (the HTML report) and `GET /v1/reports/daily` (its JSON), for supervisors."""

from __future__ import annotations

import asyncio
import io
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from aiohttp import web

from assistant import store
from assistant.config import Config, ConfigError
from assistant.daylog.archive import archived_in
from assistant.events import clean_name
from assistant.i18n import N_, translator
from assistant.kpi import metrics, report, window
from assistant.web.appkeys import CONFIG, DB_PATH, WORKBOOKS
from assistant.web.auth import require
from assistant.web.daynav import DayNav, QueryError, latest_day, query_day, report_day, shops_in_log
from assistant.web.downloads import FormatError, ascii_name, wanted_format, workbook_response
from assistant.web.errors import json_dumps, json_error

MAX_RANGE_DAYS = 92
# Reports are built in threads of their own, this many at once (the others wait their turn): in the loop's default
# threads six reports held up (a year's, a slow database) kept every page from its thread, a panel's among them.
REPORTS_AT_ONCE = 2
_reports_threads = ThreadPoolExecutor(REPORTS_AT_ONCE, thread_name_prefix="report")


@dataclass(frozen=True)
class ReportQuery:
    first: date | None  # None: the latest day with data
    last: date | None
    shop: str | None


def parse_query(query: object, config: Config) -> ReportQuery:
    """`date` (default: the latest day with data, else yesterday in shop time) or `from` and `to`; `shop`."""
    get = query.get  # type: ignore[attr-defined]

    def day(name: str) -> date | None:
        text = get(name)
        return None if text is None or text == "" else query_day(name, text)

    single, first, last = day("date"), day("from"), day("to")
    if single is not None and (first or last):
        raise QueryError("date", N_("give either date or from/to"))
    if (first is None) != (last is None):
        raise QueryError("to" if last is None else "from", N_("a range needs both from and to"))
    if first is not None and last is not None:
        if last < first:
            raise QueryError("to", N_("%(last)s is before from %(first)s"), last=last, first=first)
        if (last - first).days >= MAX_RANGE_DAYS:
            raise QueryError("to", N_("a range covers at most %(n)s days"), n=MAX_RANGE_DAYS)
    else:
        first = last = single
    shop = clean_name(get("shop") or "") or None
    if shop is not None and len(shop) > 200:
        raise QueryError("shop", N_("longer than %(max)s characters"), max=200)
    return ReportQuery(first, last, shop)


@dataclass(frozen=True)
class Loaded:
    """The reports of the period asked for, and the day navigation around it."""

    reports: list[metrics.ShopReport]
    first: date
    last: date
    latest: date | None
    shops: tuple[str, ...] = ()  # the log's shops, when the one asked for is not among them
    archived: tuple[str, ...] = ()  # the period's days in the archive: the report does not read them
    window_changes: tuple[window.Change, ...] = ()  # the payment window changed since days of the period were reported


def _reports(config: Config, path: store.Location, q: ReportQuery) -> Loaded:
    """Runs in a thread: the SQL on read-only connections."""
    latest = latest_day(config, path, q.shop)
    first = q.first or report_day(config, path, q.shop, latest)
    last = q.last or first
    reports: list[metrics.ShopReport] = []
    connect = report.reader(config, path)  # on PostgreSQL the reports' own connections (not the events' nor panels')
    if q.shop is None or latest is not None:  # a mistyped shop: no data, as `assistant report`, not a report of zeros
        reports = metrics.build_reports(connect, config, first, last, shop=q.shop, parallel=True)
    shops = shops_in_log(path) if q.shop is not None and latest is None else ()
    archived = tuple(day.isoformat() for day in archived_in(config, first, last, q.shop))
    with closing(connect()) as conn:
        changes = tuple(window.touching(conn, config, first, store.now_ms()))
    return Loaded(reports, first, last, latest, shops, archived, changes)


async def _load(request: web.Request, *, page: bool = False) -> Loaded | web.Response:
    """The reports the query asks for, or its error: in English for programs, in `[ui] language` for the page
    (which a browser shows as the error page)."""
    require(request, "supervisor")
    config = request.app[CONFIG]
    try:
        q = parse_query(request.query, config)
    except QueryError as exc:
        return json_error(400, "invalid_query", exc.field, exc.shown(config.ui.language) if page else exc.message)
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _reports_threads, _reports, config, request.app[DB_PATH], q
        )
    except ConfigError as exc:
        return json_error(500, "config_error", None, str(exc))
    except sqlite3.OperationalError as exc:
        if not report.timed_out(exc):
            raise
        values = {"s": f"{config.store.report_timeout_s:g}"}
        shown = (
            translator(config.ui.language).gettext(report.TIMED_OUT, **values) if page else report.TIMED_OUT % values
        )
        return json_error(503, "report_timed_out", None, shown)


async def daily_report_page(request: web.Request) -> web.StreamResponse:
    """The report as a self-contained HTML page, with the day's navigation (`format=xlsx`: as a workbook)."""
    require(request, "supervisor")
    try:
        fmt = wanted_format(request.query)
    except FormatError as exc:
        return json_error(400, "invalid_query", "format", str(exc))
    loaded = await _load(request, page=True)
    if isinstance(loaded, web.Response):
        return loaded
    config = request.app[CONFIG]
    if fmt == "xlsx":
        return await _workbook(
            loaded, config, clean_name(request.query.get("shop") or "") or None, request.app[WORKBOOKS]
        )
    # The links keep the shop, never a token: the page cookie carries it (web/auth.py).
    params = tuple((k, v) for k, v in (("shop", request.query.get("shop")),) if v)
    nav = DayNav(
        loaded.first,
        loaded.latest,
        "/reports/daily",
        params,
        links=loaded.first == loaded.last,
        unknown_shop=request.query.get("shop") if loaded.shops else None,
        shops=loaded.shops,
        archived=loaded.archived,
        workbook=_page_url(loaded, params) + "&format=xlsx",
        last=loaded.last if loaded.last != loaded.first else None,
    )
    html = await asyncio.to_thread(
        report.render, loaded.reports, "html", config=config, nav=nav, window_changes=loaded.window_changes
    )
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",  # no script
            "Referrer-Policy": "no-referrer",  # a program's URL may carry ?token=
            "Cache-Control": "no-store",
        },
    )


def _page_url(loaded: Loaded, params: tuple[tuple[str, str], ...]) -> str:
    """This page's URL: its day or its range, and what it keeps (the shop)."""
    period = [("date", loaded.first.isoformat())] if loaded.first == loaded.last else []
    period = period or [("from", loaded.first.isoformat()), ("to", loaded.last.isoformat())]
    return "/reports/daily?" + urlencode([*period, *params])


async def _workbook(loaded: Loaded, config: Config, shop: str | None, turn: asyncio.Semaphore) -> web.Response:
    buffer = io.BytesIO()
    language = config.ui.language
    said = window.warnings(loaded.window_changes, language, config.tz)  # the page says them: its workbook too
    async with turn:
        period = metrics.period_text(loaded.first, loaded.last)
        await asyncio.to_thread(report.render_xlsx, loaded.reports, buffer, language, period=period, window_change=said)
    period = loaded.first.isoformat() if loaded.first == loaded.last else f"{loaded.first}_{loaded.last}"
    t = translator(language)
    local = t.gettext("KPI report") if loaded.first == loaded.last else t.gettext("Service report")
    named = f"{shop}-{period}" if shop else period  # two shops' workbooks of one day had one name
    return workbook_response(buffer.getvalue(), f"report-{ascii_name(named)}.xlsx", f"{local}-{named}.xlsx")


async def daily_report_json(request: web.Request) -> web.StreamResponse:
    """The report as JSON: one object per shop, a list when there are several; `Content-Location` names the day."""
    loaded = await _load(request)
    if isinstance(loaded, web.Response):
        return loaded
    params = [("date", loaded.first.isoformat())] if loaded.first == loaded.last else []
    params = params or [("from", loaded.first.isoformat()), ("to", loaded.last.isoformat())]
    if request.query.get("shop"):
        params.append(("shop", request.query["shop"]))
    headers = {"Cache-Control": "no-store", "Content-Location": "/v1/reports/daily?" + urlencode(params)}
    if loaded.latest is not None:
        headers["X-Latest-Date"] = loaded.latest.isoformat()  # the newest day with data
    if loaded.archived:
        headers["X-Archived"] = ",".join(
            loaded.archived
        )  # an empty answer for a day the report does not read (docs/kpi.md)
    doc = report.to_json(loaded.reports, loaded.window_changes)
    return web.json_response(doc, dumps=json_dumps, headers=headers)
