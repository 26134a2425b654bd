"""A day's events selected through a time index first, then grouped: on SQLite, whatever its statistics say.

A DISTINCT or a GROUP BY over (shop, conversation) of one shop's day (`shop = ? AND ts_ms >= ? AND ts_ms < ?`) makes
the index events_conversation (shop, conversation, ts_ms) attractive to SQLite's planner, as it yields the rows in
that order: on a log without statistics (the service never runs ANALYZE) it took that index, reading the shop's whole
history to keep one day of it (docs/scaling.md, "A shop's day"). Selected alone, in a CTE SQLite materializes, the
day's rows need no order, and the planner reads them through events_shop_ts or events_ts, with statistics or without;
the DISTINCT or the GROUP BY runs over those rows. PostgreSQL inlines a CTE referenced once when not told to
materialize it, so its plans are what they were.
"""

from __future__ import annotations


def rows_cte(dialect: str, name: str, select: str) -> str:
    """`name AS MATERIALIZED (select)` on SQLite, `name AS (select)` on PostgreSQL: one CTE of a WITH clause."""
    hint = "MATERIALIZED " if dialect == "sqlite" else ""
    return f"{name} AS {hint}({select})"
