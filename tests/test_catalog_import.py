"""Importing the catalog: CSV (UTF-8, BOM, GBK) and XLSX, bad rows by number, all or nothing, re-imports, CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from assistant import store
from assistant.catalog.importer import Report, import_files
from assistant.catalog.store import read_item
from assistant.cli import main
from tests.catalog_data import (
    CHART,
    CHART_HEADER,
    HOODIE,
    ITEMS,
    ITEMS_HEADER,
    SHARED,
    SHARED_HEADER,
    TSHIRT,
    tshirt_files,
    write_csv,
    write_xlsx,
)


def run_import(db: Path, files: list[Path], **kw: Any) -> Report:
    conn = store.connect(db)
    try:
        return import_files(conn, files, **kw)
    finally:
        conn.close()


def table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def item(db: Path, item_id: str) -> Any:
    conn = store.connect(db, readonly=True)
    try:
        return read_item(conn, item_id)
    finally:
        conn.close()


def test_import_reads_gbk_items_and_utf8_charts(tmp_path: Path, db_path: Path) -> None:
    report = run_import(db_path, tshirt_files(tmp_path))
    assert (report.written, report.items, report.charts, report.sizes, report.problems) == (True, 2, 2, 8, ())
    tshirt = item(db_path, TSHIRT)
    assert tshirt.title == "纯棉圆领短袖T恤 男女同款"
    assert tshirt.attrs == (("面料", "95%棉 5%氨纶"), ("产地", "广东广州"), ("版型", "宽松"))
    assert [r.size for r in tshirt.chart.rows] == ["S", "M", "L", "XL", "2XL"]
    assert tshirt.chart.rows[1].measures == (("胸围", "100"),)
    hoodie = item(db_path, HOODIE)
    assert hoodie.chart_name == "卫衣尺码" and hoodie.chart.name == "卫衣尺码"
    assert [(r.size, str(r.height), str(r.weight)) for r in hoodie.chart.rows][0] == ("M", "155-165", "90-115")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_import_reads_csv_in_every_encoding(tmp_path: Path, db_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS, encoding)
    assert run_import(db_path, [path]).written
    assert table(db_path, "SELECT item_id, title FROM catalog_items ORDER BY item_id") == [
        (TSHIRT, "纯棉圆领短袖T恤 男女同款"),
        (HOODIE, "加绒连帽卫衣"),
    ]


def test_import_reads_tab_separated_text(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("商品ID\t标题\t材质\n700000000001\t真丝睡衣\t100%桑蚕丝\n", encoding="utf-8")
    assert run_import(db_path, [path]).written
    assert item(db_path, "700000000001").attrs == (("材质", "100%桑蚕丝"),)


@pytest.mark.parametrize(
    "title",
    ["【XX旗舰店】卫衣尺码表(单位:cm,斤)\t\t\t", "【XX旗舰店】卫衣尺码表", "宝贝列表导出, 2026-12-05"],
)
def test_import_reads_tab_separated_text_below_a_title(tmp_path: Path, db_path: Path, title: str) -> None:
    # A title row above the header decided the separator: a tab-separated chart read as one column, refused.
    path = tmp_path / "sizes.csv"
    rows = ["尺码表\t尺码\t身高\t体重", "卫衣尺码\tM\t155-165\t90-115", "卫衣尺码\tL\t165-175\t115-140"]
    path.write_bytes("\r\n".join([title, *rows, ""]).encode("gbk"))
    report = run_import(db_path, [path])
    assert (report.problems, report.charts, report.sizes) == ((), 1, 2)


def test_import_reads_excels_unicode_text_saved_as_csv(tmp_path: Path, db_path: Path) -> None:
    # Excel's "Unicode 文本" (UTF-16 after its byte-order mark, tab-separated) was refused as not UTF-8 or GBK.
    path = tmp_path / "items.csv"
    path.write_bytes("商品ID\t标题\t材质\r\n700000000001\t真丝睡衣\t100%桑蚕丝\r\n".encode("utf-16"))
    assert run_import(db_path, [path]).written
    assert item(db_path, "700000000001").attrs == (("材质", "100%桑蚕丝"),)


def test_import_reads_a_table_excel_saved_as_text(tmp_path: Path, db_path: Path) -> None:
    # Excel's 文本文件(制表符分隔) and Unicode 文本 are .txt files: refused as "expected a .csv or .xlsx file".
    tab = tmp_path / "items.txt"
    tab.write_bytes("商品ID\t标题\t材质\r\n700000000001\t真丝睡衣\t100%桑蚕丝\r\n".encode("gbk"))
    unicode = tmp_path / "sizes.txt"
    unicode.write_bytes("商品ID\t尺码\t身高\r\n700000000001\tM\t160-165\r\n".encode("utf-16"))
    report = run_import(db_path, [tab, unicode, tmp_path / "old.xls"])
    assert [str(p) for p in report.problems] == ["old.xls：应为 .csv、.txt 或 .xlsx 文件"]
    assert run_import(db_path, [tab, unicode]).written
    assert [r.size for r in item(db_path, "700000000001").chart.rows] == ["M"]


def test_import_reads_every_sheet_of_a_workbook(tmp_path: Path, db_path: Path) -> None:
    numeric = [(int(r[0]), *r[1:]) for r in ITEMS]  # Excel keeps ids as numbers
    path = write_xlsx(
        tmp_path / "catalog.xlsx",
        {"商品": (ITEMS_HEADER, numeric), "尺码": (CHART_HEADER, CHART), "卫衣": (SHARED_HEADER, SHARED)},
    )
    report = run_import(db_path, [path])
    assert (report.items, report.charts, report.sizes) == (2, 2, 8)
    assert item(db_path, TSHIRT).attrs[0] == ("面料", "95%棉 5%氨纶")
    assert table(db_path, "SELECT DISTINCT source FROM catalog_items ORDER BY source") == [
        ("catalog.xlsx:商品 row 2",),
        ("catalog.xlsx:商品 row 3",),
    ]


def test_import_keeps_a_workbooks_dates_and_times_as_the_sheet_shows_them(tmp_path: Path, db_path: Path) -> None:
    # Typed dates reached buyers in Python's form: 生产日期是2026-05-01T08:30:00, 保质期是12:00:00.
    from datetime import date, datetime, time, timedelta

    header = ("商品ID", "标题", "生产日期", "上市时间", "保质期", "发货时间", "时长")
    row = (
        700000000001,
        "牛奶",
        datetime(2026, 5, 1, 8, 30),
        date(2026, 1, 1),
        time(12),
        time(7, 5, 30),
        timedelta(hours=36),
    )
    run_import(db_path, [write_xlsx(tmp_path / "items.xlsx", {"商品": (header, [row])})])
    assert item(db_path, "700000000001").attrs == (
        ("生产日期", "2026-05-01 08:30"),
        ("上市时间", "2026-01-01"),
        ("保质期", "12:00"),
        ("发货时间", "07:05:30"),
        ("时长", "36:00"),
    )


def test_import_reports_bad_rows_by_number_and_writes_nothing(tmp_path: Path, db_path: Path) -> None:
    items = write_csv(
        tmp_path / "items.csv",
        ITEMS_HEADER,
        [ITEMS[0], ("", "无ID的商品", "", "", "", ""), ("600000000009", "", "", "", "", ""), ITEMS[0]],
        "gbk",
    )
    sizes = write_csv(
        tmp_path / "sizes.csv",
        CHART_HEADER,
        [CHART[0], (TSHIRT, "M", "158-", "95-110", ""), (TSHIRT, "", "165-172", "110-125", ""), CHART[0]],
    )
    report = run_import(db_path, [items, sizes])
    assert not report.written
    assert [str(p) for p in report.problems] == [
        "items.csv 第 3 行 A 列：商品ID 为空",  # in [ui] language, zh_CN by default
        "items.csv 第 4 行 B 列：标题为空（商品ID 600000000009）",
        f"items.csv 第 5 行 A 列：商品ID {TSHIRT} 已在 items.csv 第 2 行 出现过",
        "sizes.csv 第 3 行 C 列：身高 '158-' 不是 158-165 这样的范围",
        "sizes.csv 第 4 行 B 列：尺码为空",
        f"sizes.csv 第 5 行 B 列：尺码 S 在 商品 {TSHIRT} 里出现了两次",
    ]
    assert table(db_path, "SELECT count(*) FROM catalog_items") == [(0,)]
    assert table(db_path, "SELECT count(*) FROM catalog_sizes") == [(0,)]


def test_import_names_the_earlier_row_in_the_interface_language(tmp_path: Path, db_path: Path) -> None:
    # The row a duplicate clashes with was named "items.csv row 2" in the middle of a Chinese message
    first = write_csv(tmp_path / "a.csv", SHARED_HEADER, [SHARED[0]])
    again = write_csv(tmp_path / "b.csv", SHARED_HEADER, [SHARED[1]])
    report = run_import(db_path, [first, again])
    assert [str(p) for p in report.problems] == ["b.csv 第 2 行 A 列：尺码表 卫衣尺码 已在 a.csv 第 2 行 给过尺码"]


def test_import_bad_rows_of_a_workbook_name_the_sheet(tmp_path: Path, db_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "book.xlsx",
        {"商品": (ITEMS_HEADER, ITEMS), "尺码": (CHART_HEADER, [*CHART, (TSHIRT, "3XL", "185-190", "很重", "")])},
    )
    report = run_import(db_path, [path])
    assert [str(p) for p in report.problems] == ["book.xlsx:尺码 第 7 行 D 列：体重 '很重' 不是 95-110 这样的范围"]
    assert table(db_path, "SELECT count(*) FROM catalog_items") == [(0,)]


def test_import_refuses_tables_it_cannot_tell(tmp_path: Path, db_path: Path) -> None:
    odd = write_csv(tmp_path / "odd.csv", ("名字", "价格"), [("T恤", "59")])
    both = write_csv(tmp_path / "both.csv", ("商品ID", "尺码表", "尺码", "身高"), [(TSHIRT, "表1", "M", "160-165")])
    no_id = write_csv(tmp_path / "noid.csv", ("标题", "面料"), [("T恤", "棉")])
    twice = write_csv(tmp_path / "twice.csv", ("商品ID", "标题", "面料", "面料"), [(TSHIRT, "T恤", "棉", "麻")])
    report = run_import(db_path, [odd, both, no_id, twice, tmp_path / "missing.csv", tmp_path / "x.txt"])
    assert [(p.source, p.row) for p in report.problems] == [
        ("odd.csv", 1),
        ("both.csv", 1),
        ("noid.csv", 1),
        ("twice.csv", 1),
        ("missing.csv", None),
        ("x.txt", None),
    ]
    assert "既不是商品表" in report.problems[0].message
    assert report.problems[3].message == "列 '面料' 出现了两次"
    assert not report.written


def test_import_takes_a_shoe_chart_by_foot_length(tmp_path: Path, db_path: Path) -> None:
    # a chart of 尺码 and 脚长 was refused: 尺码表需要身高或体重列
    shoes = write_csv(
        tmp_path / "shoes.csv", ("商品ID", "尺码", "脚长(cm)"), [(TSHIRT, "38", "23.5-24"), (TSHIRT, "39", "24-24.5")]
    )
    report = run_import(db_path, [*tshirt_files(tmp_path)[:1], shoes])
    assert report.problems == () and report.written
    conn = store.connect(db_path)
    try:
        item = read_item(conn, TSHIRT)
    finally:
        conn.close()
    assert item is not None and item.chart is not None
    assert [(r.size, r.measures) for r in item.chart.rows] == [
        ("38", (("脚长(cm)", "23.5-24"),)),
        ("39", (("脚长(cm)", "24-24.5"),)),
    ]


def test_import_refuses_a_chart_by_other_measures_and_a_size_without_any(tmp_path: Path, db_path: Path) -> None:
    bust = write_csv(tmp_path / "bust.csv", ("商品ID", "尺码", "胸围"), [(TSHIRT, "M", "88-92")])
    blank = write_csv(tmp_path / "blank.csv", ("商品ID", "尺码", "身高", "脚长"), [(HOODIE, "39", "", "")])
    foot = write_csv(tmp_path / "foot.csv", ("商品ID", "尺码", "脚长"), [(TSHIRT, "40", "大约25")])
    report = run_import(db_path, [bust, blank, foot])
    assert [str(p) for p in report.problems] == [
        "bust.csv 第 1 行：尺码表需要身高、体重或脚长列：尺码推荐看身高和体重（鞋子看脚长），不支持只按其他尺寸的尺码表",
        "blank.csv 第 2 行：尺码 39 没有身高、体重或脚长：每个尺码至少要有其中一项（推荐看身高和体重，鞋子看脚长；其他尺寸只用于展示）",
        "foot.csv 第 2 行 C 列：脚长 '大约25' 不是 24.5 或 240-245 这样的长度",
    ]
    assert not report.written


def test_import_says_a_chart_without_its_size_column_lacks_it(tmp_path: Path, db_path: Path) -> None:
    # A chart with 尺码表, 身高 and 体重 but no 尺码 was "neither an item list nor a size chart".
    path = write_csv(tmp_path / "sizes.csv", ("尺码表", "身高(cm)", "体重(斤)"), [("卫衣尺码", "155-165", "90-115")])
    report = run_import(db_path, [path])
    assert [str(p) for p in report.problems] == [
        "sizes.csv 第 1 行：尺码表缺少尺码列（也可写作 码数 或 size）：每个尺码一行，尺码名写在这一列"
    ]


def test_import_says_a_blank_below_a_chart_name_may_be_a_merged_cell(tmp_path: Path, db_path: Path) -> None:
    # Excel saves a name merged down a chart's rows as CSV in the first row only: each row below was 尺码表为空.
    rows = [("卫衣尺码", "M", "155-165", "90-115"), ("", "L", "165-175", "115-140"), ("", "XL", "175-185", "140-160")]
    report = run_import(db_path, [write_csv(tmp_path / "sizes.csv", SHARED_HEADER, rows)])
    assert [(p.row, p.message) for p in report.problems] == [
        (
            n,
            "尺码表为空（上一行是 '卫衣尺码'）：是往下合并的单元格吗？.csv 只在合并区域的第一行保留它的值：请在每一行都写上，或者导入 .xlsx",
        )
        for n in (3, 4)
    ]
    assert not report.written


def test_import_refuses_values_beyond_the_header(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(f"商品ID,标题\n{TSHIRT},T恤,\n{HOODIE},卫衣,多出来的\n", encoding="utf-8")
    report = run_import(db_path, [path])
    assert [str(p) for p in report.problems] == ["items.csv 第 3 行 C 列：表头只有 2 列，这一行超出了"]


def test_import_refuses_item_ids_with_spaces_or_control_characters(tmp_path: Path, db_path: Path) -> None:
    rows = [("6000 0001", "T恤", "", "", "", ""), ("600\x1b[31m1", "T恤", "", "", "", "")]
    report = run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, rows)])
    assert [(p.row, p.message.split(" 不是")[0]) for p in report.problems] == [
        (2, "商品ID '6000 0001'"),
        (3, "商品ID '600\\x1b[31m1'"),
    ]


def test_import_reads_an_id_excel_wrote_as_a_float(tmp_path: Path, db_path: Path) -> None:
    items = write_csv(tmp_path / "items.csv", ("商品ID", "标题", "尺码表"), [("700000000021.0", "T恤", "1001.0")])
    charts = write_csv(
        tmp_path / "sizes.csv",
        ("商品ID", "尺码", "身高"),
        [("700000000021.00", "M", "160-170")],
    )
    shared = write_csv(tmp_path / "shared.csv", ("尺码表", "尺码", "身高"), [("1001.0", "L", "170-180")])
    report = run_import(db_path, [items, charts, shared])
    assert (report.problems, report.missing_charts, report.orphan_charts) == ((), (), ())
    tee = item(db_path, "700000000021")
    assert (tee.chart_name, [r.size for r in tee.chart.rows]) == ("1001", ["M"])


def test_import_refuses_an_id_excel_wrote_in_scientific_notation(tmp_path: Path, db_path: Path) -> None:
    items = write_csv(tmp_path / "items.csv", ("商品ID", "标题"), [("7.00000E+11", "T恤"), ("700000000022", "卫衣")])
    charts = write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", "身高"), [("7E+11", "M", "160-170")])
    shared = write_csv(tmp_path / "shared.csv", ("尺码表", "尺码", "身高"), [("1.001e3", "L", "170-180")])
    report = run_import(db_path, [items, charts, shared])
    assert not report.written
    assert [str(p) for p in report.problems] == [
        "items.csv 第 2 行 A 列：商品ID '7.00000E+11' 被 Excel 变成了科学计数法的数字，后面的位数已经丢失："
        "请把 商品ID 列设为文本格式，再重新导出文件",
        "sizes.csv 第 2 行 A 列：商品ID '7E+11' 被 Excel 变成了科学计数法的数字，后面的位数已经丢失："
        "请把 商品ID 列设为文本格式，再重新导出文件",
        "shared.csv 第 2 行 A 列：尺码表 '1.001e3' 被 Excel 变成了科学计数法的数字，后面的位数已经丢失："
        "请把 尺码表 列设为文本格式，再重新导出文件",
    ]


def test_import_refuses_a_file_that_is_no_text(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"\xff\x00\x81\x30\x81\xff\xfe" * 10)  # not UTF-16's byte-order mark (read as such)
    report = run_import(db_path, [path])
    assert [str(p) for p in report.problems] == ["items.csv：不是 UTF-8 或 GBK 编码的文本"]


def test_import_says_a_file_is_missing_in_the_interface_language(tmp_path: Path, db_path: Path) -> None:
    # A mistyped path gave "No such file or directory" (the .xlsx also "[Errno 2]" and the whole path)
    (tmp_path / "folder.csv").mkdir()
    files = [tmp_path / "itmes.csv", tmp_path / "sizes.xlsx", tmp_path / "folder.csv"]
    report = run_import(db_path, files)
    assert [str(p) for p in report.problems] == [
        "itmes.csv：无法读取：没有这个文件或目录",
        "sizes.xlsx：无法读取：没有这个文件或目录",
        "folder.csv：无法读取：这是一个目录",
    ]


def test_import_again_replaces_the_items_rows(tmp_path: Path, db_path: Path) -> None:
    run_import(db_path, tshirt_files(tmp_path))
    newer = write_csv(tmp_path / "new.csv", ("商品ID", "标题", "材质"), [(TSHIRT, "新款T恤", "100%棉")])
    smaller = write_csv(tmp_path / "chart.csv", CHART_HEADER, [(TSHIRT, "均码", "155-175", "90-130", "")])
    report = run_import(db_path, [newer, smaller])
    assert (report.items, report.replaced) == (1, 1)
    tshirt = item(db_path, TSHIRT)
    assert (tshirt.title, tshirt.attrs) == ("新款T恤", (("材质", "100%棉"),))  # 面料, 产地, 版型 are gone
    assert [r.size for r in tshirt.chart.rows] == ["均码"]
    assert item(db_path, HOODIE).title == "加绒连帽卫衣"  # items not in the new file stay


def test_import_skip_bad_leaves_out_bad_items_and_whole_charts(tmp_path: Path, db_path: Path) -> None:
    items = write_csv(tmp_path / "items.csv", ITEMS_HEADER, [ITEMS[0], ("600000000009", "", "", "", "", "")])
    sizes = write_csv(tmp_path / "sizes.csv", CHART_HEADER, [*CHART[:2], (TSHIRT, "L", "165-172", "重", "")])
    report = run_import(db_path, [items, sizes], skip_bad=True)
    assert report.written and report.items == 1 and report.charts == 0 and len(report.problems) == 2
    assert item(db_path, TSHIRT).chart is None  # a chart is never half-imported
    assert item(db_path, "600000000009") is None


def test_import_warns_about_shared_charts_not_imported(tmp_path: Path, db_path: Path) -> None:
    report = run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS)])
    assert report.written and [(m.name, m.items) for m in report.missing_charts] == [("卫衣尺码", (HOODIE,))]
    assert item(db_path, HOODIE).chart is None
    run_import(db_path, [write_csv(tmp_path / "shared.csv", SHARED_HEADER, SHARED)])
    assert [r.size for r in item(db_path, HOODIE).chart.rows] == ["M", "L", "XL"]


def test_import_chart_in_kilograms_is_kept_in_jin(tmp_path: Path, db_path: Path) -> None:
    path = write_csv(tmp_path / "kg.csv", ("商品ID", "尺码", "身高", "体重(kg)"), [(TSHIRT, "M", "158-165", "47.5-55")])
    report = run_import(db_path, [path])
    assert report.orphan_charts == (TSHIRT,)  # the chart is kept; the item may come in a later import
    run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1])])
    assert str(item(db_path, TSHIRT).chart.rows[0].weight) == "95-110"


def test_import_warns_about_a_chart_with_a_measure_on_some_rows_only(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(TSHIRT, "M", "160", "50-60kg"), (TSHIRT, "L", "165-175", ""), (TSHIRT, "XL", "170-180", "70-80kg")]
    path = write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", "身高", "体重"), rows)
    report = run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1]), path])
    assert report.written and [str(b) for b in report.blank_measures] == [
        f"注意：商品 {TSHIRT} 的尺码 L 没有填体重（其他尺码有）：推荐时这些尺码只看身高"
    ]
    assert [r.size for r in item(db_path, TSHIRT).chart.rows] == ["M", "L", "XL"]
    assert main(["catalog", "import", str(path), "--db", str(db_path)]) == 0
    assert f"商品 {TSHIRT} 的尺码 L 没有填体重" in capsys.readouterr().err
    assert run_import(db_path, tshirt_files(tmp_path)).blank_measures == ()


def test_cli_catalog_import_list_show(tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in tshirt_files(tmp_path)]
    assert main(["catalog", "import", *files, "--db", str(db_path)]) == 0
    assert "已导入 2 个商品（替换 0 个），2 张尺码表共 8 个尺码" in capsys.readouterr().out
    assert main(["catalog", "list", "--db", str(db_path)]) == 0
    listing = capsys.readouterr().out
    assert TSHIRT in listing and "专用（5 个尺码）" in listing and "共用 卫衣尺码（3 个尺码）" in listing
    assert main(["catalog", "list", "-q", "卫衣", "--db", str(db_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "共 1 个商品，显示 1 个"
    assert main(["catalog", "show", TSHIRT, "--db", str(db_path)]) == 0
    shown = capsys.readouterr().out
    assert "95%棉 5%氨纶" in shown and "165-172" in shown and "胸围" in shown
    assert main(["catalog", "show", "404", "--db", str(db_path)]) == 1
    assert "商品 '404' 不在商品库中" in capsys.readouterr().err


def test_cli_catalog_import_with_bad_rows_exits_1(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_csv(tmp_path / "items.csv", ITEMS_HEADER, [("", "T恤", "", "", "", "")])
    assert main(["catalog", "import", str(bad), "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "items.csv 第 2 行 A 列：商品ID 为空" in err and "发现 1 个问题，未导入任何内容" in err
    assert main(["catalog", "import", str(bad), "--skip-bad", "--db", str(db_path)]) == 0
    assert "，跳过 1 个问题" in capsys.readouterr().out


def test_cli_catalog_list_before_any_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "old.db"
    sqlite3.connect(db).close()  # a database from before the catalog existed
    assert main(["catalog", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "共 0 个商品，显示 0 个"
    assert main(["catalog", "show", TSHIRT, "--db", str(db)]) == 1
    assert main(["catalog", "list", "--db", str(tmp_path / "none.db")]) == 1
    assert "没有数据库" in capsys.readouterr().err


def test_import_a_unit_in_the_cell_wins_over_the_headers(tmp_path: Path, db_path: Path) -> None:
    # 120-140斤 under 体重（公斤） was stored as 240-280斤
    rows = [(TSHIRT, "M", "50-60公斤"), (TSHIRT, "L", "120-140斤"), (TSHIRT, "XL", "70-80")]
    path = write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", "体重（公斤）"), rows)
    assert run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1]), path]).written
    assert [str(r.weight) for r in item(db_path, TSHIRT).chart.rows] == ["100-120", "120-140", "140-160"]


def test_import_reads_ids_an_export_forced_to_text(tmp_path: Path, db_path: Path) -> None:
    # ="652301119401" and '652301119402 were stored as typed, and never matched a conversation's item
    path = tmp_path / "items.csv"
    path.write_text(
        "宝贝ID,标题,尺码表\n"
        '"=""652301119401""",T恤A,"=""女T尺码"""\n'
        "'652301119402,T恤B,女T尺码\n"
        "\t 652301119403 \t,T恤C,'女T尺码\n",
        encoding="utf-8",
    )
    charts = write_csv(tmp_path / "sizes.csv", ("宝贝ID", "尺码", "身高"), [('="652301119401"', "M", "160-170")])
    report = run_import(db_path, [path, charts])
    assert (report.problems, report.orphan_charts) == ((), ())
    assert [(i, item(db_path, i).chart_name) for i in ("652301119401", "652301119402", "652301119403")] == [
        ("652301119401", "女T尺码"),
        ("652301119402", "女T尺码"),
        ("652301119403", "女T尺码"),
    ]
    assert [r.size for r in item(db_path, "652301119401").chart.rows] == ["M"]


