"""`GET /reports/daily` (the HTML report) and `GET /v1/reports/daily` (its JSON), for supervisors."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from aiohttp import web

from assistant import store
from assistant.clock import yesterday
from assistant.config import Config, ConfigError
from assistant.kpi import metrics, report
from assistant.web.appkeys import CONFIG, DB_PATH
from assistant.web.auth import presented_token, require
from assistant.web.errors import json_dumps, json_error

MAX_RANGE_DAYS = 92


@dataclass(frozen=True)
class ReportQuery:
    first: date
    last: date
    shop: str | None


class QueryError(ValueError):
    """A query parameter the report cannot use; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_query(query: object, config: Config) -> ReportQuery:
    """`date` (default yesterday, shop time) or `from` and `to`; optional `shop`."""
    get = query.get  # type: ignore[attr-defined]

    def day(name: str) -> date | None:
        text = get(name)
        if text is None or text == "":
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise QueryError(name, f"expected YYYY-MM-DD, got {text!r}") from None

    single, first, last = day("date"), day("from"), day("to")
    if single is not None and (first or last):
        raise QueryError("date", "give either date or from/to")
    if (first is None) != (last is None):
        raise QueryError("to" if last is None else "from", "a range needs both from and to")
    if first is not None and last is not None:
        if last < first:
            raise QueryError("to", f"{last} is before from {first}")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise QueryError("to", f"a range covers at most {MAX_RANGE_DAYS} days")
    else:
        first = last = single or yesterday(config.tz)
    shop = get("shop") or None
    if shop is not None and len(shop) > 200:
        raise QueryError("shop", "longer than 200 characters")
    return ReportQuery(first, last, shop)


def _reports(config: Config, path: store.Location, q: ReportQuery) -> list[metrics.ShopReport]:
    """Runs in a thread: the SQL on read-only connections."""
    return metrics.build_reports(
        lambda: store.connect(path, readonly=True), config, q.first, q.last, shop=q.shop, parallel=True
    )


async def _load(request: web.Request) -> list[metrics.ShopReport] | web.Response:
    require(request, "supervisor")
    config = request.app[CONFIG]
    try:
        q = parse_query(request.query, config)
    except QueryError as exc:
        return json_error(400, "invalid_query", exc.field, exc.message)
    try:
        return await asyncio.to_thread(_reports, config, request.app[DB_PATH], q)
    except ConfigError as exc:
        return json_error(500, "config_error", None, str(exc))


async def daily_report_page(request: web.Request) -> web.StreamResponse:
    """The report as a self-contained HTML page."""
    loaded = await _load(request)
    if isinstance(loaded, web.Response):
        return loaded
    config = request.app[CONFIG]
    token = request.query.get("token") if presented_token(request) == request.query.get("token") else None
    html = await asyncio.to_thread(report.render, loaded, "html", config=config, token=token)
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",  # no script at all
            "Referrer-Policy": "no-referrer",  # the URL may carry ?token=
            "Cache-Control": "no-store",
        },
    )


async def daily_report_json(request: web.Request) -> web.StreamResponse:
    """The report as JSON: one object per shop, a list when there are several."""
    loaded = await _load(request)
    if isinstance(loaded, web.Response):
        return loaded
    return web.json_response(report.to_json(loaded), dumps=json_dumps, headers={"Cache-Control": "no-store"})
