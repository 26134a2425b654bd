"""The written set of buyers' size and fact questions (tests/data/catalog_questions.tsv) over shops' catalogs
imported from tests/data/catalog_shops/: every question gets the catalog answer it should, or none.

`python tests/test_catalog_written_set.py` prints how many are right (run from a checkout to measure its code).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from assistant import store
from assistant.catalog.answers import FACT, SIZE, Answer, answers
from assistant.catalog.compare import compared
from assistant.catalog.importer import import_files
from assistant.catalog.store import Item, read_item

DATA = Path(__file__).parent / "data"
SHOPS = DATA / "catalog_shops"
ITEMS = {
    "tee": "900000000001", "coat": "900000000002", "kids": "900000000003", "shoe": "900000000004",
    "jerky": "900000000005", "cream": "900000000006", "scarf": "900000000007", "flats": "900000000008",
    "dress": "900000000009", "jeans": "900000000010", "boots": "900000000011", "earbuds": "900000000012",
    "powerbank": "900000000013", "serum": "900000000014", "shelf": "900000000015", "bedding": "900000000016",
    "nuts": "900000000017", "jacket": "900000000018", "suit": "900000000019",
}  # fmt: skip


Row = tuple[str, list[str], str, str]  # (item, earlier messages, message, expected)


def questions_in(paths: list[Path]) -> list[Row]:
    """(item, earlier messages, message, expected) of each line of written sets."""
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                item, earlier, text, expected = line.split("\t")
                rows.append((item, [t for t in earlier.split(" || ") if t], text, expected))
    return rows


def questions() -> list[Row]:
    return questions_in([DATA / "catalog_questions.tsv"])


def catalog_of(shops: Path, items: dict[str, str], directory: Path, *, skip_bad: bool = False) -> dict[str, Item]:
    """The items of the charts in `shops` as the import writes them and the service reads them (`skip_bad`: what
    the code can)."""
    conn = store.connect(directory / "catalog.db")
    try:
        assert import_files(conn, sorted(shops.glob("*.csv")), skip_bad=skip_bad).written
        found = {key: read_item(conn, item_id) for key, item_id in items.items()}
    finally:
        conn.close()
    return {key: item for key, item in found.items() if item is not None}


def said(item: Item, earlier: list[str], text: str) -> str:
    """The catalog's answers to a message, written as the set writes what is expected."""
    given = answers(item, text, earlier)
    return _written(given)


def said_of(items: list[Item], earlier: list[str], text: str) -> str:
    """The answers to a message comparing `items` (the set's `tee+coat`): compare:size, compare:fact or none."""
    given = compared(items, text, earlier)
    return ",".join("compare:" + ("size" if a.intent == "size_advice" else "fact") for a in given) or "none"


def _written(given: list[Answer]) -> str:
    if not given:
        return "none"
    sizes = [a for a in given if a.kind == SIZE]
    if sizes and len(sizes) == len([a for a in given if a.kind != FACT]):
        return "size:" + ",".join(a.values["size"] for a in sizes)
    others = [a.kind for a in given if a.kind != FACT]
    if others:
        return ",".join(others)
    return "fact:" + ",".join(f.name for a in given for f in a.facts)


def misses(directory: Path, *, skip_bad: bool = False) -> tuple[int, list[tuple[str, str, str, str]]]:
    return misses_of(questions(), catalog_of(SHOPS, ITEMS, directory, skip_bad=skip_bad))


def misses_of(rows: list[Row], items: dict[str, Item]) -> tuple[int, list[tuple[str, str, str, str]]]:
    """How many rows, and (item, message, expected, said) of each answered otherwise than expected."""
    wrong = []
    for key, earlier, text, expected in rows:
        keys = key.split("+")
        got = said(items[key], earlier, text) if len(keys) == 1 else said_of([items[k] for k in keys], earlier, text)
        if got != expected:
            wrong.append((key, text, expected, got))
    return len(rows), wrong


def test_written_questions_get_the_answers_they_should(tmp_path: Path) -> None:
    total, wrong = misses(tmp_path)
    assert total >= 60
    assert wrong == []


def test_written_set_names_only_items_of_the_shops() -> None:
    assert {one for key, *_ in questions() for one in key.split("+")} <= set(ITEMS)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        count, wrong = misses(Path(tmp), skip_bad=True)  # an older checkout may refuse a chart
    for row in wrong:
        print("\t".join(row))
    print(f"{count - len(wrong)}/{count} right")