@pytest.mark.parametrize(
    ("height", "weight"),
    [
        ("身高", "体重/斤"),
        ("身高/cm", "体重-斤"),
        ("身高 cm", "体重 斤"),
        ("参考身高(cm)", "建议体重(斤)"),
        ("适合身高", "推荐体重"),
        ("身高范围（单位：cm）", "适用体重_斤"),
    ],
)
def test_import_reads_the_usual_height_and_weight_headers(
    tmp_path: Path, db_path: Path, height: str, weight: str
) -> None:
    # 体重/斤, 参考身高(cm), 建议体重(斤), 适合身高, 推荐体重 were refused: "尺码表需要身高或体重列"
    path = write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", height, weight, "参考胸围"), [(TSHIRT, "M", "158-165", "95-110", "100")])  # fmt: skip
    report = run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1]), path])
    assert report.problems == ()
    row = item(db_path, TSHIRT).chart.rows[0]
    assert (str(row.height), str(row.weight), row.measures) == ("158-165", "95-110", (("参考胸围", "100"),))


def test_import_keeps_an_item_lists_height_column_as_a_fact(tmp_path: Path, db_path: Path) -> None:
    path = write_csv(
        tmp_path / "items.csv", ("商品ID", "标题", "适合身高", "尺码"), [(TSHIRT, "T恤", "155-170", "均码")]
    )
    assert run_import(db_path, [path]).written
    assert item(db_path, TSHIRT).attrs == (("适合身高", "155-170"), ("尺码", "均码"))


