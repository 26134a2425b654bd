"""The payment window the KPI figures were last computed with, and its changes (docs/kpi.md).

The report keeps no figures: a changed `[kpi] payment_window_hours` recomputes every past day, final ones too.
So the window in force is recorded (one row of `kpi_window`) with every change (`kpi_window_changes`): whatever
computes figures first with another one (the service's start, `assistant report`) records the change, and the
outputs supervisors read say each change that touches their period.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from assistant import i18n, store
from assistant.clock import local_day
from assistant.config import Config
from assistant.i18n import database_reason
from assistant.writer import Writer

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000


def window_ms(config: Config) -> int:
    """The configured payment window in ms, as the figures use it (metrics.final_ms)."""
    return round(config.kpi.payment_window_hours * HOUR_MS)


def _hours(ms: int) -> int | float:
    """A window as written: 72, not 72.0; 1.5 stays 1.5."""
    hours = ms / HOUR_MS
    return int(hours) if hours == int(hours) else round(hours, 3)


@dataclass(frozen=True)
class Change:
    """The payment window went from `old_ms` to `new_ms`, noticed at `changed_ms`."""

    old_ms: int
    new_ms: int
    changed_ms: int

    def day(self, tz: ZoneInfo) -> date:
        """The local day of the change: days up to it may have been reported with the old window."""
        return local_day(self.changed_ms, tz)

    def covers(self, first: date, tz: ZoneInfo) -> bool:
        """Whether a period starting on `first` holds a day whose figures an earlier report gave otherwise."""
        return first <= self.day(tz)

    def warning(self, language: str, tz: ZoneInfo, *, latest: bool = True) -> str:
        """The change as supervisors read it: old and new window, and that past days are recomputed (`latest`:
        with its new window; else the window changed again since, and that change says what is in force)."""
        t = i18n.translator(language)
        if not latest:
            return t.gettext(
                "The payment window ([kpi] payment_window_hours) changed from %(old)s h to %(new)s h on %(day)s:"
                " reports made before that change gave the days up to %(day)s with %(old)s h.",
                old=_hours(self.old_ms),
                new=_hours(self.new_ms),
                day=self.day(tz).isoformat(),
            )
        return t.gettext(
            "The payment window ([kpi] payment_window_hours) changed from %(old)s h to %(new)s h on %(day)s: every"
            " past day, final ones included, is recomputed with %(new)s h, so the figures of days up to %(day)s can"
            " differ from reports made before the change.",
            old=_hours(self.old_ms),
            new=_hours(self.new_ms),
            day=self.day(tz).isoformat(),
        )

    def token(self, tz: ZoneInfo) -> str:
        """The change in one word, as the CSV's `payment_window_changes` writes it: 2026-12-06:72→24 (docs/kpi.md)."""
        return f"{self.day(tz).isoformat()}:{_hours(self.old_ms)}→{_hours(self.new_ms)}"

    def to_json(self, tz: ZoneInfo) -> dict[str, object]:
        """The change for programs (the JSON report's `payment_window_changes`, docs/kpi.md)."""
        return {
            "from_hours": _hours(self.old_ms),
            "to_hours": _hours(self.new_ms),
            "changed_ms": self.changed_ms,
            "changed_on": self.day(tz).isoformat(),
        }


def note(conn: sqlite3.Connection, config: Config, now_ms: int) -> Change | None:
    """Record the configured window as the one in force; the change when it differs from the recorded one.

    A database without a recorded window (new, or older than the table) records it without a change."""
    configured = window_ms(config)
    row = conn.execute("SELECT window_ms FROM kpi_window WHERE id = 1").fetchone()
    if row is None:
        conn.execute("INSERT INTO kpi_window (id, window_ms) VALUES (1, ?) ON CONFLICT DO NOTHING", (configured,))
        return None
    if int(row[0]) == configured:
        return None
    conn.execute(
        "UPDATE kpi_window SET window_ms = ?, previous_ms = ?, changed_ms = ? WHERE id = 1",
        (configured, int(row[0]), now_ms),
    )
    if store.has_table(conn, "kpi_window_changes"):  # a database not migrated yet keeps the last change alone
        conn.execute(
            "INSERT INTO kpi_window_changes (changed_ms, old_ms, new_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (now_ms, int(row[0]), configured),
        )
    return Change(int(row[0]), configured, now_ms)


def changes(conn: sqlite3.Connection, config: Config, now_ms: int) -> list[Change]:
    """Every recorded change, oldest first, and one not recorded yet (on a read-only connection: the recorded
    window differs from the configured one), dated now."""
    if not store.has_table(conn, "kpi_window"):
        return []
    found: list[Change] = []
    if store.has_table(conn, "kpi_window_changes"):
        sql = "SELECT old_ms, new_ms, changed_ms FROM kpi_window_changes ORDER BY changed_ms, old_ms, new_ms"
        found = [Change(int(old), int(new), int(at)) for old, new, at in conn.execute(sql)]
    row = conn.execute("SELECT window_ms, previous_ms, changed_ms FROM kpi_window WHERE id = 1").fetchone()
    if row is None:
        return found
    if row[1] is not None and row[2] is not None:  # recorded by a release that kept the last change alone
        last = Change(int(row[1]), int(row[0]), int(row[2]))
        found = found if last in found else sorted([*found, last], key=lambda c: c.changed_ms)
    configured = window_ms(config)
    if int(row[0]) != configured:
        found.append(Change(int(row[0]), configured, now_ms))
    return found


def last_change(conn: sqlite3.Connection, config: Config, now_ms: int) -> Change | None:
    """The change that brought the configured window (`changes`); None: no change known."""
    known = changes(conn, config, now_ms)
    return known[-1] if known else None


def touching(conn: sqlite3.Connection, config: Config, first: date, now_ms: int) -> list[Change]:
    """The changes a report of a period starting on `first` must say, oldest first: those after which days of
    the period may read otherwise than in a report made before."""
    return [change for change in changes(conn, config, now_ms) if change.covers(first, config.tz)]


def warnings(changes: Sequence[Change], language: str, tz: ZoneInfo) -> list[str]:
    """The changes as supervisors read them, oldest first; only the last says the window in force."""
    return [change.warning(language, tz, latest=i == len(changes) - 1) for i, change in enumerate(changes)]


def notice(path: store.Location, config: Config, first: date, now_ms: int) -> list[Change]:
    """For a report from `first` on (`assistant report`): the window's changes it must say (`touching`), the
    configured window recorded first when the database takes it."""
    try:
        conn = store.connect(path)
        try:
            with store.transaction(conn):
                if store.has_table(conn, "kpi_window"):
                    note(conn, config, now_ms)
        finally:
            conn.close()
    except sqlite3.Error as exc:  # read-only, or held: the change is said all the same, from what is recorded
        log.info("payment window not recorded in %s (%s); the next report notices the change again", path, exc)
    conn = store.connect(path, readonly=True)
    try:
        return touching(conn, config, first, now_ms)
    finally:
        conn.close()


async def note_at_start(config: Config, writer: Writer) -> None:
    """The service's start: record the configured window, and warn in the log when it differs from the recorded one."""
    try:
        change = await writer.submit(lambda conn: note(conn, config, store.now_ms()))
    except sqlite3.Error as exc:  # the next start, or `assistant report`, notices the change
        log.warning("payment window not recorded (%s)", database_reason(exc))
        return
    if change is not None:
        log.warning("%s", change.warning(config.ui.language, config.tz))
