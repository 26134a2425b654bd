"""The database's whole schema history, in order, and the SQL predicates its indexes are built on.

Every migration lives here (as maubot keeps its schema in one place); the capability packages keep
their queries. A rule that exists both as SQL and in Python is defined once, here."""

from __future__ import annotations

from sqlite_utils.migrations import Migrations

from assistant.events import NAME_PADDING, UNSEEN_CHARS
from assistant.logfile.indexes import SQLITE_LATER

migrations = Migrations("assistant")

# ---- rules shared by SQL and Python ---------------------------------------------------------------

SHORT_REPLY_CHARS = 4  # a human reply under 4 characters, whitespace removed, is short (docs/kpi.md)
# Removed before counting: ASCII whitespace, NBSP and the ideographic space U+3000 (full-width input).
# Other Unicode spaces (an em space, say) count as characters, in SQL and in Python alike.
SHORT_REPLY_WHITESPACE = (32, 9, 10, 11, 12, 13, 160, 12288)


def _short_reply_sql() -> str:
    text = "text"
    for code in SHORT_REPLY_WHITESPACE:
        text = f"replace({text}, char({code}), '')"
    return f"length({text}) < {SHORT_REPLY_CHARS}"


SHORT_REPLY_SQL = _short_reply_sql()

_WHITESPACE_CHARS = tuple(chr(code) for code in SHORT_REPLY_WHITESPACE)
_WHITESPACE_SET = frozenset(_WHITESPACE_CHARS)


def is_short_reply(text: str) -> bool:
    """The Python twin of SHORT_REPLY_SQL (counting, not translating: it runs on every agent message)."""
    if len(text) < SHORT_REPLY_CHARS:
        return True
    if not any(ch in _WHITESPACE_SET for ch in text[:SHORT_REPLY_CHARS]):
        return False  # its first characters already make it long enough
    return len(text) - sum(text.count(ch) for ch in _WHITESPACE_CHARS) < SHORT_REPLY_CHARS


# A conversation's messages are found through messages_kpi_conversation (shop, conversation, sender, ts_ms, …);
# messages_conversation_ts (shop, conversation, ts_ms) only ordered them by time as well. Every logged message
# wrote both at a place of its own conversation: on a log of 120,000 events, dropping the second took the
# writer's CPU per event down by a tenth (docs/scaling.md). Reads that want a conversation's messages in time
# order now sort them, or seek each sender's in turn (kpi/queries.py, _CARRIED).
DROP_CONVERSATION_TS = "DROP INDEX IF EXISTS messages_conversation_ts;"
# A conversation's orders: read when the service first meets a conversation (store.open_orders, on the event loop),
# when a follow-up fires (unpaid orders, a payment since the reply) and when a day is archived. Without it each
# of those walked the shop's orders by time: 91 ms a conversation on a day of 50,000 orders of one shop, and
# more every day the log keeps.
ORDERS_BY_CONVERSATION = "CREATE INDEX IF NOT EXISTS orders_conversation ON orders (shop, conversation, created_ms);"
# An order's closing (`order_closed`: cancelled, or closed unpaid by the platform), when and by which event.
ORDER_CLOSING = "ALTER TABLE orders ADD COLUMN closed_ms BIGINT; ALTER TABLE orders ADD COLUMN closed_seq BIGINT;"
# Whether a follow-up's last attempt may have reached the customer, in a table of its own: a column of `followups`
# broke the previous release on a migrated file (it reads the rows whole into its record), and with it every
# follow-up of an instance of that release still running beside upgraded ones. A follow-up without a row is unknown.
FOLLOWUP_OUTCOME = "CREATE TABLE followup_outcomes (id TEXT PRIMARY KEY, unknown INTEGER NOT NULL);"
# Why a customer message was answered without suggestions (`suggestions_withheld`: matching_busy), NULL when it was
# matched: a card rebuilt from the log (a restart, another instance) says what the agent saw live, where it matched
# the message again and showed suggestions the agent never had. Nothing reads `messages` whole into a record of
# fixed fields (the archive and the buyers' export take the columns there are), so a release before it runs on it.
SUGGESTIONS_WITHHELD = "ALTER TABLE messages ADD COLUMN suggestions_withheld TEXT;"

