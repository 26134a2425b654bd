"""Qianniu exports as shops have them: title rows, GBK, XLSX, Chinese codes, group names that are not intents,
a shop's layer over the demo library, re-imports with --replace, and export → import → export."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest
import tomli_w
from openpyxl import Workbook

from assistant.cli import main
from assistant.suggest.matcher import Matcher
from assistant.suggest.phrases import Library
from assistant.suggest.qianniu import TableError, import_rows, read_table

ROOT = Path(__file__).resolve().parent.parent
TITLE = ["千牛快捷短语导出（本店）", "", ""]
HEADER = ["分组", "快捷编码", "快捷短语"]
# Our own wording, grouped as shops group them: by stage, not by what the phrase answers.
ROWS = [
    ["售前咨询", "在的", "在的呢亲~ 请问有什么可以帮您的吗？"],
    ["售前咨询", "面料", "亲，这款是全棉面料，吸汗透气，贴身穿也很舒服的哦"],
    ["售前咨询", "jg", "亲，已经是最低价了呢，实在便宜不了了，请亲理解哦"],
    ["物流", "发货", "亲，下午四点前付款当天就发出，之后的第二天发哦"],
    ["物流", "查件", "亲，您的包裹已经在路上了，点开订单就能看到物流信息"],
    ["售后", "退货", "亲，支持七天无理由退换，在订单里申请退货就可以了哦"],
    ["售后", "坏了", "亲，收到的东西有破损的话拍照发我，马上给您补发或者退款"],
    ["售后", "嗯", "嗯嗯"],
]
EXPECTED = {
    "在的": "greeting",
    "面料": "product_info",
    "jg": "price_bargain",
    "发货": "shipping_time",
    "查件": "logistics",
    "退货": "return_exchange",
}


def gbk_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="gbk", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append([v or None for v in row])
    book.save(path)
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A config whose library is the shipped one with a shop's layer over it."""
    (tmp_path / "shop").mkdir()
    (tmp_path / "config.toml").write_text(f'[phrases]\npath = ["{ROOT / "phrases"}", "shop"]\n', encoding="utf-8")
    return tmp_path


def run(shop: Path, *argv: str) -> int:
    return main([*argv, "--config", str(shop / "config.toml")])


@pytest.mark.parametrize("kind", ["gbk-csv", "xlsx"])
def test_import_decides_intents_from_the_text_not_the_group(
    shipped_matcher: Matcher, tmp_path: Path, kind: str
) -> None:
    rows = [TITLE, HEADER, *ROWS]
    path = gbk_csv(tmp_path / "q.csv", rows) if kind == "gbk-csv" else xlsx(tmp_path / "q.xlsx", rows)
    result = import_rows(read_table(path), shipped_matcher)
    decided = {p.code: p.intent for p in result.phrases}
    for code, intent in EXPECTED.items():
        assert decided[code] == intent, (code, decided.get(code))
    assert all(p.source == "text" for p in result.phrases)  # 售前咨询 / 物流 / 售后 name no intent
    assert "greeting" not in {decided[c] for c in ("面料", "jg")}
    # nothing lost silently: every phrase row is imported or listed with its reason
    assert len(result.phrases) + len(result.skipped) == len(ROWS)
    assert [s.row for s in result.skipped] == [10] and "太短" in result.skipped[0].reason
    assert {p.group for p in result.phrases} == {"售前咨询", "物流", "售后"}


def test_import_takes_the_group_when_it_is_an_intents_label(shipped_matcher: Matcher) -> None:
    result = import_rows([HEADER, ["发票", "fp", "亲，可以开的，下单时备注抬头和税号就好"]], shipped_matcher)
    [phrase] = result.phrases
    assert (phrase.intent, phrase.source) == ("invoice", "group")


def test_import_keeps_chinese_codes_and_reads_back(shipped_matcher: Matcher, tmp_path: Path) -> None:
    from assistant.suggest.qianniu import to_toml

    result = import_rows([HEADER, *ROWS], shipped_matcher)
    data = tomllib.loads(to_toml(result, "q.csv"))
    assert [p["code"] for p in data["phrase"]][:2] == ["在的", "面料"]
    library = Library.build([("q.toml", data)])
    assert len({p.id for p in library.phrases}) == len(library.phrases)