def test_import_reads_weights_without_a_unit_as_kilograms_when_the_heights_say_so(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A kg chart with no unit anywhere (体重 45-52, 52-60 …) was read as 斤: no buyer ever got advice
    rows = [(TSHIRT, "S", "150-158", "40-45"), (TSHIRT, "M", "158-165", "45-52"), (TSHIRT, "L", "165-172", "52-60")]
    kg = write_csv(tmp_path / "kg.csv", ("商品ID", "尺码", "身高", "体重"), rows)
    alone = write_csv(tmp_path / "alone.csv", ("尺码表", "尺码", "体重"), [("均码表", "均码", "45-60")])
    files = [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1]), kg, alone]
    report = run_import(db_path, files)
    assert [str(r.weight) for r in item(db_path, TSHIRT).chart.rows] == ["80-90", "90-104", "104-120"]
    assert [str(g) for g in report.unit_guesses] == [
        "注意：kg.csv：体重 列没有写单位；按各行的身高，这些数值是公斤，已按公斤读入（如果是斤，请把表头写成 体重(斤)）",
        "注意：alone.csv：体重 列没有写单位，也没有身高列可以判断；这些数值已按斤读入（如果是公斤，请把表头写成 体重(kg)）",
    ]
    assert run_import(db_path, tshirt_files(tmp_path)).unit_guesses == ()  # a chart in 斤 is read as it was
    assert main(["catalog", "import", *map(str, files[1:]), "--db", str(db_path)]) == 0
    assert "kg.csv：体重 列没有写单位" in capsys.readouterr().err