# Each payment of an order (a 预售 deposit and its balance are two), told apart by time and amount in fen: the same
# payment notified twice is one row. A refund (`order_refunded`) is a row of negative fen (store.py). Filled from the events a log holds, fen rounded as store.cents rounds them.
PAYMENTS = """
CREATE TABLE payments (shop TEXT NOT NULL, order_id TEXT NOT NULL, paid_ms BIGINT NOT NULL, cents BIGINT NOT NULL,
  seq BIGINT NOT NULL, PRIMARY KEY (shop, order_id, paid_ms, cents));
INSERT INTO payments SELECT shop, {order}, ts_ms, {cents}, seq FROM events WHERE type = 'order_paid' ORDER BY seq
  ON CONFLICT DO NOTHING;
"""
# An order_paid event's order and amount in fen, by dialect (SQLite's CAST truncates: floor, amounts being ≥ 0).
PAYMENT_SOURCE = {
    "sqlite": ("json_extract(raw, '$.order')", "CAST(json_extract(raw, '$.amount') * 100 + 0.5 AS INTEGER)"),
    "postgresql": ("raw::jsonb ->> 'order'", "floor((raw::jsonb ->> 'amount')::double precision * 100 + 0.5)::bigint"),
}
_TRIM = "UPDATE {t} SET {c} = trim({c}, '{p}') WHERE {c} <> trim({c}, '{p}');"
_NAMED = ("events", "messages", "orders", "suggestion_uses", "conversations")
TRIMMED_NAMES = "".join(_TRIM.format(t=t, c=c, p=NAME_PADDING) for t in _NAMED for c in ("customer", "agent"))
# Names cleaned as intake cleans them (events.clean_name): the characters that show nothing removed, then the
# padding trimmed (100_trimmed_names trimmed the padding only: \ufeff阿强 stayed an agent of its own), in every
# table that holds a customer or an agent name. `where` narrows the rows (the upgrade's repair, upgrade.py).
NAME_COLUMNS = {t: ("customer", "agent") for t in (*_NAMED, "followups", "qa_alerts")} | {"timers": ("agent",)}


def cleaned_names(where: dict[str, str] | None = None) -> str:
    """The statements cleaning every name column, each table's rows narrowed by `where[table]` (SQL) if given."""
    statements = []
    for table, cols in NAME_COLUMNS.items():
        for col in cols:
            value = col
            for char in UNSEEN_CHARS:
                value = f"replace({value}, '{char}', '')"
            value = f"trim({value}, '{NAME_PADDING}')"
            narrowed = f" AND {where[table]}" if where else ""
            statements.append(f"UPDATE {table} SET {col} = {value} WHERE {col} <> {value}{narrowed};")
    return "\n".join(statements)


