"""Each bounded map of the service keeps its own rule: which entry goes first once it is full."""

from __future__ import annotations

from pathlib import Path

from assistant import store
from assistant.catalog.importer import import_files
from assistant.catalog.store import Catalog
from tests.catalog_data import HOODIE, TSHIRT, tshirt_files


def test_catalog_items_least_recently_read_go_first(tmp_path: Path, db_path: Path) -> None:
    conn = store.connect(db_path)
    try:
        assert import_files(conn, tshirt_files(tmp_path)).written
    finally:
        conn.close()
    catalog = Catalog(db_path, capacity=2)
    try:
        assert catalog.item(TSHIRT) is not None
        assert catalog.item("600000000099") is None  # not in the catalog: kept as such
        assert catalog.item(TSHIRT) is not None  # read again: the latest read
        assert catalog.item(HOODIE) is not None
        assert list(catalog._items) == [TSHIRT, HOODIE]
    finally:
        catalog.close()
