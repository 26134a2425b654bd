"""The statements an event runs on the event loop on PostgreSQL: each is a round trip during which no other request
of the instance moves, so the values already known (from the event itself, its insert, an earlier event) are not
read again, and what another instance wrote is still seen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from assistant import pg, store
from assistant.catalog.store import PG_IMPORT_CHECK_S, Catalog
from assistant.clock import FakeClock
from assistant.tasks import on_event_loop
from tests.catalog_data import TSHIRT
from tests.test_catalog_answers import catalog_db

Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def on_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The statements run on the event loop (on any PostgreSQL connection), in order."""
    seen: list[str] = []
    execute = pg.Connection.execute

    def counted(self: pg.Connection, sql: str, params: Any = ()) -> pg.Cursor:
        if on_event_loop():
            seen.append(" ".join(sql.split()))
        return execute(self, sql, params)

    monkeypatch.setattr(pg.Connection, "execute", counted)
    yield seen


def test_pg_catalog_looks_at_its_import_log_once_a_second_and_sees_a_new_import(
    tmp_path: Path, db_path: pg.Location, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A customer message's answer asked for its item three times (title, facts, card), and each call looked at the
    # import log: a round trip on the event loop each, for an import that comes a few times a day.
    catalog_db(tmp_path, db_path)
    clock = FakeClock(0)
    catalog = Catalog(db_path, clock=lambda: clock.now_ms() / 1000)
    read: list[str] = []
    execute = pg.Connection.execute

    def counted(self: pg.Connection, sql: str, params: Any = ()) -> pg.Cursor:
        read.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(pg.Connection, "execute", counted)
    try:
        first = catalog.item(TSHIRT)
        assert first is not None and first.title != "新标题"
        read.clear()
        assert catalog.item(TSHIRT) == first and catalog.item(TSHIRT) == first
        assert read == []  # the item kept, the import log not looked at again within the second
        conn = store.connect(db_path)
        try:
            with store.transaction(conn):
                conn.execute("UPDATE catalog_items SET title = ? WHERE item_id = ?", ("新标题", TSHIRT))
                conn.execute(
                    "INSERT INTO catalog_imports (imported_ms, files, items, charts, sizes) VALUES (?, '[]', 1, 0, 0)",
                    (store.now_ms(),),
                )
        finally:
            conn.close()
        clock.advance(PG_IMPORT_CHECK_S)
        renewed = catalog.item(TSHIRT)
        assert renewed is not None and renewed.title == "新标题"  # the import seen a second later
    finally:
        catalog.close()