# A stale follow-up record (never sent) is dated at its deadline: an older release dated it when found late, and
# the daily log listed a back-fill's records among the day of the import.
STALE_DATED = "UPDATE followups SET fired_ms = due_ms WHERE state = 'stale' AND fired_ms <> due_ms;"
# The last event whose derived rows (payments, clean names, stale dates) are known written; no row: none yet.
# An older release run on the file after these migrations writes rows it does not derive (upgrade.repair).
DERIVED_WATERMARK = "CREATE TABLE derived_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);"
# Each shop-day `assistant archive` moved into a file: a day whose file is missing (a restore without the archive
# directory) is then said, not read as an empty or partial day (daylog/archive.py).
ARCHIVED_DAYS = "CREATE TABLE archived_days (shop TEXT NOT NULL, day TEXT NOT NULL, archived_ms BIGINT NOT NULL, PRIMARY KEY (shop, day));"  # fmt: skip
KPI_WINDOW = "CREATE TABLE kpi_window (id INTEGER PRIMARY KEY CHECK (id = 1), window_ms BIGINT NOT NULL, previous_ms BIGINT, changed_ms BIGINT);"  # the payment window the KPI figures last used, the one before, when it changed (kpi/window.py)
KPI_WINDOW_CHANGES = "CREATE TABLE kpi_window_changes (changed_ms BIGINT NOT NULL, old_ms BIGINT NOT NULL, new_ms BIGINT NOT NULL, PRIMARY KEY (changed_ms, old_ms, new_ms)); INSERT INTO kpi_window_changes (changed_ms, old_ms, new_ms) SELECT changed_ms, previous_ms, window_ms FROM kpi_window WHERE changed_ms IS NOT NULL AND previous_ms IS NOT NULL;"  # fmt: skip  # every change of the payment window, where kpi_window kept the last one alone (kpi/window.py)
CUSTOMER_MERGES = "CREATE TABLE customer_merges (shop TEXT NOT NULL, customer TEXT NOT NULL, merged_into TEXT NOT NULL, merged_ms BIGINT NOT NULL, PRIMARY KEY (shop, customer));"  # fmt: skip  # a platform merged two contacts (Chatwoot): the log's rows of `customer` name `merged_into` since, and `buyer find|export|erase` take either id for both
CHANNEL_NEWS = "ALTER TABLE followup_outcomes ADD COLUMN channel_ms BIGINT; ALTER TABLE followup_outcomes ADD COLUMN channel_sent INTEGER;"  # fmt: skip  # a follow-up's latest news from its channel (the platform's stamp, 1 sent by a retry, 0 refused): the ranking holds across restarts and instances (followups/store.channel_latest)
CATALOG_NOTES = "CREATE TABLE catalog_notes (kind TEXT NOT NULL, owner TEXT NOT NULL, position INTEGER NOT NULL, note TEXT NOT NULL, source TEXT NOT NULL, imported_ms BIGINT NOT NULL, PRIMARY KEY (kind, owner, position));"  # fmt: skip  # a size chart's own notes (偏小一码，建议拍大一码; 以上数据为手工测量), in the order written, replaced with its chart
CONVERSATION_INBOXES = "CREATE TABLE conversation_inboxes (shop TEXT NOT NULL, conversation TEXT NOT NULL, inbox TEXT NOT NULL, PRIMARY KEY (shop, conversation));"  # fmt: skip  # the platform's inbox a conversation is in, as its webhooks said (Chatwoot's `inbox_id`, which the shop names only with shop_by_inbox): a refusal names the inbox to fix
# Flagged messages with more than a short reply's flag (appended after a rule's flags: a short reply's alone starts
# the list, one object): the quality page's recent items walk these alone, not every short reply of the day as well.
NOTABLE_FLAGS_SQL = """qa IS NOT NULL AND NOT (qa LIKE '[{"category":"short"%' AND qa NOT LIKE '%},{%')"""
NOTABLE_FLAGS = f"CREATE INDEX IF NOT EXISTS messages_qa_notable ON messages (seq) WHERE {NOTABLE_FLAGS_SQL};"
CUSTOMER_NAMES = "CREATE TABLE customer_names (shop TEXT NOT NULL, customer TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (shop, customer));"  # fmt: skip  # the name a platform gives a customer it logs by id (a Chatwoot contact), the latest one alone: a card's heading (conversations.py)

# ---- SQLite's own migrations, oldest first (PostgreSQL's are below, in its types) ---------------