def test_cli_import_into_a_layer_replaces_demo_codes_and_reports_every_row(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = gbk_csv(shop / "q.csv", [TITLE, HEADER, *ROWS, ["物流", "hy1", "亲，今天下单今天就给您发出哦"]])
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(source), "--out", str(out), "--dry-run") == 1
    err = capsys.readouterr().err
    assert not out.exists()
    assert "第 3 行：在的 → greeting（问候，依据文本" in err
    assert "第 10 行：未导入" in err and "替换演示话术 greeting." in err
    assert "试运行：导入 8 条话术，1 行未导入；未写入任何文件" in err

    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 1  # the short row is left out
    library = Library.load([ROOT / "phrases", shop / "shop"])
    hy1 = [p for p in library.phrases if p.code == "hy1"]
    assert [(p.file, p.text) for p in hy1] == [("shop/qianniu.toml", "亲，今天下单今天就给您发出哦")]
    assert Matcher(library).suggest("这件什么时候发货")  # the layered library serves


def test_cli_import_to_stdout_reports_collisions_with_the_shipped_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = gbk_csv(tmp_path / "q.csv", [HEADER, ["物流", "hy1", "亲，今天下单今天就给您发出哦"]])
    assert main(["phrases", "import", str(source), "--config", str(ROOT / "config.toml")]) == 1
    captured = capsys.readouterr()
    assert "编码 'hy1' 已被话术 greeting." in captured.err
    assert "导入 0 条话术，1 行未导入" in captured.err


def test_cli_reimport_needs_replace_and_round_trips(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [HEADER, *ROWS[:-1]]
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(gbk_csv(shop / "v1.csv", rows)), "--out", str(out)) == 0
    first = out.read_text(encoding="utf-8")
    updated = [*rows[:-1], ["售后", "坏了", "亲，破损的话拍张照片给我，马上为您补发一件"]]
    v2 = gbk_csv(shop / "v2.csv", updated)
    assert run(shop, "phrases", "import", str(v2), "--out", str(out)) == 1
    assert "已存在：用 --replace 更新之前的导入" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == first  # untouched
    assert run(shop, "phrases", "import", str(v2), "--out", str(out), "--replace") == 0
    assert "马上为您补发一件" in out.read_text(encoding="utf-8")
    assert "补发或者退款" not in out.read_text(encoding="utf-8")

    for suffix in (".csv", ".xlsx"):
        a, b = shop / f"a{suffix}", shop / f"b{suffix}"
        assert run(shop, "phrases", "export", "--file", str(out), "--out", str(a)) == 0
        assert read_table(a) == updated
        assert run(shop, "phrases", "import", str(a), "--out", str(out), "--replace") == 0
        assert run(shop, "phrases", "export", "--file", str(out), "--out", str(b)) == 0
        assert read_table(a) == read_table(b)
        if suffix == ".csv":
            assert a.read_bytes() == b.read_bytes()


def test_cli_reimport_keeps_what_the_engineer_made_of_a_phrase(shop: Path) -> None:
    # The imported file asks for its guessed triggers to be reviewed; a re-import threw the review away.
    rows = [HEADER, *ROWS[:-1]]
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(gbk_csv(shop / "v1.csv", rows)), "--out", str(out)) == 0
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    edited, changed = data["phrase"][0], data["phrase"][1]
    edited.update(id=edited["intent"] + ".our_own", triggers=["在不在", "有人吗"], types=["impatient"], goods=["水果"])
    out.write_text(tomli_w.dumps(data), encoding="utf-8-sig")  # as Windows Notepad saves it: with a byte-order mark
    updated = [r if r[1] != changed["code"] else [r[0], r[1], r[2] + "，欢迎再来"] for r in rows]
    assert run(shop, "phrases", "import", str(gbk_csv(shop / "v2.csv", updated)), "--out", str(out), "--replace") == 0
    again = {p["code"]: p for p in tomllib.loads(out.read_text(encoding="utf-8"))["phrase"]}
    kept = again[edited["code"]]
    assert (kept["id"], kept["triggers"], kept["types"]) == (edited["id"], ["在不在", "有人吗"], ["impatient"])
    assert kept["goods"] == ["水果"]
    assert again[changed["code"]]["text"].endswith("欢迎再来")  # its words changed: guessed afresh
    assert "types" not in again[changed["code"]] and "goods" not in again[changed["code"]]


