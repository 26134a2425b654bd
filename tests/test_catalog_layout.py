"""Importing tables as shops lay them out: a header of two rows under merged cells, several tables a blank row
apart, notes written under a chart (偏小一码，建议拍大一码), sizes written as their 号型 (160/84A)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.catalog.answers import SIZE, answers
from assistant.catalog.importer import Report, import_files
from assistant.catalog.store import Item, read_item, summaries

ITEM = "900000000201"
NOTES = ("偏小一码，建议拍大一码", "以上数据为手工测量，误差1-3cm")


def run_import(db: Path, files: list[Path]) -> Report:
    conn = store.connect(db)
    try:
        return import_files(conn, files)
    finally:
        conn.close()


def item(db: Path, item_id: str = ITEM) -> Item:
    conn = store.connect(db, readonly=True)
    try:
        found = read_item(conn, item_id)
    finally:
        conn.close()
    assert found is not None
    return found


def two_row_workbook(path: Path) -> Path:
    """A chart as shops draw it: 商品ID and 尺码 merged down two header rows, 参考身高体重 and 成衣尺寸 merged across
    the columns below them, the item id merged down the sizes, a blank row and notes merged across the chart."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    rows: list[list[Any]] = [
        ["商品ID", "尺码", "参考身高体重", None, "成衣尺寸(cm)", None],
        [None, None, "身高(cm)", "体重(斤)", "胸围", "衣长"],
        [ITEM, "160/84A", "155-160", "90-100", 96, 62],
        [None, "165/88A", "160-165", "100-115", 100, 64],
        [None, "170/92A", "165-170", "115-130", 104, 66],
        [],
        [NOTES[0]],
        [NOTES[1]],
    ]
    for row in rows:
        sheet.append(row)
    for cells in ("A1:A2", "B1:B2", "C1:D1", "E1:F1", "A3:A5", "A7:F7", "A8:F8"):
        sheet.merge_cells(cells)
    book.save(path)
    return path


def test_import_reads_a_two_row_header_under_merged_cells_and_the_notes_below(tmp_path: Path) -> None:
    # The second header row was read as a size (商品ID '商品ID', 尺码 '尺码'), the notes as sizes without a measure
    db = tmp_path / "catalog.db"
    items = tmp_path / "items.csv"
    items.write_text(f"商品ID,标题\n{ITEM},男士夹克\n", encoding="utf-8")
    report = run_import(db, [items, two_row_workbook(tmp_path / "sizes.xlsx")])
    assert report.problems == () and report.sizes == 3
    chart = item(db).chart
    assert chart is not None
    assert [(r.size, str(r.height), str(r.weight)) for r in chart.rows] == [
        ("160/84A", "155-160", "90-100"), ("165/88A", "160-165", "100-115"), ("170/92A", "165-170", "115-130"),
    ]  # fmt: skip
    assert chart.rows[0].measures == (("胸围", "96"), ("衣长", "62"))
    assert chart.notes == NOTES