def test_import_skips_title_rows_above_the_header(tmp_path: Path, db_path: Path) -> None:
    # A merged title row gave "第 1 行：第 2 列有内容但没有表头"
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "卫衣"
    sheet.append(["【XX旗舰店】女士卫衣尺码表（单位：cm/斤）"])
    sheet.merge_cells("A1:E1")
    sheet.append([])
    sheet.append(list(SHARED_HEADER))
    for row in SHARED:
        sheet.append(list(row))
    book.save(tmp_path / "sizes.xlsx")
    items = tmp_path / "items.csv"
    items.write_text(
        f"宝贝列表导出 2026-12-05,,,\n商品ID,标题,面料,尺码表\n{HOODIE},卫衣,棉,卫衣尺码\n", encoding="utf-8"
    )
    report = run_import(db_path, [items, tmp_path / "sizes.xlsx"])
    assert report.problems == ()
    assert [r.size for r in item(db_path, HOODIE).chart.rows] == ["M", "L", "XL"]
    assert table(db_path, "SELECT source FROM catalog_items") == [("items.csv row 3",)]
    lost = tmp_path / "lost.csv"
    lost.write_text("宝贝列表导出 2026-12-05,,\n名字,价格,库存\nT恤,59,3\n", encoding="utf-8")
    assert [str(p) for p in run_import(db_path, [lost]).problems] == [
        "lost.csv 第 1 行：前 11 行里找不到表头：商品表的表头要有 商品ID 和 标题，"
        "尺码表的表头要有 尺码、身高和/或体重，以及 商品ID 或 尺码表"
    ]