def test_cli_reimport_repairs_a_broken_file_and_says_nothing_of_it_is_kept(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The file an earlier --out wrote, broken by a hand edit in the shop's layer: the library refused to load, so
    # the --replace that should rewrite it refused too, and nothing but a hand repair could fix it.
    out = shop / "shop" / "qianniu.toml"
    source = gbk_csv(shop / "v1.csv", [HEADER, *ROWS[:2]])
    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 0
    out.write_text(out.read_text(encoding="utf-8") + "[[phrase]\n", encoding="utf-8")
    capsys.readouterr()
    assert run(shop, "phrases", "import", str(source), "--out", str(out), "--replace") == 0
    err = capsys.readouterr().err
    assert "qianniu.toml" in err and "无法读取" in err and "Traceback" not in err
    assert {p["code"] for p in tomllib.loads(out.read_text(encoding="utf-8"))["phrase"]} == {r[1] for r in ROWS[:2]}
    assert [f.name for f in (shop / "shop").iterdir()] == ["qianniu.toml"]  # no temporary file left beside it
    assert run(shop, "phrases", "check") == 0


def test_cli_reimport_over_a_broken_file_outside_the_layers_rewrites_it(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = shop / "elsewhere.toml"  # outside the library's directories: only the re-import reads it
    out.write_text("[[phrase]\n", encoding="utf-8")
    source = gbk_csv(shop / "v1.csv", [HEADER, *ROWS[:2]])
    assert run(shop, "phrases", "import", str(source), "--out", str(out), "--replace") == 0
    err = capsys.readouterr().err
    assert "elsewhere.toml" in err and "Traceback" not in err
    assert len(tomllib.loads(out.read_text(encoding="utf-8"))["phrase"]) == 2


def test_cli_import_leaves_the_out_file_as_it_was_when_the_write_fails(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = shop / "shop" / "qianniu.toml"
    source = gbk_csv(shop / "v1.csv", [HEADER, *ROWS[:2]])
    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 0
    before = out.read_text(encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:  # the disk fills up halfway through the new text
        patch.setattr(Path, "write_text", _half_written)
        assert run(shop, "phrases", "import", str(source), "--out", str(out), "--replace") == 1
    err = capsys.readouterr().err
    assert "qianniu.toml" in err and "Traceback" not in err
    assert out.read_text(encoding="utf-8") == before
    assert [f.name for f in (shop / "shop").iterdir()] == ["qianniu.toml"]


def _half_written(self: Path, text: str, encoding: str | None = None) -> int:
    with self.open("w", encoding=encoding) as f:
        f.write(text[: len(text) // 2])
    raise OSError(28, "No space left on device", str(self))


def test_library_without_the_demo_phrases_keeps_the_vocabulary(shop: Path) -> None:
    source = gbk_csv(shop / "q.csv", [HEADER, *ROWS[:-1]])
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 0
    library = Library.load([ROOT / "phrases", shop / "shop"], include_demo=False)
    assert {p.code for p in library.phrases} == {r[1] for r in ROWS[:-1]}
    assert "greeting" in library.intents and library.customer_types
    assert Matcher(library).suggest("什么时候发货")[0].code == "发货"


@pytest.mark.parametrize("name", ["q.csv", "q.txt"])
def test_import_reads_a_tab_separated_export_like_a_comma_separated_one(
    shipped_matcher: Matcher, tmp_path: Path, name: str
) -> None:
    # Excel's 文本文件(制表符分隔): GBK, tabs, the title row padded with empty cells.
    rows = [
        TITLE,
        ["导出时间：2025-11-02 10:21", "", ""],
        HEADER,
        *ROWS,
        ["物流", "逗号", "亲，满199包邮, 偏远地区除外"],
    ]
    with (tmp_path / name).open("w", encoding="gbk", newline="") as f:
        csv.writer(f, delimiter="\t").writerows(rows)
    assert read_table(tmp_path / name) == read_table(gbk_csv(tmp_path / "comma.csv", rows)) == rows
    result = import_rows(read_table(tmp_path / name), shipped_matcher)
    assert {p.code: p.intent for p in result.phrases}.items() >= EXPECTED.items()
    assert all("\t" not in p.text and p.group in {"售前咨询", "物流", "售后"} for p in result.phrases)


def test_import_refuses_a_one_column_header_over_rows_holding_tabs(shipped_matcher: Matcher, tmp_path: Path) -> None:
    # Tab-separated lines pasted into the first column of a sheet: the title is the only "header" left.
    lines = ["\t".join(row) for row in [HEADER, *ROWS]]
    path = xlsx(tmp_path / "pasted.xlsx", [["千牛快捷短语导出"], *[[line] for line in lines]])
    with pytest.raises(TableError, match="第 1 行.*第 2 行"):
        import_rows(read_table(path), shipped_matcher)


def test_import_takes_a_text_under_two_groups_once_and_says_so(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = "亲，下午4点前付款当天发货哦~"
    rows = [HEADER, ["物流", "wl9", same], ["售前咨询", "", same], ["售后", "dd", same], *ROWS[:2]]
    source = gbk_csv(shop / "q.csv", rows)
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 0  # nothing left out
    err = capsys.readouterr().err
    assert "第 3 行：注意：与第 2 行内容相同：只导入一次（分组「物流」的 wl9）" in err
    assert "第 4 行：注意：与第 2 行内容相同" in err
    assert "导入 3 条话术，0 行未导入；2 条提醒（见上）" in err
    phrases = tomllib.loads(out.read_text(encoding="utf-8"))["phrase"]
    assert [p["text"] for p in phrases].count(same) == 1


def test_import_says_images_are_not_imported(shipped_matcher: Matcher, tmp_path: Path) -> None:
    url = "https://img.alicdn.com/imgextra/i3/size_chart.png"
    rows = [
        ["分组名称", "快捷编码", "短语内容", "图片"],
        ["售后", "sh1", "亲，退货地址请看下图哦，寄回时请备注订单号", url],
        ["尺码", "cmb", "", url],
        ["售后", "zl", "[图片]", ""],
        ["售后", "sh2", "亲，退货地址请看下图哦，寄回时请备注订单号", url],
        ["售后", "sh3", "好", url],
    ]
    result = import_rows(read_table(xlsx(tmp_path / "img.xlsx", rows)), shipped_matcher)
    assert [(p.code, p.text) for p in result.phrases] == [("sh1", rows[1][2])]
    reasons = {s.row: s.reason for s in result.skipped}
    assert reasons[3] == reasons[4] == "只有图片：不支持图片，只导入文字"
    assert "太短" in reasons[6]  # left out for its text: no word about its image
    notes = [(note.row, note.message) for note in result.notes]
    assert (2, "图片未导入（不支持图片）：只导入了文字") in notes and (
        5,
        "图片未导入（不支持图片）：只导入了文字",
    ) in notes
    assert [row for row, _m in notes] == [2, 5, 5]  # row 5 is also row 2's text


LITERAL = [  # Qianniu phrases are plain text: none of this is a template
    "亲，下单时备注暗号{#双11#}即可领取小礼物，发货时一起寄出哦",
    "亲，双11活动{{ 满300减50 }}，活动时间11.1-11.11",
    "亲，下单备注{%暗号%}可以领取小礼物哦",
    "亲~{{{(>_<)}}} 小店满199减20，可以叠加平台优惠券哦",
    "亲，优惠码是{% raw %}{{暗号}}{% endraw %}，满199减20哦",
    "亲，{{ shop }}的满199减20活动可以叠加优惠券",
    # Jinja ends a raw block at `{%+ endraw %}` and `{% endraw +%}` too: the text after one must stay text.
    "亲，暗号{%+ endraw %}{{ shop }}{% raw %}满199减20哦",
    "亲，暗号{% endraw +%}{{ service_hours }}{%+endraw-%}满199减20哦",
]


def test_import_takes_qianniu_text_as_written(shop: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [HEADER, *[["活动", f"t{n}", text] for n, text in enumerate(LITERAL, 1)]]
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(gbk_csv(shop / "q.csv", rows)), "--out", str(out)) == 0
    err = capsys.readouterr().err
    assert "第 7 行：注意：{{ shop }} 按原样保留，不会被替换" in err
    assert "第 8 行：注意：{{ shop }} 按原样保留，不会被替换" in err
    library = Library.load([ROOT / "phrases", shop / "shop"], include_demo=False)
    assert [library.render(p.id) for p in library.phrases] == LITERAL
    texts = [s.text for s in Matcher(library).suggest("满减能叠加优惠券吗")]
    assert set(texts) <= set(LITERAL) and any("{{" in t for t in texts)  # suggested as written

    a, b = shop / "a.csv", shop / "b.csv"  # export gives the table back; a round trip keeps it
    assert run(shop, "phrases", "export", "--file", str(out), "--out", str(a)) == 0
    assert read_table(a) == rows
    assert run(shop, "phrases", "import", str(a), "--out", str(out), "--replace") == 0
    assert run(shop, "phrases", "export", "--file", str(out), "--out", str(b)) == 0
    assert a.read_bytes() == b.read_bytes()


def test_import_files_a_shops_reminders_and_closings_under_the_assistants_intents(shipped_matcher: Matcher) -> None:
    rows = [
        HEADER,
        ["催付", "cfx1", "亲，您拍下的宝贝还没有付款哦，库存紧张，付款后我们马上为您安排发货~"],
        ["payment_reminder", "cfx3", "亲，宝贝给您留着呢，方便的时候付一下款哦"],
        ["结束语", "jsx1", "亲，感谢您的光临，有问题随时联系我们哦，祝您生活愉快~"],
        ["售前", "cfx2", "亲，订单即将自动关闭，喜欢的话记得尽快付款哦"],  # a 催付 without its group
    ]
    result = import_rows(rows, shipped_matcher)
    decided = {p.code: (p.intent, p.source) for p in result.phrases}
    assert decided == {
        "cfx1": ("payment_reminder", "group"),
        "cfx3": ("payment_reminder", "group"),
        "jsx1": ("followup", "group"),
    }
    [refused] = result.skipped
    assert refused.row == 5 and "催付" in refused.reason and "payment_reminder" in refused.reason


def test_import_reads_a_return_address_as_returns_and_emoticon_codes_as_nothing(shipped_matcher: Matcher) -> None:
    address = "亲，退货请寄到：浙江省杭州市余杭区某某路88号，收件人王先生，电话：13800138000，请勿到付哦"
    welcome = "亲，您好，欢迎光临本店，有什么需要随时叫我哦"
    rows = [
        HEADER,
        ["售后", "退货地址", address],
        ["欢迎", "h1", welcome + "[微笑]"],
        ["欢迎", "h2", welcome + " ❤ [握手]"],
    ]
    result = import_rows(rows, shipped_matcher)
    assert not result.skipped
    assert {p.code: p.intent for p in result.phrases} == {
        "退货地址": "return_exchange",
        "h1": "greeting",
        "h2": "greeting",
    }


def test_cli_import_says_when_a_demo_phrase_of_another_intent_is_replaced(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = gbk_csv(
        shop / "q.csv", [HEADER, ["售后", "js2", "亲，感谢您的支持，期待您的再次光临，祝您购物愉快 [玫瑰]"]]
    )
    assert run(shop, "phrases", "import", str(source), "--out", str(shop / "shop" / "q.toml"), "--dry-run") == 0
    err = capsys.readouterr().err
    assert "js2 → thanks_bye" in err and "替换演示话术 followup.favorite（跟进回访话术：followup 少一条话术）" in err


def test_import_refuses_a_row_with_more_cells_than_the_header(shipped_matcher: Matcher, tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text(
        "分组,快捷编码,快捷短语\n"
        "物流,zq1,亲，我们默认发中通快递,偏远地区发邮政哦,顺丰需要补差价10元~\n"
        "物流,zq2,亲，顺丰需要补差价10元，下单备注就可以哦\n",
        encoding="utf-8",
    )
    result = import_rows(read_table(path), shipped_matcher)
    assert [p.code for p in result.phrases] == ["zq2"]
    [refused] = result.skipped
    assert refused.row == 2 and "'偏远地区发邮政哦'" in refused.reason and "'顺丰需要补差价10元~'" in refused.reason


def test_import_takes_a_picture_out_of_a_text_and_says_so(shipped_matcher: Matcher) -> None:
    rows = [
        HEADER,
        ["售后", "tt9", "亲，退换货流程请看这张图 [图片] 按步骤操作就可以啦，有问题随时问我哦"],
        ["售后", "tt8", "亲，退换货流程请看这张图[图片]"],
    ]
    result = import_rows(rows, shipped_matcher)
    assert [p.text for p in result.phrases] == [
        "亲，退换货流程请看这张图 按步骤操作就可以啦，有问题随时问我哦",
        "亲，退换货流程请看这张图",
    ]
    assert [n.row for n in result.notes] == [2, 3] and all("[图片]" in n.message for n in result.notes)


def test_import_keeps_the_shops_code_for_a_text_and_says_when_a_code_is_made(shipped_matcher: Matcher) -> None:
    text = "亲，这款现在有现货的哦，今天下单今天就能发出，放心拍~"
    rows = [
        HEADER,
        ["售前", "   ", text],
        ["售前", "kc9x", text],
        ["售前", "", "亲，这款是全棉面料，吸汗透气，贴身穿也很舒服的哦"],
    ]
    result = import_rows(rows, shipped_matcher, taken={})
    assert [(p.code, p.row) for p in result.phrases] == [("kc9x", 3), ("cp1", 4)]  # cp: the library's product_info
    assert [(n.row, "第 3 行" in n.message or "生成了编码 cp1" in n.message) for n in result.notes] == [
        (2, True),
        (4, True),
    ]


def test_import_takes_the_phrase_column_beside_a_column_of_the_shops_own(shipped_matcher: Matcher) -> None:
    rows = [["内容", "备注"], ["亲，我们默认发中通快递，偏远地区发邮政哦~", "常用"]]
    [phrase] = import_rows(rows, shipped_matcher).phrases
    assert phrase.text == "亲，我们默认发中通快递，偏远地区发邮政哦~"


def test_read_table_finds_the_phrases_on_a_later_sheet_and_names_the_sheets_read(tmp_path: Path) -> None:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["本表由千牛导出"])
    phrases = book.create_sheet("快捷短语")
    for row in [HEADER, ROWS[0]]:
        phrases.append(row)
    book.save(tmp_path / "multi.xlsx")
    assert read_table(tmp_path / "multi.xlsx")[1] == ROWS[0]
    del book["快捷短语"]
    book.save(tmp_path / "notes.xlsx")
    with pytest.raises(TableError, match="说明"):
        read_table(tmp_path / "notes.xlsx")


def test_cli_import_refuses_an_out_file_the_library_cannot_read_and_warns_outside_the_layers(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = gbk_csv(shop / "q.csv", [HEADER, ROWS[3]])
    assert run(shop, "phrases", "import", str(source), "--out", str(shop / "shop" / "q.csv")) == 1
    assert "只读取 .toml 文件" in capsys.readouterr().err and not (shop / "shop" / "q.csv").exists()
    assert run(shop, "phrases", "import", str(source), "--out", str(shop / "elsewhere" / "q.toml")) == 0
    assert "不在 [phrases] path 的任何目录中" in capsys.readouterr().err
    assert run(shop, "phrases", "import", str(source), "--out", str(shop / "shop" / "q.toml")) == 0
    assert "注意" not in capsys.readouterr().err


def test_a_phrase_starting_like_a_formula_survives_export_and_reimport(shop: Path) -> None:
    # A CSV export guards such a text with "'" (formula injection); a re-import used to keep the "'" in the
    # phrase, and every agent then sent "'+1元换购…" to buyers. The workbook keeps the text as it is.
    from openpyxl import load_workbook

    texts = [
        "+1元换购同款袜子一双哦亲",
        "-----活动说明-----",
        "=亲，这款今天就能发出哦",
        "@亲 在的呢，请问有什么可以帮您",
    ]
    rows = [HEADER, *(["售前", f"f{n}", t] for n, t in enumerate(texts))]
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(gbk_csv(shop / "v1.csv", rows)), "--out", str(out)) == 0
    for suffix in (".csv", ".xlsx"):
        exported = shop / f"e{suffix}"
        assert run(shop, "phrases", "export", "--file", str(out), "--out", str(exported)) == 0
        assert run(shop, "phrases", "import", str(exported), "--out", str(out), "--replace") == 0
        library = Library.load([ROOT / "phrases", shop / "shop"], include_demo=False)
        assert [library.render(p.id) for p in library.phrases] == texts, suffix
    csv_text = (shop / "e.csv").read_text(encoding="utf-8-sig")
    assert "'+1元换购" in csv_text and "'=亲" in csv_text  # Excel opening the CSV computes nothing
    sheet = load_workbook(shop / "e.xlsx").active
    assert sheet is not None
    cells = [row[2] for row in sheet.iter_rows(min_row=2)]
    assert [c.value for c in cells] == texts
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)  # text, as Excel's own '= makes it


def test_a_reimport_files_a_reminder_under_its_group_whatever_an_earlier_import_made_of_it(shop: Path) -> None:
    # An older release filed a 催付 row as shipping_time; --replace kept that "review", so buyers asking whether an
    # afternoon payment ships today got the shop's payment nag as the first suggestion.
    rows = [HEADER, ["催付", "cf1", "亲，您的订单还没付款哦，今天下午四点前付款当天就能发出~"], ROWS[3]]
    out = shop / "shop" / "qianniu.toml"
    csv_file = gbk_csv(shop / "q.csv", rows)
    assert run(shop, "phrases", "import", str(csv_file), "--out", str(out)) == 0
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    for phrase in data["phrase"]:  # as the older release wrote it
        if phrase["code"] == "cf1":
            phrase.update(id="shipping_time.imported_cf1", intent="shipping_time", triggers=["下午付款当天发吗"])
    out.write_text(tomli_w.dumps(data), encoding="utf-8")
    assert run(shop, "phrases", "import", str(csv_file), "--out", str(out), "--replace") == 0
    again = {p["code"]: p for p in tomllib.loads(out.read_text(encoding="utf-8"))["phrase"]}
    assert again["cf1"]["intent"] == "payment_reminder" and again["cf1"]["id"] == "payment_reminder.imported_cf1"
    assert again["发货"]["intent"] == "shipping_time"  # a row its text decided keeps the earlier review


def test_export_of_a_file_names_the_phrases_whose_templates_qianniu_would_send_as_written(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `export --file` writes templates as written (for the round trip): uploaded to Qianniu, the buyer read
    # "亲，{{ shop }}下午4点前…", and nothing said so.
    (shop / "shop" / "own.toml").write_text(
        'group = "发货"\n[[phrase]]\nid = "shipping_time.own"\nintent = "shipping_time"\ncode = "fh1"\n'
        'text = "亲，{{ shop }}下午4点前付款当天发货哦~"\ntriggers = ["今天能发吗"]\n'
        '[[phrase]]\nid = "promotion.own"\nintent = "promotion"\ncode = "hd1"\n'
        'text = "{% raw %}亲，{{ 满300减50 }}活动进行中{% endraw %}"\ntriggers = ["活动"]\n',
        encoding="utf-8",
    )
    out = shop / "q.xlsx"
    assert run(shop, "phrases", "export", "--file", str(shop / "shop" / "own.toml"), "--out", str(out)) == 0
    assert read_table(out)[1:] == [
        ["发货", "fh1", "亲，{{ shop }}下午4点前付款当天发货哦~"],
        ["发货", "hd1", "亲，{{ 满300减50 }}活动进行中"],
    ]
    assert capsys.readouterr().err.splitlines()[0] == (
        "注意：1 条话术保留了模板原文（fh1）：千牛会原样发给买家；上传表格之前请先把变量填好（不加 --file 和 --raw"
        " 导出时，共享话术库的变量会自动填好）"
    )


def test_cli_dry_run_over_an_existing_file_says_what_the_import_would(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Found: a dry run over a file imported before, without --replace, listed every row as refused for a code
    # "already taken" by that file's own phrase, exit 1, where the import itself refuses at once to touch the file.
    source = gbk_csv(shop / "q.csv", [HEADER, *ROWS[:2]])
    out = shop / "shop" / "qianniu.toml"
    assert run(shop, "phrases", "import", str(source), "--out", str(out)) == 0
    written = out.read_bytes()
    capsys.readouterr()
    assert run(shop, "phrases", "import", str(source), "--out", str(out), "--dry-run") == 1
    said = capsys.readouterr().err
    assert said.strip() == f"assistant: {out} 已存在：用 --replace 更新之前的导入"
    assert run(shop, "phrases", "import", str(source), "--out", str(out), "--dry-run", "--replace") == 0
    assert "试运行：导入 2 条话术，0 行未导入；未写入任何文件" in capsys.readouterr().err
    assert out.read_bytes() == written


def test_a_workbook_opening_on_instructions_that_name_the_phrase_column_is_read_from_its_phrases(
    tmp_path: Path,
) -> None:
    # Found: a 说明 sheet whose one line named the phrase column (这是千牛导出的快捷短语) was read as a one-column
    # table without a phrase: "导入 0 条话术，0 行未导入", exit 0, and the sheet of phrases after it never read.
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "说明"
    notes.append(["这是千牛导出的快捷短语，请勿修改表头"])
    phrases = book.create_sheet("短语")
    for row in [HEADER, *ROWS[:2]]:
        phrases.append(row)
    book.save(tmp_path / "q.xlsx")
    assert read_table(tmp_path / "q.xlsx")[1:] == ROWS[:2]