def test_import_reads_the_same_chart_saved_as_csv(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    sizes = tmp_path / "sizes.csv"
    sizes.write_text(
        "商品ID,尺码,参考身高体重,,成衣尺寸(cm),\n,,身高(cm),体重(斤),胸围,衣长\n"
        f"{ITEM},160/84A,155-160,90-100,96,62\n{ITEM},165/88A,160-165,100-115,100,64\n"
        f",,,,,\n{NOTES[0]},,,,,\n{NOTES[1]},,,,,\n",
        encoding="utf-8-sig",
    )
    report = run_import(db, [sizes])
    assert report.problems == () and report.sizes == 2
    chart = item_chart(db)
    assert chart == (["160/84A", "165/88A"], NOTES)


def item_chart(db: Path) -> tuple[list[str], tuple[str, ...]]:
    with sqlite3.connect(db) as conn:
        sizes = conn.execute("SELECT size FROM catalog_sizes WHERE owner = ? ORDER BY position", (ITEM,)).fetchall()
        notes = conn.execute("SELECT note FROM catalog_notes WHERE owner = ? ORDER BY position", (ITEM,)).fetchall()
    return [r[0] for r in sizes], tuple(r[0] for r in notes)


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_import_reads_tables_a_blank_row_apart(tmp_path: Path, encoding: str) -> None:
    # The chart's header below the item list was read as an item row: 表头只有 3 列，这一行超出了
    db = tmp_path / "catalog.db"
    both = tmp_path / "catalog.csv"
    both.write_bytes(
        (
            f"商品ID,标题,尺码表\n{ITEM},男士夹克,夹克\n\n"
            "男款夹克尺码表（单位：cm/斤）\n尺码表,尺码,身高(cm),体重(斤)\n夹克,M,160-165,100-115\n"
            f"夹克,L,165-170,115-130\n温馨提示：身高体重仅供参考\n,,,\n\n尺码表,尺码,体重(斤)\n童装,110,30-40\n"
        ).encode(encoding)
    )
    report = run_import(db, [both])
    assert report.problems == () and (report.items, report.charts, report.sizes) == (1, 2, 3)
    chart = item(db).chart
    assert chart is not None
    assert [r.size for r in chart.rows] == ["M", "L"] and chart.notes == ("温馨提示：身高体重仅供参考",)
    conn = store.connect(db, readonly=True)
    try:
        assert summaries(conn, limit=10)[1][0].chart == "共用 夹克（2 个尺码）"  # the note is no size
    finally:
        conn.close()
    lone = tmp_path / "lone.csv"  # a name alone under a chart is no note: a size left out, as before
    lone.write_text("尺码表,尺码,身高,体重\n夹克,M,160-165,100-115\n男款T恤,,,\n", encoding="utf-8")
    report = run_import(tmp_path / "lone.db", [lone])
    assert [str(p) for p in report.problems] == ["lone.csv 第 3 行 B 列：尺码为空"] and not report.written


def test_import_reads_a_note_without_punctuation_in_the_first_column(tmp_path: Path) -> None:
    # such a note was a name the table's rows give (its own row's): refused, 尺码为空; 偏小一码，… passed only because
    # NFKC made its comma another character than the row's
    sizes = tmp_path / "sizes.csv"
    sizes.write_text(
        f"商品ID,尺码,脚长\n{ITEM},38,24\n{ITEM},39,24.5\n脚宽、脚背高的亲建议拍大一码,,\n", encoding="utf-8"
    )
    items = tmp_path / "items.csv"
    items.write_text(f"商品ID,标题\n{ITEM},女士短靴\n", encoding="utf-8")
    report = run_import(tmp_path / "catalog.db", [items, sizes])
    assert report.written and not report.problems
    chart = item(tmp_path / "catalog.db").chart
    assert chart is not None and chart.notes == ("脚宽、脚背高的亲建议拍大一码",)


def test_import_again_replaces_a_charts_notes(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    sizes = tmp_path / "sizes.csv"
    items = tmp_path / "items.csv"
    items.write_text(f"商品ID,标题\n{ITEM},男士夹克\n", encoding="utf-8")
    sizes.write_text(f"商品ID,尺码,身高\n{ITEM},M,160-165\n{NOTES[0]},,\n", encoding="utf-8")
    run_import(db, [items, sizes])
    sizes.write_text(f"商品ID,尺码,身高\n{ITEM},M,160-165\n{ITEM},L,165-170\n", encoding="utf-8")
    run_import(db, [sizes])
    chart = item(db).chart
    assert chart is not None and chart.notes == () and [r.size for r in chart.rows] == ["M", "L"]


def test_import_reads_the_height_a_haoxing_size_is_made_for(tmp_path: Path) -> None:
    # A chart of 160/84A sizes with no 身高 column was refused: 尺码表需要身高、体重或脚长列
    db = tmp_path / "catalog.db"
    items = tmp_path / "items.csv"
    items.write_text(f"商品ID,标题,尺码表\n{ITEM},男士西装外套,\n900000000202,校服外套,校服\n", encoding="utf-8")
    own = tmp_path / "own.csv"
    own.write_text(
        f"商品ID,尺码,胸围(cm)\n{ITEM},165/84A,96\n{ITEM},170/88A,100\n{ITEM},175/92A,104\n", encoding="utf-8"
    )
    shared = tmp_path / "shared.csv"  # S, M, L with a 号型 column beside them
    shared.write_text("尺码表,尺码,号型\n校服,S,150/76A\n校服,M,160/84A\n校服,L,170/92A\n", encoding="utf-8")
    report = run_import(db, [items, own, shared])
    assert report.problems == () and report.sizes == 6
    suit = item(db)
    assert suit.chart is not None and [str(r.height) for r in suit.chart.rows] == ["163-167", "168-172", "173-177"]
    (size,) = answers(suit, "我170 穿什么码")
    assert (size.kind, size.values["size"]) == (SIZE, "170/88A")
    (size,) = answers(item(db, "900000000202"), "孩子158 穿多大")
    assert (size.kind, size.values["size"]) == (SIZE, "M码")  # 158 is within 160's 158-162


def test_a_haoxing_size_gives_the_chest_of_a_top_and_the_waist_of_trousers(tmp_path: Path) -> None:
    # The 型 (84 of 160/84A) was not read: a buyer who gave only a girth got no size from such a chart.
    db = tmp_path / "catalog.db"
    items = tmp_path / "items.csv"
    items.write_text(
        "商品ID,标题,尺码表\n900000000211,男士立领夹克,\n900000000212,男士休闲裤,\n900000000213,校服外套,校服\n"
        "900000000214,职业西装套装,\n",
        encoding="utf-8",
    )
    own = tmp_path / "own.csv"
    own.write_text(
        "商品ID,尺码\n"
        "900000000211,165/84A\n900000000211,170/88A\n900000000211,175/92A\n"
        "900000000212,165/70A\n900000000212,170/74A\n900000000212,175/78A\n"
        "900000000214,160/84A\n900000000214,165/88A\n",
        encoding="utf-8",
    )
    shared = tmp_path / "shared.csv"
    shared.write_text("尺码表,尺码,号型\n校服,S,150/76A\n校服,M,160/84A\n校服,L,170/92A\n", encoding="utf-8")
    assert run_import(db, [items, own, shared]).problems == ()

    def size_for(item_id: str, text: str) -> str | None:
        found = answers(item(db, item_id), text)
        return next((a.values["size"] for a in found if a.kind == SIZE), None)

    # A top's 型 is the chest, 4 cm apart: 88 holds 86-90, a chest on the boundary takes the larger.
    assert size_for("900000000211", "胸围87 穿什么码") == "170/88A"
    assert size_for("900000000211", "胸围90 穿什么码") == "175/92A"
    assert size_for("900000000211", "腰围74 穿什么码") is None  # a jacket's 型 says nothing of the waist
    # Trousers' 型 is the waist: 2尺2 is 73.3 cm.
    assert size_for("900000000212", "腰围2尺2 穿哪个码") == "170/74A"
    assert size_for("900000000212", "胸围88 穿哪个码") is None
    # S, M, L with a 号型 column, 8 cm apart.
    assert size_for("900000000213", "孩子胸围86 穿多大") == "M码"
    # A suit's pieces carry a 号型 each: its title names no one girth.
    assert size_for("900000000214", "胸围84 穿什么码") is None
    assert size_for("900000000214", "我160 穿什么码") == "160/84A"


def test_a_chart_s_own_girth_column_wins_over_the_haoxing(tmp_path: Path) -> None:
    db = tmp_path / "catalog.db"
    items = tmp_path / "items.csv"
    items.write_text(f"商品ID,标题\n{ITEM},男士西装外套\n", encoding="utf-8")
    own = tmp_path / "own.csv"  # the garment's own chest, 96/100/104: a 92 cm chest with 4 cm of ease takes 96
    own.write_text(
        f"商品ID,尺码,胸围(cm)\n{ITEM},165/84A,96\n{ITEM},170/88A,100\n{ITEM},175/92A,104\n", encoding="utf-8"
    )
    assert run_import(db, [items, own]).problems == ()
    (size,) = answers(item(db), "胸围92 穿什么码")
    assert (size.kind, size.values["size"]) == (SIZE, "165/84A")  # by the 型 alone, 175/92A
