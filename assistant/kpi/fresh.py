"""On PostgreSQL, the statistics of the tables a report reads brought up to date before it (docs/kpi.md, "Reports on
PostgreSQL").

Without statistics (a bulk import, a restore, autovacuum behind on a busy server) the planner guesses one message a
day and picks, among the indexes that fit a seek, one that reads the whole day's messages for each message: 25 s for
a 15,706-event day's report, 1 s once analyzed. The copy checks are written so that no plan joins the day to
itself (kpi/rules.py), but which index a seek takes is the planner's to choose, from the statistics alone. So a
report first analyzes the tables it reads whose rows changed past autovacuum's own threshold since they were last
analyzed (50 rows and a tenth of the table, PostgreSQL's defaults): the state autovacuum would have fixed had it
come by; and those holding rows but no statistics at all. A role that may not analyze them (not their owner: a
shop's read-only reporting role) gets its report all the same, its seeks written so that no plan reads the day for
each message (kpi/seeks.py), and a line in the log. PostgreSQL skips such a table with a warning, not an error:
the role's right is asked first (the report said it had analyzed tables it had not).
"""

from __future__ import annotations

import logging
import sqlite3

from assistant import store

log = logging.getLogger(__name__)

TABLES = ("messages", "orders", "suggestion_uses", "followups", "events")
# Stale: rows changed past autovacuum's threshold since the last ANALYZE (a bulk import), or rows and no statistics at
# all (a pg_upgrade, a database made from a template: the change counters start at zero there). An empty table is
# left alone (analyzing it gives no statistics either, and every report would do it again).
_STALE = f"""
SELECT c.relname FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname IN ({", ".join(f"'{t}'" for t in TABLES)})
  AND (coalesce(s.n_mod_since_analyze, 0) > 50 + 0.1 * (CASE WHEN s.last_analyze IS NULL
                                                           AND s.last_autoanalyze IS NULL THEN 0 ELSE s.n_live_tup END)
       OR c.reltuples <> 0 AND NOT EXISTS (
         SELECT 1 FROM pg_stats t WHERE t.schemaname = current_schema() AND t.tablename = c.relname))
ORDER BY c.relname
"""
# Who may ANALYZE a table: its owner, the database's owner, a superuser (pg_has_role is true for one), and from
# PostgreSQL 17 a role granted MAINTAIN on it.
_MAY = """
SELECT pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE'){maintain}
FROM pg_class c, pg_database d
WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ? AND d.datname = current_database()
"""


def analyze_stale(conn: sqlite3.Connection) -> list[str]:
    """ANALYZE the report's tables whose statistics lag (none on SQLite, whose plans need none); the names done."""
    if store.dialect(conn) != "postgresql":
        return []
    stale = [str(row[0]) for row in conn.execute(_STALE)]
    if not stale:
        return []
    version = int(conn.execute("SHOW server_version_num").fetchone()[0])
    may = _MAY.replace("{maintain}", " OR has_table_privilege(c.oid, 'MAINTAIN')" if version >= 170000 else "")
    refused = [table for table in stale if not conn.execute(may, (table,)).fetchone()[0]]
    if refused:
        log.warning("could not ANALYZE %s, whose statistics lag: not their owner", ", ".join(refused))
    done = []
    for table in stale:  # one at a time: a refusal of one leaves the others analyzed
        if table in refused:
            continue
        try:
            conn.execute(f"ANALYZE {table}")  # a name of TABLES, never the caller's
        except sqlite3.Error as exc:
            log.warning("could not ANALYZE %s, whose statistics lag (%s)", table, exc)
            continue
        done.append(table)
    if done:
        log.info("analyzed %s before the report: their statistics lagged", ", ".join(done))
    return done