def test_import_warns_once_per_missing_chart_naming_its_items(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "注意：商品引用了尺码表 '女T尺码'，但它没有导入" named no item
    rows = [(f"70000000010{n}", f"女T{n}", "女T尺码") for n in range(5)] + [("700000000200", "裙子", "裙子尺码")]
    path = write_csv(tmp_path / "items.csv", ("商品ID", "标题", "尺码表"), rows)
    assert main(["catalog", "import", str(path), "--db", str(db_path)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "注意：尺码表 '女T尺码' 没有导入，但这些商品引用了它：700000000100、700000000101、700000000102 等，另有 2 个商品",
        "注意：尺码表 '裙子尺码' 没有导入，但这些商品引用了它：700000000200",
    ]


def test_cli_catalog_import_warns_of_values_the_quality_inspection_flags(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 材质 = 顶级头层牛皮 was suggested as 亲，这款材质是顶级头层牛皮哦~, then flagged 极限用语 in the agent's report.
    header = ("商品ID", "标题", "材质", "功效", "产地")
    rows = [
        ("700000000009", "女款真皮小白鞋", "顶级头层牛皮", "保证不磨脚 100%防水", "广东"),
        ("700000000010", "托特包", "头层牛皮", "", "浙江"),
    ]
    items = write_csv(tmp_path / "items.csv", header, rows)
    assert main(["catalog", "import", str(items), "--db", str(db_path)]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "质检" in line]
    assert warnings == [
        "注意：商品 700000000009 的 材质「顶级头层牛皮」会原样出现在推荐回复中，而质检会标记它：极限用语「顶级」",
        "注意：商品 700000000009 的 功效「保证不磨脚 100%防水」会原样出现在推荐回复中，而质检会标记它：过度承诺「保证不磨脚 100%防水」",
    ]


def test_import_fills_a_merged_cell_down_its_rows(tmp_path: Path, db_path: Path) -> None:
    # 尺码表 merged over A3:A5, as shops lay charts out, gave "第 4 行：尺码表为空" for every row below the first
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "卫衣尺码"
    sheet.append(["【XX旗舰店】卫衣尺码表"])
    sheet.merge_cells("A1:D1")  # a title across: not filled into the columns beside it
    sheet.append(list(SHARED_HEADER))
    for n, row in enumerate(SHARED):
        sheet.append([row[0] if n == 0 else None, *row[1:]])
    sheet.merge_cells("A3:A5")
    book.save(tmp_path / "sizes.xlsx")
    report = run_import(db_path, [tmp_path / "sizes.xlsx", write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS)])
    assert report.problems == ()
    assert [r.size for r in item(db_path, HOODIE).chart.rows] == ["M", "L", "XL"]


def test_import_reads_chart_heights_in_metres(
    tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 身高 1.60-1.65m was refused as "不是 158-165 这样的范围"
    rows = [(TSHIRT, "S", "1.55m以下", "90斤以下"), (TSHIRT, "M", "1.55-1.60m", "90-105"), (TSHIRT, "L", "1.6-1.7", "105-120")]  # fmt: skip
    sizes = write_csv(tmp_path / "sizes.csv", ("商品ID", "尺码", "身高", "体重"), rows)
    report = run_import(db_path, [write_csv(tmp_path / "items.csv", ITEMS_HEADER, ITEMS[:1]), sizes])
    assert report.problems == () and report.unit_guesses == ()
    assert [str(r.height) for r in item(db_path, TSHIRT).chart.rows] == ["155以下", "155-160", "160-170"]
    header = write_csv(
        tmp_path / "m.csv", ("商品ID", "尺码", "身高(m)", "体重(斤)"), [(TSHIRT, "M", "1.55-1.60", "90-105")]
    )
    assert run_import(db_path, [header]).problems == ()
    assert str(item(db_path, TSHIRT).chart.rows[0].height) == "155-160"
    wrong = write_csv(
        tmp_path / "w.csv",
        ("商品ID", "尺码", "身高", "体重"),
        [(TSHIRT, "M", "160m", "95-110"), (TSHIRT, "L", "165", "1.6m")],
    )
    assert len(run_import(db_path, [wrong]).problems) == 2  # neither is a range: 160 metres, a weight in metres
    kg = write_csv(tmp_path / "kg.csv", ("商品ID", "尺码", "身高", "体重(kg)"), [(TSHIRT, "M", "158-165", "47.5-55")])
    run_import(db_path, [kg])
    assert main(["catalog", "show", TSHIRT, "--db", str(db_path)]) == 0
    shown = capsys.readouterr().out  # the chart's kilograms are shown in 斤, and say so
    assert "体重(斤)" in shown and "95-110" in shown and "身高(cm)" in shown
