"""A shop's figures over a day or a range of local days, each order counted once (docs/kpi.md, "The team row,
ranges"): the days' bounds and clocks, and the day-by-day sum that the report and the 询单转化率 record read."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from assistant.clock import midnight
from assistant.config import Config, KpiConfig
from assistant.kpi.figures import DayFigures, Window
from assistant.kpi.queries import customers_of_day, day_figures


def credit_window(day: date, tz: ZoneInfo) -> tuple[int, int, int]:
    """Epoch ms of the local midnight starting `day`, the one ending it, and the one ending D+1 (when it settles)."""
    return midnight(day, tz), midnight(day + timedelta(days=1), tz), midnight(day + timedelta(days=2), tz)


def day_window(day: date, tz: ZoneInfo) -> Window:
    """The local day `day` as the queries read it: its bounds and its clock (a DST change within it found to the
    second), so that a message is counted in the hour its local time shows."""
    start, end, horizon = credit_window(day, tz)

    def offset_ms(second: int) -> int:
        return int((datetime.fromtimestamp(second, tz).utcoffset() or timedelta(0)).total_seconds() * 1000)

    first, last = start // 1000, (end - 1) // 1000
    if offset_ms(first) == offset_ms(last):
        return Window(start, end, horizon, offset_ms(first), end, 0)
    while last - first > 1:  # offset(first) is the day's first, offset(last) its last
        middle = (first + last) // 2
        if offset_ms(middle) == offset_ms(first):
            first = middle
        else:
            last = middle
    return Window(start, end, horizon, offset_ms(start // 1000), last * 1000, offset_ms(last) - offset_ms(first))


def window_ms(kpi: KpiConfig) -> int:
    """The payment window in milliseconds."""
    return round(kpi.payment_window_hours * 3_600_000)


def period_figures(
    connect: Callable[[], sqlite3.Connection],
    config: Config,
    shop: str,
    first: date,
    last: date,
    *,
    now_ms: int,
    list_limit: int = 200,
    parallel: bool = False,
) -> DayFigures:
    """The figures of `shop` over [first, last], the days summed."""
    slow_ms, recovery_ms = round(config.kpi.slow_response_s * 1000), round(config.kpi.recovery_window_s * 1000)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    hours = config.shop.hours_of(shop)  # waits run within them (docs/kpi.md, "Service hours")
    total = DayFigures()
    # Each order counts once in a range, on the earliest day that credits it: a day credits orders created
    # until the end of the next, which may credit them again (a customer who wrote on both days). The day
    # before a range is the last of the range before it: the orders it credits are that range's.
    credited: set[str] = set()
    if first < last:
        before = day_window(first - timedelta(days=1), config.tz)
        credited = customers_of_day(
            connect, shop, before, slow_ms=slow_ms, recovery_ms=recovery_ms, now_ms=now_ms
        ).late_orders
    for i, day in enumerate(days):
        figures = day_figures(
            connect,
            shop,
            day_window(day, config.tz),
            slow_ms=slow_ms,
            recovery_ms=recovery_ms,
            now_ms=now_ms,
            payment_window_ms=window_ms(config.kpi),
            list_limit=list_limit,
            parallel=parallel,
            exclude_orders=credited,
            late_orders=i + 1 < len(days),
            spans=None if hours is None else hours.spans(day, config.tz),
        )
        credited = figures.late_orders
        total.merge(figures, list_limit)
    return total