_SQLITE_FIRST: list[tuple[str, str]] = [
    (
        "001_interaction_log",
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            agent TEXT,
            received_ms INTEGER NOT NULL,
            raw TEXT NOT NULL
        );
        CREATE INDEX events_shop_ts ON events (shop, ts_ms);
        CREATE INDEX events_conversation ON events (shop, conversation, ts_ms);

        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY REFERENCES events (seq),
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            sender TEXT NOT NULL,
            agent TEXT,
            text TEXT NOT NULL,
            ts_ms INTEGER NOT NULL,
            followup_id TEXT,
            intent TEXT,
            customer_type TEXT,
            suggestions TEXT
        );
        CREATE INDEX messages_shop_ts ON messages (shop, ts_ms);
        CREATE INDEX messages_shop_agent_ts ON messages (shop, agent, ts_ms);
        CREATE INDEX messages_conversation_ts ON messages (shop, conversation, ts_ms);
        CREATE INDEX messages_customer_ts ON messages (shop, customer, ts_ms);

        CREATE TABLE orders (
            shop TEXT NOT NULL,
            order_id TEXT NOT NULL,
            customer TEXT NOT NULL,
            conversation TEXT NOT NULL,
            agent TEXT,
            amount REAL,
            created_ms INTEGER,
            created_seq INTEGER,
            paid_ms INTEGER,
            paid_amount REAL,
            paid_seq INTEGER,
            PRIMARY KEY (shop, order_id)
        );
        CREATE INDEX orders_shop_created ON orders (shop, created_ms);
        CREATE INDEX orders_customer_created ON orders (shop, customer, created_ms);

        CREATE TABLE suggestion_uses (
            seq INTEGER PRIMARY KEY REFERENCES events (seq),
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            agent TEXT NOT NULL,
            phrase_id TEXT NOT NULL,
            ts_ms INTEGER NOT NULL
        );
        CREATE INDEX suggestion_uses_shop_ts ON suggestion_uses (shop, ts_ms);
        CREATE INDEX suggestion_uses_phrase ON suggestion_uses (shop, phrase_id);

        CREATE TABLE conversations (
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            agent TEXT,
            status TEXT NOT NULL DEFAULT 'open',
            opened_ms INTEGER NOT NULL,
            last_ts_ms INTEGER NOT NULL,
            last_customer_ms INTEGER,
            last_agent_ms INTEGER,
            closed_ms INTEGER,
            customer_type TEXT,
            PRIMARY KEY (shop, conversation)
        );
        CREATE INDEX conversations_agent ON conversations (shop, agent, status);
        """,
    ),
    (
        "002_followups",
        """
        CREATE TABLE timers (
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            armed_seq INTEGER NOT NULL,
            armed_ms INTEGER NOT NULL,
            due_ms INTEGER NOT NULL,
            fired INTEGER NOT NULL DEFAULT 0,
            agent TEXT,
            state TEXT NOT NULL,
            reason TEXT,
            updated_ms INTEGER NOT NULL,
            PRIMARY KEY (shop, conversation)
        );
        CREATE INDEX timers_armed ON timers (due_ms) WHERE state = 'armed';

        -- The last event whose effect on the timers is written: a restart replays only what follows.
        CREATE TABLE timers_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
        INSERT INTO timers_watermark (id, seq) VALUES (1, 0);

        CREATE TABLE followups (
            id TEXT PRIMARY KEY,
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            agent TEXT,
            kind TEXT NOT NULL,
            phrase_id TEXT,
            text TEXT NOT NULL,
            mode TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            armed_seq INTEGER NOT NULL,
            due_ms INTEGER NOT NULL,
            fired_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX followups_pending ON followups (updated_ms) WHERE state = 'pending';
        CREATE INDEX followups_conversation ON followups (shop, conversation, fired_ms);
        CREATE INDEX followups_fired ON followups (fired_ms);
        """,
    ),
    # Covering indexes for the KPI queries: the next/previous human message of a conversation is one seek, a day's
    # messages of one sender one range scan; short replies (5 % of human messages) have their own partial index.
    (
        "010_kpi_indexes",
        f"""
        CREATE INDEX IF NOT EXISTS messages_kpi_conversation ON messages (shop, conversation, sender, ts_ms, seq, agent);
        CREATE INDEX IF NOT EXISTS messages_kpi_sender ON messages (shop, sender, ts_ms, conversation, customer, agent);
        CREATE INDEX IF NOT EXISTS messages_kpi_short ON messages (shop, ts_ms)
          WHERE sender = 'agent' AND {SHORT_REPLY_SQL};
        """,
    ),
    (
        "020_daylog_indexes",
        """
        CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms, shop, conversation);
        CREATE INDEX IF NOT EXISTS messages_followup ON messages (followup_id) WHERE followup_id IS NOT NULL;
        """,
    ),
    # A message's flags (JSON, NULL when clean) live with it; alerts and their deliveries per hook are
    # their own tables: an alert is written in the transaction of the message that raised it.
    (
        "030_quality_inspection",
        """
        ALTER TABLE messages ADD COLUMN qa TEXT;
        CREATE INDEX IF NOT EXISTS messages_qa ON messages (seq) WHERE qa IS NOT NULL;
        CREATE INDEX IF NOT EXISTS messages_qa_shop ON messages (shop, ts_ms) WHERE qa IS NOT NULL;

        CREATE TABLE qa_alerts (
            id TEXT PRIMARY KEY,
            level INTEGER NOT NULL,
            shop TEXT NOT NULL,
            conversation TEXT NOT NULL,
            customer TEXT NOT NULL,
            agent TEXT,
            sender TEXT NOT NULL,
            event_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            ts_ms INTEGER NOT NULL,
            text TEXT NOT NULL,
            flags TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            escalate_ms INTEGER,
            escalation TEXT
        );
        CREATE INDEX qa_alerts_created ON qa_alerts (created_ms);
        CREATE INDEX qa_alerts_armed ON qa_alerts (escalate_ms) WHERE escalation = 'armed';
        CREATE INDEX qa_alerts_conversation ON qa_alerts (shop, conversation, seq);

        CREATE TABLE qa_deliveries (
            alert_id TEXT NOT NULL REFERENCES qa_alerts (id),
            plugin TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            updated_ms INTEGER NOT NULL,
            PRIMARY KEY (alert_id, plugin)
        );
        CREATE INDEX qa_deliveries_pending ON qa_deliveries (updated_ms) WHERE state = 'pending';
        """,
    ),
    # The product catalog (assistant/catalog/): items with their attributes, and size charts that belong to
    # one item (kind 'item', owner = its id) or are shared by name (kind 'shared', owner = the 尺码表 name).
    # Attributes and measures are JSON arrays of [name, value] in the file's column order. Each import is
    # logged in catalog_imports; the service's readers drop their cached items when a new one appears.
    (
        "040_catalog",
        """
        CREATE TABLE catalog_items (
            item_id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            attrs TEXT NOT NULL,
            size_chart TEXT,
            source TEXT NOT NULL,
            imported_ms INTEGER NOT NULL
        );
        CREATE TABLE catalog_sizes (
            kind TEXT NOT NULL CHECK (kind IN ('item', 'shared')),
            owner TEXT NOT NULL,
            position INTEGER NOT NULL,
            size TEXT NOT NULL,
            height_low REAL,
            height_high REAL,
            weight_low REAL,
            weight_high REAL,
            measures TEXT NOT NULL,
            source TEXT NOT NULL,
            imported_ms INTEGER NOT NULL,
            PRIMARY KEY (kind, owner, position)
        );
        CREATE TABLE catalog_imports (
            id INTEGER PRIMARY KEY,
            imported_ms INTEGER NOT NULL,
            files TEXT NOT NULL,
            items INTEGER NOT NULL,
            charts INTEGER NOT NULL,
            sizes INTEGER NOT NULL
        );
        """,
    ),
    # What the Chatwoot integration learns from deliveries (assistant/web/chatwoot_memory.py): which Chatwoot
    # messages are our follow-ups (delete and retry drop the marker from their updates), which account an
    # inbox belongs to (conversation payloads before 4.14.2 carry none), and each conversation's last status
    # with the time it changed (one closure per resolve, none from a change older than the last seen), and each
    # agent's name by Chatwoot user id (one name per person, whichever payload named them first).
    (
        "050_chatwoot",
        """
        CREATE TABLE chatwoot_followups (
            account TEXT NOT NULL,
            message_id TEXT NOT NULL,
            followup_id TEXT NOT NULL,
            PRIMARY KEY (account, message_id)
        );
        CREATE TABLE chatwoot_inboxes (
            inbox TEXT PRIMARY KEY,
            account TEXT NOT NULL
        );
        CREATE TABLE chatwoot_agents (
            account TEXT NOT NULL,
            user_id TEXT NOT NULL,
            name TEXT NOT NULL,
            PRIMARY KEY (account, user_id)
        );
        CREATE TABLE chatwoot_statuses (
            account TEXT NOT NULL,
            conversation TEXT NOT NULL,
            status TEXT NOT NULL,
            changed_ms INTEGER NOT NULL,
            PRIMARY KEY (account, conversation)
        );
        """,
    ),
]


# ---- the migrations both backends run alike, oldest first (after each one's own, 001–060): one list ----
def shared_migrations(dialect: str) -> list[tuple[str, str]]:
    """The migrations both backends run alike, as (name, script); `dialect` spells 090's source columns."""
    order, cents = PAYMENT_SOURCE[dialect]
    return [
        ("070_one_conversation_index", DROP_CONVERSATION_TS),
        ("080_orders_by_conversation", ORDERS_BY_CONVERSATION),
        ("090_payments", PAYMENTS.format(order=order, cents=cents)),
        ("100_trimmed_names", TRIMMED_NAMES),  # a log written before names were trimmed at intake
        ("110_order_closing", ORDER_CLOSING),
        ("120_followup_outcome", FOLLOWUP_OUTCOME),
        ("130_clean_names", cleaned_names()),
        ("140_stale_dated_at_deadline", STALE_DATED),
        ("150_derived_watermark", DERIVED_WATERMARK),
        ("160_archived_days", ARCHIVED_DAYS),
        ("170_kpi_window", KPI_WINDOW),
        ("180_kpi_window_changes", KPI_WINDOW_CHANGES),
        ("190_customer_names", CUSTOMER_NAMES),
        ("200_suggestions_withheld", SUGGESTIONS_WITHHELD),
        ("210_customer_merges", CUSTOMER_MERGES),
        ("220_channel_news", CHANNEL_NEWS),
        ("230_catalog_notes", CATALOG_NOTES),
        ("240_conversation_inboxes", CONVERSATION_INBOXES),
        ("250_notable_flags", NOTABLE_FLAGS),
    ]


