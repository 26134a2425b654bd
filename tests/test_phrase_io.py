"""Qianniu-style import and export (分组 / 快捷编码 / 快捷短语)."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest
from openpyxl import Workbook

from assistant.cli import main
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
from assistant.suggest.qianniu import TableError, export_rows, import_rows, map_header, read_table, to_toml, write_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def matcher(shipped_matcher: Matcher) -> Matcher:
    return shipped_matcher


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["分组", "快捷编码", "快捷短语"], {"group": 0, "code": 1, "text": 2}),
        (["类目", "快捷键", "回复内容"], {"group": 0, "code": 1, "text": 2}),
        (["短语", "编码"], {"text": 0, "code": 1}),
        (["内容 *"], {"text": 0}),
        (["序号", "分组名称", "编号", "话术"], {"group": 1, "code": 2, "text": 3}),
    ],
)
def test_header_mapping_is_flexible(header: list[str], expected: dict[str, int]) -> None:
    assert map_header(header) == expected


def test_import_takes_good_rows_and_reports_the_others(matcher: Matcher) -> None:
    rows = [
        ["分组", "快捷编码", "快捷短语"],
        ["发货时间", "zz1", "亲，您的包裹已经发出啦，请耐心等待哦~"],
        ["退款", "", "亲，退款已经为您处理，原路退回1-3天到账~"],
        ["物流发货", "zz2", ""],
        ["物流发货", "zz1", "亲，快递一般三天左右到哦"],
        ["物流发货", "zz3", "亲，{{ secret }}已经发出"],
        ["物流发货", "zz4", "好"],
        ["", "zz5", "嗯嗯这样子"],
        ["", "", ""],
        ["物流发货", "hy1", "亲，今天就给您发出哦~"],
    ]
    result = import_rows(rows, matcher)
    assert [(p.row, p.intent, p.code) for p in result.phrases] == [
        (2, "shipping_time", "zz1"),
        (3, "refund", "tk14"),  # a code made with the library's prefix for refunds
        (6, "shipping_time", "zz3"),  # a Qianniu text is plain text: {{ secret }} is shown as written
    ]
    reasons = {s.row: s.reason for s in result.skipped}
    assert reasons[4] == "话术内容为空"  # zh_CN, the default language
    assert "编码 'zz1' 重复（第 2 行已用）" in reasons[5]
    assert "太短" in reasons[7]
    assert "无法从内容判断意图" in reasons[8]
    assert "编码 'hy1' 已被话术 greeting." in reasons[10]  # the shipped library's code, not silently dropped
    assert 9 not in reasons  # a blank row is not a row


def test_imported_toml_is_a_valid_phrase_file(matcher: Matcher, tmp_path: Path) -> None:
    rows = [
        ["分组", "快捷编码", "快捷短语"],
        ["发货", "q1", '亲，"当天"发出\n放心拍~'],
        ["售后退款", "q2", "亲，已为您申请退款，请留意到账通知"],
    ]
    text = to_toml(import_rows(rows, matcher), "qianniu.csv")
    data = tomllib.loads(text)
    assert data["phrase"][0]["text"] == '亲，"当天"发出\n放心拍~'
    assert data["phrase"][0]["triggers"]
    library = Library.build([("imported.toml", data)])
    assert {p.group for p in library.phrases} == {"发货", "售后退款"}
    assert Matcher(library).suggest("什么时候发货")[0].code == "q1"


def test_import_without_a_text_column_fails(matcher: Matcher) -> None:
    with pytest.raises(TableError):
        import_rows([["a", "b"], ["1", "2"]], matcher)


def test_read_table_csv_utf8_gb18030_and_xlsx(tmp_path: Path) -> None:
    rows = [["分组", "快捷编码", "快捷短语"], ["发货", "a1", "亲，今天发出"]]
    assert read_table(write_csv(tmp_path / "u.csv", rows)) == rows
    assert read_table(write_csv(tmp_path / "g.csv", rows, "gb18030")) == rows
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    sheet.append([None, 12, "亲，数字编码也可以"])
    book.save(tmp_path / "t.xlsx")
    assert read_table(tmp_path / "t.xlsx") == rows + [["", "12", "亲，数字编码也可以"]]


def test_read_table_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    (tmp_path / "bad.xlsx").write_text("not a zip", encoding="utf-8")
    (tmp_path / "cr.csv").write_bytes("分组,快捷编码,快捷短语\nx,y,a\rb\n".encode())  # a bare CR in an unquoted cell
    for name in ("x.json", "bad.xlsx", "cr.csv"):
        with pytest.raises(TableError):
            read_table(tmp_path / name)


def test_export_then_import_round_trip(matcher: Matcher, tmp_path: Path) -> None:
    rows = export_rows(matcher.library)
    assert rows[0] == ["分组", "快捷编码", "快捷短语"]
    assert len(rows) == len(matcher.library.phrases) + 1
    assert all("{{" not in r[2] for r in rows[1:])
    assert any("{{" in r[2] for r in export_rows(matcher.library, raw=True)[1:])
    for name in ("out.csv", "out.xlsx"):
        write_table(rows, tmp_path / name)
        assert read_table(tmp_path / name) == rows
    with pytest.raises(TableError):
        write_table(rows, tmp_path / "out.json")


def _run(argv: list[str]) -> int:
    return main([*argv, "--phrases", str(ROOT / "phrases"), "--config", str(ROOT / "config.toml")])


def test_cli_import_writes_toml_and_reports_skipped_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_csv(
        tmp_path / "in.csv", [["分组", "编码", "内容"], ["发票", "p1", "亲，可以开电子发票的哦"], ["发票", "p2", ""]]
    )
    assert _run(["phrases", "import", str(source), "--out", str(tmp_path / "out.toml")]) == 1  # a row left out
    assert tomllib.loads((tmp_path / "out.toml").read_text(encoding="utf-8"))["phrase"][0]["intent"] == "invoice"
    err = capsys.readouterr().err
    assert "第 3 行：未导入：话术内容为空" in err
    assert "导入 1 条话术，1 行未导入" in err


def test_cli_export_writes_csv_and_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("all.csv", "all.xlsx"):
        assert _run(["phrases", "export", "--out", str(tmp_path / name)]) == 0
        assert read_table(tmp_path / name)[0] == ["分组", "快捷编码", "快捷短语"]
    assert _run(["phrases", "export"]) == 0
    assert capsys.readouterr().out.startswith("分组,快捷编码,快捷短语")


def test_cli_import_and_export_name_a_bad_path_in_the_interface_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # These printed Python's "[Errno 2] No such file or directory: '…'" and, for --out q.txt, English
    for name in ("qianniu.csv", "qianniu.xlsx"):
        assert _run(["phrases", "import", str(tmp_path / name)]) == 1
        assert capsys.readouterr().err == f"assistant: {tmp_path / name}: 没有这个文件或目录\n"
    assert _run(["phrases", "export", "--out", str(tmp_path / "no" / "q.csv")]) == 1
    assert capsys.readouterr().err == f"assistant: {tmp_path / 'no' / 'q.csv'}: 没有这个文件或目录\n"
    assert _run(["phrases", "export", "--out", str(tmp_path / "q.txt")]) == 1
    assert capsys.readouterr().err == "assistant: q.txt：应为 .csv 或 .xlsx 文件\n"


def test_cli_suggest_prints_a_table_or_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert _run(["suggest", "什么时候发货", "--json", "--k", "2"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert len(body["suggestions"]) == 2
    assert set(body["suggestions"][0]) == {
        "phrase_id", "intent", "code", "text", "score", "trigger", "confidence", "evidence",
    }  # fmt: skip
    assert set(body["customer_type"]) == {
        "type", "label", "confidence", "sure", "evidence", "script", "rival", "past_orders",
    }  # fmt: skip
    assert _run(["suggest", "什么时候发货"]) == 0
    out = capsys.readouterr().out
    assert "发货时间" in out and "顾客类型" in out
    assert _run(["suggest", "今天天气不错呀哈哈"]) == 0
    assert "没有达到阈值的建议" in capsys.readouterr().out


def test_import_writes_toml_that_reads_back_any_text(shipped_matcher: Matcher, tmp_path: Path) -> None:
    """Control characters (U+007F), quotes, backslashes and newlines survive the TOML round trip."""
    odd = '亲\x7f，"包邮"吗\\n第二行\n真换行\t制表'
    source = write_csv(tmp_path / "odd.csv", [["分组", "快捷编码", "快捷短语"], ["物流", "by1", odd]])
    result = import_rows(read_table(source), shipped_matcher)
    text = to_toml(result, "odd\nname.csv")
    doc = tomllib.loads(text)
    assert [p["text"] for p in doc["phrase"]] == [odd]
    assert doc["phrase"][0]["code"] == "by1"


def test_import_takes_a_multiplying_template_as_text_and_refuses_a_text_over_the_bound(matcher: Matcher) -> None:
    text = '亲，退款{{ "哈哈哈哈哈哈哈哈哈哈"' + '|replace("哈", "哈哈哈哈哈哈哈哈哈哈")' * 8 + " }}"
    result = import_rows(
        [["分组", "快捷编码", "快捷短语"], ["退款", "zz9", text], ["退款", "zz8", "亲，退款" * 501]], matcher
    )
    [phrase] = result.phrases
    library = Library.build([("q.toml", tomllib.loads(to_toml(result)))])
    assert library.render(phrase.id) == text  # never run: Qianniu text is plain text
    [skipped] = result.skipped
    assert (skipped.row, skipped.reason) == (3, "超过 2000 个字符")


def test_cli_eval_names_a_missing_set_in_the_interface_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "labeled set not found" was printed in English in the Chinese command line
    assert _run(["eval", str(tmp_path / "labels.tsv")]) == 1
    assert capsys.readouterr().err == f"assistant: 找不到标注集：{tmp_path / 'labels.tsv'}\n"


def test_cli_eval_reports_any_labeled_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(
        "refund|return_exchange\t我要退货退款\nnone\t我的账号登录不上\nbad line\nnosuchintent\t在吗\n", encoding="utf-8"
    )
    assert _run(["eval", str(path)]) == 0
    out = capsys.readouterr().out
    for figure in ("意图首选准确率：    100.0%", "有意图却没有推荐：", "无意图却给了推荐：", "校准"):
        assert figure in out, figure  # an unknown label is left out, not counted as a miss
    assert "跳过 2 行：格式不对，或标签不是库里的意图" in out
    assert "set.tsv:4：标签 nosuchintent 不是库里的意图" in out
    assert _run(["eval", str(tmp_path / "missing.tsv")]) == 1


def test_cli_eval_reads_a_set_with_a_bom_or_in_gbk_and_names_one_in_neither(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "shipping_time\t今天能发货吗\nrefund\t我要退款\n"
    (tmp_path / "bom.tsv").write_bytes(lines.encode("utf-8-sig"))
    (tmp_path / "gbk.tsv").write_bytes(lines.encode("gbk"))
    (tmp_path / "u16.tsv").write_bytes(lines.encode("utf-16"))  # Excel's Unicode 文本, read as the tables are
    for name in ("bom.tsv", "gbk.tsv", "u16.tsv"):
        assert _run(["eval", str(tmp_path / name)]) == 0
        out = capsys.readouterr().out
        assert "skipped" not in out and "unknown label" not in out, name  # the first line is read too
    (tmp_path / "bad.tsv").write_bytes(b"\xff" + lines.encode("utf-8"))
    assert _run(["eval", str(tmp_path / "bad.tsv")]) == 1
    assert (
        capsys.readouterr().err == f"assistant: {tmp_path / 'bad.tsv'}：不是 UTF-8 或 GBK 编码的文本：请另存为 UTF-8\n"
    )


def test_read_table_gives_a_line_break_in_a_cell_as_lf_whatever_the_file(tmp_path: Path) -> None:
    source = tmp_path / "crlf.csv"
    source.write_bytes(
        '分组,快捷编码,快捷短语\r\n售前,cr1,"亲，尺码参考：\r\n160cm 拿S\r165cm 拿M"\r\n'.encode("utf-8-sig")
    )
    text = "亲，尺码参考：\n160cm 拿S\n165cm 拿M"
    assert read_table(source)[1] == ["售前", "cr1", text]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["分组", "快捷编码", "快捷短语"])
    sheet.append(["售前", "cr1", "亲，尺码参考：\r\n160cm 拿S\n165cm 拿M"])
    book.save(tmp_path / "crlf.xlsx")
    assert read_table(tmp_path / "crlf.xlsx")[1] == ["售前", "cr1", text]


def test_read_table_says_a_big5_file_is_not_utf8_or_gbk(tmp_path: Path) -> None:
    rows = [["分組", "快捷編碼", "快捷短語"], ["售前諮詢", "hy", "親，您好！歡迎光臨小店，有什麼可以幫您的嗎？"]]
    with pytest.raises(TableError, match="不是 UTF-8 或 GBK.*Big5"):
        read_table(write_csv(tmp_path / "big5.csv", rows, "big5"))
    # read as GBK, a table without a header is still one: import_rows says it has no header
    plain = [["名字", "说明"], ["售前咨询", "亲，您好！欢迎光临小店，有什么可以帮您的吗？"]]
    assert read_table(write_csv(tmp_path / "gbk.csv", plain, "gbk")) == plain


def test_read_table_gives_a_group_merged_down_its_phrases_to_each_row(tmp_path: Path) -> None:
    # A 分组 cell merged over A2:A4 was read in its first row only: the rows below had no group, so a 催付 phrase
    # there was refused as a reminder under another group.
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["分组", "快捷编码", "快捷短语"])
    sheet.append(["催付", "cf1", "亲，您拍下的宝贝还没付款哦，尽快付款我们马上安排发货~"])
    sheet.append([None, "cf2", "亲，订单还有半小时就自动关闭了，需要的话抓紧付款哦"])
    sheet.append([None, "cf3", "亲，看到您还没完成付款，有疑问可以随时问我哦"])
    sheet.merge_cells("A2:A4")
    book.save(tmp_path / "merged.xlsx")
    assert [row[0] for row in read_table(tmp_path / "merged.xlsx")] == ["分组", "催付", "催付", "催付"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_read_table_reads_excels_unicode_text(tmp_path: Path, encoding: str) -> None:
    # Excel's 另存为 "Unicode 文本 (*.txt)": UTF-16 after its byte-order mark, tab-separated; refused as not
    # UTF-8 or GBK.
    rows = [["分组", "快捷编码", "快捷短语"], ["售前", "hy", "亲，欢迎光临小店，有什么可以帮您的吗？"]]
    text = "\r\n".join("\t".join(row) for row in rows) + "\r\n"
    path = tmp_path / "q.txt"
    path.write_bytes("\ufeff".encode(encoding) + text.encode(encoding))
    assert read_table(path) == rows
