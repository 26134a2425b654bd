"""Day navigation of the supervisors' pages: which day a page opens on, and its previous/next/latest links."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from assistant import store
from assistant.clock import FIRST_YEAR, LAST_YEAR, day_bounds, local_day, parse_day, yesterday
from assistant.config import Config
from assistant.i18n import N_, translator
from assistant.kpi.logged import latest_message_ms, logged_shops
from assistant.kpi.metrics import period_text


class QueryError(ValueError):
    """A query parameter a supervisors' page cannot use; `field` names it, `message` (English, for programs)
    says why, `shown` says it in the page's language."""

    def __init__(self, field: str, template: str, **values: object) -> None:
        self.field = field
        self.template = template  # a msgid of the catalog
        self.values = values
        self.message = template % values if values else template
        super().__init__(f"{field}: {self.message}")

    def shown(self, language: str) -> str:
        return translator(language).gettext(self.template, **self.values)


def query_day(name: str, text: str) -> date:
    """The day a page's query parameter `name` gives, or the QueryError saying why it is not one."""
    try:
        return parse_day(text)
    except ValueError:
        pass
    try:
        date.fromisoformat(text)
    except ValueError:
        raise QueryError(name, N_("expected YYYY-MM-DD, got %(value)s"), value=repr(text)) from None
    raise QueryError(
        name,
        N_("expected a day in the years %(first)s–%(last)s, got %(value)s"),
        first=FIRST_YEAR,
        last=LAST_YEAR,
        value=text,
    )


def latest_day(
    config: Config, db_path: store.Location, shop: str | None = None, *, before: date | None = None
) -> date | None:
    """The shop-local day of the newest logged message (before the day `before`, if given; runs in a thread);
    None when there is none. Never after today: a message stamped in a future day (a wrong clock, a year 2099
    typo) made every page's "latest day" a day every report refuses."""
    if not store.exists(db_path):
        return None
    tomorrow = local_day(store.now_ms(), config.tz) + timedelta(days=1)
    with closing(store.connect(db_path, readonly=True)) as conn:
        ms = latest_message_ms(conn, shop, day_bounds(min(before or tomorrow, tomorrow), config.tz)[0])
    return None if ms is None else local_day(ms, config.tz)


def shops_in_log(db_path: store.Location) -> tuple[str, ...]:
    """Every shop with a message in the log (runs in a thread): what a page names when asked for one it lacks."""
    if not store.exists(db_path):
        return ()
    with closing(store.connect(db_path, readonly=True)) as conn:
        return tuple(logged_shops(conn))


def report_day(config: Config, db_path: store.Location, shop: str | None, latest: date | None) -> date:
    """The report page's day without a date: the latest day with data that has ended (supervisors read
    yesterday's figures in the morning; today's, still being counted, are one click away), else as `default_day`."""
    today = local_day(store.now_ms(), config.tz)
    if latest is not None and latest >= today:
        return latest_day(config, db_path, shop, before=today) or latest
    return default_day(config, latest)


def default_day(config: Config, latest: date | None) -> date:
    """Without a date a page opens on the latest day with data, else on yesterday (shop time)."""
    return latest if latest is not None else yesterday(config.tz)


@dataclass(frozen=True)
class DayNav:
    """What a page needs to move between days: its day, neighbours, the latest day and the links."""

    day: date
    latest: date | None
    action: str
    params: tuple[tuple[str, str], ...] = ()  # kept across days (shop, token …)
    links: bool = True
    # A shop asked for that the log lacks (a typo), with the shops it has: the page says so, as the command line
    # does, rather than "no other day has data yet".
    unknown_shop: str | None = None
    shops: tuple[str, ...] = ()
    archived: tuple[str, ...] = ()  # the period's days in the archive: the report does not read them (the log does)
    workbook: str = ""  # the page's workbook link, when the page builds it (a range's)
    last: date | None = None  # a range's last day (`day` is its first)

    @property
    def range_first(self) -> str:
        """The range form's first day: the range's, or the first of the day's month (a month to date)."""
        return (self.day if self.last is not None else self.day.replace(day=1)).isoformat()

    @property
    def range_last(self) -> str:
        return (self.last or self.day).isoformat()

    @property
    def period(self) -> str:
        """The day, or a range as an ISO 8601 interval (its page is a range's whatever it holds)."""
        return period_text(self.day, self.last or self.day)

    @property
    def prev(self) -> date:
        return self.day - timedelta(days=1)

    @property
    def next(self) -> date | None:
        """The next day, up to the latest day with data (or yesterday's neighbour when there is none)."""
        following = self.day + timedelta(days=1)
        return following if self.latest is None or following <= self.latest else None

    @property
    def hidden(self) -> tuple[tuple[str, str], ...]:
        return self.params

    def url(self, day: date) -> str:
        return self.action + "?" + urlencode([("date", day.isoformat()), *self.params])

    @property
    def prev_url(self) -> str:
        return self.url(self.prev)

    @property
    def next_url(self) -> str:
        return self.url(self.next) if self.next else ""

    @property
    def latest_url(self) -> str:
        return self.url(self.latest) if self.latest else ""

    @property
    def workbook_url(self) -> str:
        """This day, with what the page keeps (shop, filters, token), as the supervisors' workbook (.xlsx)."""
        return self.workbook or self.url(self.day) + "&format=xlsx"

    def to_json(self) -> dict[str, str | None]:
        """The JSON twin's account of the day it returns."""
        return {
            "date": self.period,
            "latest_with_data": self.latest.isoformat() if self.latest else None,
            "previous": self.prev.isoformat(),
            "next": self.next.isoformat() if self.next else None,
        }