SQLITE_MIGRATIONS = [*_SQLITE_FIRST, *shared_migrations("sqlite"), *SQLITE_LATER]  # the last: logfile/indexes.py
for _name, _statements in SQLITE_MIGRATIONS:  # each a migration running one script, registered in this order
    migrations(name=_name)(lambda db, script=_statements: db.executescript(script))

# ---- PostgreSQL: the same history in its types (64-bit times, identity keys), oldest first --------
# Names match the SQLite migrations; foreign keys are left out as SQLite does not enforce them either.

PG_MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_interaction_log",
        """
        CREATE TABLE events (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL, ts_ms BIGINT NOT NULL, shop TEXT NOT NULL, conversation TEXT NOT NULL,
            customer TEXT NOT NULL, agent TEXT, received_ms BIGINT NOT NULL, raw TEXT NOT NULL
        );
        CREATE INDEX events_shop_ts ON events (shop, ts_ms);
        CREATE INDEX events_conversation ON events (shop, conversation, ts_ms);

        CREATE TABLE messages (
            seq BIGINT PRIMARY KEY, shop TEXT NOT NULL, conversation TEXT NOT NULL, customer TEXT NOT NULL,
            sender TEXT NOT NULL, agent TEXT, text TEXT NOT NULL, ts_ms BIGINT NOT NULL, followup_id TEXT,
            intent TEXT, customer_type TEXT, suggestions TEXT
        );
        CREATE INDEX messages_shop_ts ON messages (shop, ts_ms);
        CREATE INDEX messages_shop_agent_ts ON messages (shop, agent, ts_ms);
        CREATE INDEX messages_conversation_ts ON messages (shop, conversation, ts_ms);
        CREATE INDEX messages_customer_ts ON messages (shop, customer, ts_ms);

        CREATE TABLE orders (
            shop TEXT NOT NULL, order_id TEXT NOT NULL, customer TEXT NOT NULL, conversation TEXT NOT NULL,
            agent TEXT, amount DOUBLE PRECISION, created_ms BIGINT, created_seq BIGINT, paid_ms BIGINT,
            paid_amount DOUBLE PRECISION, paid_seq BIGINT, PRIMARY KEY (shop, order_id)
        );
        CREATE INDEX orders_shop_created ON orders (shop, created_ms);
        CREATE INDEX orders_customer_created ON orders (shop, customer, created_ms);

        CREATE TABLE suggestion_uses (
            seq BIGINT PRIMARY KEY, shop TEXT NOT NULL, conversation TEXT NOT NULL, customer TEXT NOT NULL,
            agent TEXT NOT NULL, phrase_id TEXT NOT NULL, ts_ms BIGINT NOT NULL
        );
        CREATE INDEX suggestion_uses_shop_ts ON suggestion_uses (shop, ts_ms);
        CREATE INDEX suggestion_uses_phrase ON suggestion_uses (shop, phrase_id);

        CREATE TABLE conversations (
            shop TEXT NOT NULL, conversation TEXT NOT NULL, customer TEXT NOT NULL, agent TEXT,
            status TEXT NOT NULL DEFAULT 'open', opened_ms BIGINT NOT NULL, last_ts_ms BIGINT NOT NULL,
            last_customer_ms BIGINT, last_agent_ms BIGINT, closed_ms BIGINT, customer_type TEXT,
            PRIMARY KEY (shop, conversation)
        );
        CREATE INDEX conversations_agent ON conversations (shop, agent, status);
        """,
    ),
    (
        "002_followups",
        """
        CREATE TABLE timers (
            shop TEXT NOT NULL, conversation TEXT NOT NULL, armed_seq BIGINT NOT NULL, armed_ms BIGINT NOT NULL,
            due_ms BIGINT NOT NULL, fired INTEGER NOT NULL DEFAULT 0, agent TEXT, state TEXT NOT NULL,
            reason TEXT, updated_ms BIGINT NOT NULL, PRIMARY KEY (shop, conversation)
        );
        CREATE INDEX timers_armed ON timers (due_ms) WHERE state = 'armed';
        CREATE TABLE timers_watermark (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL);
        INSERT INTO timers_watermark (id, seq) VALUES (1, 0);

        CREATE TABLE followups (
            id TEXT PRIMARY KEY, shop TEXT NOT NULL, conversation TEXT NOT NULL, customer TEXT NOT NULL,
            agent TEXT, kind TEXT NOT NULL, phrase_id TEXT, text TEXT NOT NULL, mode TEXT NOT NULL,
            state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
            armed_seq BIGINT NOT NULL, due_ms BIGINT NOT NULL, fired_ms BIGINT NOT NULL,
            updated_ms BIGINT NOT NULL
        );
        CREATE INDEX followups_pending ON followups (updated_ms) WHERE state = 'pending';
        CREATE INDEX followups_conversation ON followups (shop, conversation, fired_ms);
        CREATE INDEX followups_fired ON followups (fired_ms);
        """,
    ),
    (
        "010_kpi_indexes",
        f"""
        CREATE INDEX messages_kpi_conversation ON messages (shop, conversation, sender, ts_ms, seq, agent);
        CREATE INDEX messages_kpi_sender ON messages (shop, sender, ts_ms, conversation, customer, agent);
        CREATE INDEX messages_kpi_short ON messages (shop, ts_ms) WHERE sender = 'agent' AND {SHORT_REPLY_SQL};
        """,
    ),
    (
        "020_daylog_indexes",
        """
        CREATE INDEX events_ts ON events (ts_ms, shop, conversation);
        CREATE INDEX messages_followup ON messages (followup_id) WHERE followup_id IS NOT NULL;
        """,
    ),
    (
        "030_quality_inspection",
        """
        ALTER TABLE messages ADD COLUMN qa TEXT;
        CREATE INDEX messages_qa ON messages (seq) WHERE qa IS NOT NULL;
        CREATE INDEX messages_qa_shop ON messages (shop, ts_ms) WHERE qa IS NOT NULL;

        CREATE TABLE qa_alerts (
            id TEXT PRIMARY KEY, level INTEGER NOT NULL, shop TEXT NOT NULL, conversation TEXT NOT NULL,
            customer TEXT NOT NULL, agent TEXT, sender TEXT NOT NULL, event_id TEXT NOT NULL,
            seq BIGINT NOT NULL, ts_ms BIGINT NOT NULL, text TEXT NOT NULL, flags TEXT NOT NULL,
            created_ms BIGINT NOT NULL, escalate_ms BIGINT, escalation TEXT
        );
        CREATE INDEX qa_alerts_created ON qa_alerts (created_ms);
        CREATE INDEX qa_alerts_armed ON qa_alerts (escalate_ms) WHERE escalation = 'armed';
        CREATE INDEX qa_alerts_conversation ON qa_alerts (shop, conversation, seq);

        CREATE TABLE qa_deliveries (
            alert_id TEXT NOT NULL, plugin TEXT NOT NULL, state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, updated_ms BIGINT NOT NULL,
            PRIMARY KEY (alert_id, plugin)
        );
        CREATE INDEX qa_deliveries_pending ON qa_deliveries (updated_ms) WHERE state = 'pending';
        """,
    ),
    (
        "040_catalog",
        """
        CREATE TABLE catalog_items (
            item_id TEXT PRIMARY KEY, title TEXT NOT NULL, attrs TEXT NOT NULL, size_chart TEXT,
            source TEXT NOT NULL, imported_ms BIGINT NOT NULL
        );
        CREATE TABLE catalog_sizes (
            kind TEXT NOT NULL CHECK (kind IN ('item', 'shared')), owner TEXT NOT NULL,
            position INTEGER NOT NULL, size TEXT NOT NULL, height_low DOUBLE PRECISION,
            height_high DOUBLE PRECISION, weight_low DOUBLE PRECISION, weight_high DOUBLE PRECISION,
            measures TEXT NOT NULL, source TEXT NOT NULL, imported_ms BIGINT NOT NULL,
            PRIMARY KEY (kind, owner, position)
        );
        CREATE TABLE catalog_imports (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, imported_ms BIGINT NOT NULL,
            files TEXT NOT NULL, items INTEGER NOT NULL, charts INTEGER NOT NULL, sizes INTEGER NOT NULL
        );
        """,
    ),
    (
        "050_chatwoot",
        """
        CREATE TABLE chatwoot_followups (
            account TEXT NOT NULL, message_id TEXT NOT NULL, followup_id TEXT NOT NULL,
            PRIMARY KEY (account, message_id)
        );
        CREATE TABLE chatwoot_inboxes (
            inbox TEXT PRIMARY KEY, account TEXT NOT NULL
        );
        CREATE TABLE chatwoot_agents (
            account TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (account, user_id)
        );
        CREATE TABLE chatwoot_statuses (
            account TEXT NOT NULL, conversation TEXT NOT NULL, status TEXT NOT NULL, changed_ms BIGINT NOT NULL,
            PRIMARY KEY (account, conversation)
        );
        """,
    ),
    (
        # Live panel updates shared by the instances of one database (assistant/cluster/relay.py); pruned as they age.
        "060_live_journal",
        """
        CREATE TABLE live_journal (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, origin TEXT NOT NULL, kind TEXT NOT NULL,
            shop TEXT NOT NULL, conversation TEXT NOT NULL, agent TEXT, payload TEXT NOT NULL,
            created_ms BIGINT NOT NULL
        );
        CREATE INDEX live_journal_created ON live_journal (created_ms);
        """,
    ),
    *shared_migrations("postgresql"),
    (
        # Reloads of every instance at once (assistant/cluster/reloads.py): the requests and each one's outcome.
        "pg_200_fleet_reloads",
        """
        CREATE TABLE fleet_reloads (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, asked_ms BIGINT NOT NULL, asked_by TEXT NOT NULL
        );
        CREATE TABLE fleet_reload_results (
            reload_id BIGINT NOT NULL, instance TEXT NOT NULL, reloaded BOOLEAN NOT NULL, phrases INTEGER, library TEXT,
            problems TEXT NOT NULL, done_ms BIGINT NOT NULL, PRIMARY KEY (reload_id, instance)
        );
        """,
    ),
]
