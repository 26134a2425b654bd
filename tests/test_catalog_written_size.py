"""The written sets of buyers' size and fact questions (tests/data/written_size_questions_*.tsv) over the items
of tests/data/written_size_shop/: every question gets the catalog answer a good agent would give, or none.

`python -m tests.test_catalog_written_size` prints how many are right (run from a checkout to measure its code).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.test_catalog_written_set import Row, catalog_of, misses_of, questions_in

DATA = Path(__file__).parent / "data"
SHOP = DATA / "written_size_shop"
SETS = sorted(DATA.glob("written_size_questions_*.tsv"))
ITEMS = {
    "tee": "910000000001", "card": "910000000002", "pants": "910000000003", "kids": "910000000004",
    "canvas": "910000000005", "runner": "910000000006", "bra": "910000000007", "coat": "910000000008",
    "onesize": "910000000009", "mtee": "910000000010", "downlite": "910000000011", "padded": "910000000012",
    "kidsage": "910000000013", "boots": "910000000014",
}  # fmt: skip


def questions() -> list[Row]:
    return questions_in(SETS)


def misses(directory: Path, *, skip_bad: bool = False) -> tuple[int, list[tuple[str, str, str, str]]]:
    return misses_of(questions(), catalog_of(SHOP, ITEMS, directory, skip_bad=skip_bad))


def test_written_size_questions_get_the_answers_they_should(tmp_path: Path) -> None:
    total, wrong = misses(tmp_path)
    assert total >= 80
    assert wrong == []


def test_each_written_size_set_holds_its_questions() -> None:
    assert [path.name for path in SETS][-1] == "written_size_questions_e.tsv"
    assert all(len(questions_in([path])) >= 80 for path in SETS[:-1])
    assert len(questions_in(SETS[-1:])) >= 60


def test_written_size_set_names_only_items_of_the_shop() -> None:
    assert {one for key, *_ in questions() for one in key.split("+")} <= set(ITEMS)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        count, wrong = misses(Path(tmp), skip_bad=True)
    for row in wrong:
        print("\t".join(row))
    print(f"{count - len(wrong)}/{count} right")
