"""Loading, validating and rendering the quick-phrase library."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from assistant.cli import main
from assistant.config import load_config
from assistant.qa.inspector import load_inspector
from assistant.suggest.matcher import Context, Matcher
from assistant.suggest.phrases import (
    INTENTS,
    MAX_VARIABLE_CHARS,
    TYPE_IDS,
    Library,
    LibraryError,
    Problem,
    check_template,
    make_environment,
)
from assistant.suggest.vocabulary import ASSISTANT_INTENTS

ROOT = Path(__file__).resolve().parent.parent


def phrase(**fields: Any) -> dict[str, Any]:
    """A valid phrase table; keyword arguments override fields."""
    base: dict[str, Any] = {
        "id": "shipping_time.today",
        "intent": "shipping_time",
        "code": "fh1",
        "text": "亲，下午4点前付款当天发出哦~{{ shop }}",
        "triggers": ["什么时候发货", "多久能发"],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def build(*phrases: dict[str, Any], **kwargs: Any) -> Library:
    return Library.build([("test.toml", {"group": "测试", "phrase": list(phrases)})], **kwargs)


def problems_of(*phrases: dict[str, Any], **kwargs: Any) -> list[Problem]:
    with pytest.raises(LibraryError) as info:
        build(*phrases, **kwargs)
    return list(info.value.problems)


def reasons(problems: list[Problem]) -> str:
    return " | ".join(p.reason for p in problems)


def test_library_builds_from_valid_phrases() -> None:
    library = build(phrase())
    assert [p.id for p in library.phrases] == ["shipping_time.today"]
    p = library.by_id["shipping_time.today"]
    assert (p.group, p.file, p.triggers) == ("测试", "test.toml", ("什么时候发货", "多久能发"))


def test_render_uses_defaults_then_given_variables() -> None:
    library = build(phrase(), extra_variables={"shop": "小米旗舰店"})
    assert library.render("shipping_time.today") == "亲，下午4点前付款当天发出哦~小米旗舰店"
    assert library.render("shipping_time.today", {"shop": "别家"}) == "亲，下午4点前付款当天发出哦~别家"
    assert library.render("shipping_time.today", {"shop": ""}) == "亲，下午4点前付款当天发出哦~小米旗舰店"


def test_render_remembers_each_variables_own_text() -> None:
    library = build(phrase(), extra_variables={"shop": "小米旗舰店"})
    for _ in range(2):  # the second pass reads what the first remembered
        assert library.render("shipping_time.today", {"shop": "甲店"}) == "亲，下午4点前付款当天发出哦~甲店"
        assert library.render("shipping_time.today", {"shop": "乙店"}) == "亲，下午4点前付款当天发出哦~乙店"
        assert library.render("shipping_time.today") == "亲，下午4点前付款当天发出哦~小米旗舰店"
    odd = {"shop": {"not": "hashable"}}  # rendered each time, never remembered
    assert library.render("shipping_time.today", odd) == "亲，下午4点前付款当天发出哦~{'not': 'hashable'}"  # type: ignore[arg-type]


def test_extra_variables_from_config_are_allowed() -> None:
    library = build(phrase(text="亲，{{ warehouse }}仓库今天发出"), extra_variables={"warehouse": "杭州"})
    assert library.render("shipping_time.today") == "亲，杭州仓库今天发出"


def test_unknown_variable_is_rejected_with_file_id_and_reason() -> None:
    problems = problems_of(phrase(text="亲，{{ coupon_code }}可以用哦"))
    known = "agent、amount、customer、item、order、product、shop"  # the line says which there are: it said none
    assert problems == [Problem("test.toml", "shipping_time.today", f"未知变量 'coupon_code'（可用的变量：{known}）")]


def test_misspelt_variable_is_shown_the_variable_it_resembles() -> None:
    problems = problems_of(phrase(text="亲，欢迎光临{{ shopp }}，{{ customar }}"))
    assert reasons(problems) == "未知变量 'customar'（是不是 'customer'？） | 未知变量 'shopp'（是不是 'shop'？）"


@pytest.mark.parametrize(
    ("text", "construct"),
    [("亲{% for x in shop %}{{ x }}{% endfor %}你好", "{% for %}"), ("亲{{ shop() }}你好呀", "…()")],
)
def test_unsafe_construct_is_named_as_written_with_what_is_allowed(text: str, construct: str) -> None:
    # The line named Jinja's node class ("不安全的模板写法：For", "Call") and not what a template may use instead.
    allowed = "模板里只能用变量、{% if %} … {% endif %} 和过滤器 default、lower、replace、string、trim、truncate、upper"
    assert f"不安全的模板写法：{construct}（{allowed}）" in [p.reason for p in problems_of(phrase(text=text))]


@pytest.mark.parametrize(
    "text",
    [
        "亲{{ shop.__class__ }}你好呀",
        "亲{{ ''.__class__.__mro__ }}你好呀",
        "亲{% for x in range(10) %}{{ x }}{% endfor %}",
        "亲{{ shop|attr('upper') }}你好呀",
        "亲{% set shop = 'x' %}{{ shop }}你好",
        "亲{{ shop() }}你好呀",
        "亲{% include 'x' %}你好呀",
    ],
)
def test_unsafe_template_constructs_are_rejected(text: str) -> None:
    problems = problems_of(phrase(text=text))
    assert problems and all(p.phrase_id == "shipping_time.today" for p in problems)
    assert "不安全的模板" in reasons(problems) or "未知变量" in reasons(problems)


@pytest.mark.parametrize("name", ["lipsum", "cycler", "joiner", "namespace", "range", "dict"])
def test_jinja_globals_are_unknown_variables_at_check_and_at_render(name: str) -> None:
    problems = problems_of(phrase(text=f"亲，退款{{{{ {name} }}}}已经处理好了哦"))
    assert [p.reason.split("（")[0] for p in problems] == [f"未知变量 '{name}'"]
    with pytest.raises(UndefinedError):  # the environment phrases render in has no such name either
        make_environment().from_string(f"{{{{ {name} }}}}").render()


def test_template_syntax_error_is_rejected() -> None:
    assert "模板语法错误：" in reasons(problems_of(phrase(text="亲{{ shop 发货啦")))


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('亲，{{ shop | replace("本") }}欢迎光临', '无法渲染：过滤器的参数写错了：应写成 replace("旧", "新")'),
        ('亲，{{ item.title | truncate("十") }}欢迎光临', "无法渲染：过滤器的参数写错了：应写成 truncate(20)"),
    ],
)
def test_a_filter_given_the_wrong_arguments_is_shown_how_it_is_written(text: str, said: str) -> None:
    # Found: "无法渲染：_bounded_replace() missing 1 required positional argument: 'new'", a function of ours in
    # Python's English, and for truncate("十") a hint that the item may lack an attribute.
    assert reasons(problems_of(phrase(text=text))) == said


def test_simple_conditions_and_filters_are_allowed() -> None:
    library = build(phrase(text="亲{% if customer %}，{{ customer|trim }}{% endif %}，今天发出"))
    assert library.render("shipping_time.today", {"customer": " 小王 "}) == "亲，小王，今天发出"


def test_duplicate_ids_and_codes_are_rejected() -> None:
    problems = problems_of(phrase(), phrase(code="fh2"), phrase(id="other", code="FH1"))
    assert [p.reason for p in problems] == [
        "id 重复（test.toml 里也有）：每条话术要有自己的 id",  # the file of the other: it said "id 重复" alone
        "编码 'FH1' 重复（shipping_time.today 也用了它）",
    ]


def test_duplicate_id_names_the_file_that_has_it_first() -> None:
    library = [
        ("presale.toml", {"group": "售前", "phrase": [phrase()]}),
        ("own.toml", {"group": "店铺", "phrase": [phrase(code="zz9")]}),
    ]
    with pytest.raises(LibraryError) as refused:
        Library.build(library)
    assert [(p.file, p.reason) for p in refused.value.problems] == [
        ("own.toml", "id 重复（presale.toml 里也有）：每条话术要有自己的 id")
    ]


def test_unknown_intent_and_type_are_rejected() -> None:
    text = reasons(problems_of(phrase(intent="weather", types=["grumpy"])))
    assert "未知意图 'weather'" in text
    assert "未知顾客类型 'grumpy'" in text


def test_text_shorter_than_four_characters_without_variables_is_rejected() -> None:
    assert "内容太短：不算变量只有 2 个字（至少 4）" in reasons(problems_of(phrase(text="好的{{ shop }}")))


def test_product_answers_need_fifteen_characters() -> None:
    problems = problems_of(phrase(intent="stock", text="亲，有货的哦，放心拍吧"))
    assert "商品问题的回答太短" in reasons(problems)
    build(phrase(intent="stock", text="亲，这款目前有现货的哦，今天下单今天就能发出"))


def test_unreachable_phrase_is_rejected() -> None:
    assert "没有能触发它的触发词" in reasons(problems_of(phrase(triggers=[])))
    assert "没有能触发它的触发词" in reasons(problems_of(phrase(triggers=["？？", "😀"])))


def test_goods_is_a_list_of_words_and_leaves_each_intent_a_phrase_for_all_goods() -> None:
    fruit = phrase(id="shipping_time.fruit", code="fh9", goods=["水果", "生鲜"])
    assert build(phrase(), fruit).by_id["shipping_time.fruit"].goods == ("水果", "生鲜")
    assert "'goods' 必须是字符串列表" in reasons(problems_of(phrase(goods="水果")))
    assert "'goods' 里有一个词规范化后为空" in reasons(problems_of(phrase(goods=["水果", "？！"])))
    alone = problems_of(fruit)
    assert [p.phrase_id for p in alone] == ["shipping_time.fruit"]
    assert "意图 shipping_time 的每条话术都写了 'goods'" in reasons(alone)


def test_assistant_intents_need_no_triggers() -> None:
    library = build(phrase(intent="followup", triggers=[], text="亲，刚才的问题还有疑问吗？"))
    assert library.phrases[0].intent == "followup"


def test_missing_fields_and_unknown_keys_are_reported() -> None:
    text = reasons(problems_of({"id": "x", "colour": "red"}))
    for expected in ("缺少 'intent'", "缺少 'code'", "缺少 'text'", "未知的键 'colour'"):
        assert expected in text


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(phrase(text="{{ nope }}"), phrase(id="b", code="b1", intent="nope"))
    assert {p.phrase_id for p in problems} == {"shipping_time.today", "b"}


def test_load_reports_invalid_toml_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[[phrase]\nid = ", encoding="utf-8")
    with pytest.raises(LibraryError) as info:
        Library.load(tmp_path)
    assert info.value.problems[0].file == "broken.toml"
    assert "不是有效的 TOML：" in info.value.problems[0].reason


def test_load_reads_phrase_intent_and_type_files(tmp_path: Path) -> None:
    (tmp_path / "shipping.toml").write_text(
        'group = "物流"\n[[phrase]]\nid = "a"\nintent = "shipping_time"\ncode = "a1"\n'
        'text = "亲，今天就能发出哦"\ntriggers = ["发货"]\n',
        encoding="utf-8",
    )
    (tmp_path / "intents.toml").write_text(
        '[intent.shipping_time]\nlabel = "发货"\nkeywords = ["发货"]\n[synonyms]\nfh = "发货"\n', encoding="utf-8"
    )
    (tmp_path / "customer_types.toml").write_text(
        '[[type]]\nid = "impatient"\nlabel = "性急"\ncues = ["快点"]\nscript = ["好的马上", "这就办"]\n',
        encoding="utf-8",
    )
    library = Library.load(tmp_path)
    assert library.intents["shipping_time"].keywords == ("发货",)
    assert library.customer_types["impatient"].cues == ("快点",)
    assert library.normalization.synonyms == {"fh": "发货"}


def test_load_reads_files_saved_with_a_byte_order_mark(tmp_path: Path) -> None:
    # Windows Notepad's "UTF-8 with BOM": every such file was "不是有效的 TOML：Invalid statement (at line 1, column 1)"
    (tmp_path / "shipping.toml").write_text(
        '[[phrase]]\nid = "a"\nintent = "shipping_time"\ncode = "a1"\ntext = "亲，今天就能发出哦"\ntriggers = ["发货"]\n',
        encoding="utf-8-sig",
    )
    (tmp_path / "intents.toml").write_text('[intent.shipping_time]\nkeywords = ["发货"]\n', encoding="utf-8-sig")
    (tmp_path / "customer_types.toml").write_text(
        '[[type]]\nid = "impatient"\nlabel = "性急"\ncues = ["快点"]\nscript = ["好的马上", "这就办"]\n',
        encoding="utf-8-sig",
    )
    library = Library.load(tmp_path)
    assert library.intents["shipping_time"].keywords == ("发货",)
    assert library.customer_types["impatient"].cues == ("快点",)
    assert [p.id for p in library.phrases] == ["a"]


def test_load_names_a_file_not_saved_as_utf8(tmp_path: Path) -> None:
    (tmp_path / "shipping.toml").write_bytes('[[phrase]]\nid = "a"\ntext = "亲，今天就能发出哦"\n'.encode("gbk"))
    with pytest.raises(LibraryError) as info:
        Library.load(tmp_path)
    assert info.value.problems[0].file == "shipping.toml"
    assert re.fullmatch(
        r"不是有效的 TOML：不是 UTF-8 文本（第 \d+ 个字节）：请把文件另存为 UTF-8 编码", info.value.problems[0].reason
    )


def test_load_rejects_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(LibraryError):
        Library.load(tmp_path / "nope")


def test_intents_file_problems_are_reported() -> None:
    intents = {"intent": {"weather": {"keywords": ["x"]}, "refund": {"patterns": ["("]}}, "extra": 1}
    text = reasons(problems_of(phrase(), intents_data=intents))
    assert "未知意图 'weather'" in text
    assert "正则表达式 '(' 有误" in text
    assert "未知的键 'extra'" in text


def test_customer_type_problems_are_reported() -> None:
    types = {"type": [{"id": "grumpy", "label": "x"}, {"id": "impatient", "label": "性急", "script": ["一句"]}]}
    text = reasons(problems_of(phrase(), types_data=types))
    assert "未知的顾客类型 id 'grumpy'" in text
    assert "至少需要 2 句话术" in text


def test_shipped_library_is_valid_and_complete() -> None:
    library = Library.load(ROOT / "phrases", {"shop": "测试店"})
    assert len(library.phrases) >= 220
    intents = {p.intent for p in library.phrases}
    assert intents == set(INTENTS)
    assert set(library.customer_types) == set(TYPE_IDS)
    for p in library.phrases:
        assert len(library.render(p.id)) >= 4


def test_shipped_intents_have_labels_and_key_words() -> None:
    library = Library.load(ROOT / "phrases")
    for intent in INTENTS:
        spec = library.intents[intent]
        assert spec.label != intent
        if intent not in ASSISTANT_INTENTS:  # chosen by the assistant, not read in a message
            assert len(spec.strong) + len(spec.keywords) >= 10, intent


def _run(argv: list[str]) -> int:
    return main(argv)


def test_phrases_check_exits_zero_on_the_shipped_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["phrases", "check", "--phrases", str(ROOT / "phrases"), "--config", str(ROOT / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "正常：" in out and "打分模型：scorer.npz 与话术库匹配" in out


def test_phrases_check_says_when_the_scorer_is_missing_or_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    shutil.copy(ROOT / "phrases" / "intents.toml", tmp_path / "intents.toml")
    args = ["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]
    assert _run(args) == 0
    assert "没有 scorer.npz" in capsys.readouterr().out
    shutil.copy(ROOT / "phrases" / "scorer.npz", tmp_path / "scorer.npz")
    assert _run(args) == 0
    assert "scorer.npz 是按另一版话术库训练的" in capsys.readouterr().out


def test_phrases_check_refuses_the_quality_rules_the_start_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine_qa.toml"
    mine.write_text("[[rule]\n", encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[phrases]\npath = "{ROOT / "phrases"}"\n[qa]\nrules = ["qa.toml", "{mine}"]\n', encoding="utf-8"
    )
    assert _run(["phrases", "check", "--config", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"{mine}：不是有效的 TOML：") and err[1:] == ["发现 1 个问题"]
    config.write_text(f'[phrases]\npath = "{ROOT / "phrases"}"\n[qa]\nalert_categories = ["rsik"]\n', encoding="utf-8")
    assert _run(["phrases", "check", "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "[qa] alert_categories：未知的 rsik（不是规则中的类别；可用的类别：ad_extreme、off_platform、promise、risk、rude、short）",
        "发现 1 个问题",
    ]


def test_phrases_check_refuses_the_catalog_answers_the_start_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[phrases]\npath = "{ROOT / "phrases"}"\n[catalog]\nfact_answer = "亲，这款{{{{ fact }}}}哦~"\n',
        encoding="utf-8",
    )
    assert _run(["phrases", "check", "--config", str(config)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "[catalog] fact_answer：未知变量 'fact'（是不是 'facts'？）",
        "发现 1 个问题",
    ]


def test_phrases_check_prints_each_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.toml").write_text(
        '[[phrase]]\nid = "x.one"\nintent = "refund"\ncode = "x1"\ntext = "{{ nope }}亲亲亲亲"\ntriggers = ["退款"]\n',
        encoding="utf-8",
    )
    assert _run(["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]) == 1
    err = capsys.readouterr().err
    assert "bad.toml:1\tx.one\t未知变量 'nope'" in err


def test_phrases_check_says_why_a_file_cannot_be_read_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.toml").mkdir()  # a folder named like a phrase file
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "x.tsv").mkdir()
    assert _run(["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "examples/x.tsv\t-\t无法读取：这是一个目录" in lines  # not "[Errno 21] Is a directory: '/…/x.tsv'"
    assert "mine.toml\t-\t无法读取：这是一个目录" in lines


def test_phrases_check_names_the_key_or_intent_a_misspelt_one_resembles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.toml").write_text(
        'grup = "本店"\n[[phrase]]\nid = "x.one"\nintent = "shiping_time"\ncode = "x1"\n'
        'text = "亲，我们的水果当天发货哦~"\ntriggers = ["今天发吗"]\ngood = ["水果"]\n',
        encoding="utf-8",
    )
    assert _run(["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert "mine.toml\t-\t未知的键 'grup'（是不是 'group'？）" in lines
    assert "mine.toml:2\tx.one\t未知的键 'good'（是不是 'goods'？）" in lines
    assert "mine.toml:2\tx.one\t未知意图 'shiping_time'（是不是 'shipping_time'？）" in lines


def test_phrases_check_speaks_chinese_about_the_library_and_its_companions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The engineer reads every problem in the interface language; files, ids and offending values stay verbatim.
    (tmp_path / "shipping.toml").write_text(
        '[[phrase]]\nid = "shipping_time.zz"\nintent = "shipping_time"\ncode = "zz"\n'
        'text = "亲，寄到{{ addr }}哦"\ntriggers = ["发货"]\ncolour = "red"\n',
        encoding="utf-8",
    )
    (tmp_path / "intents.toml").write_text('[questions]\nfallback = "weather"\n', encoding="utf-8")
    (tmp_path / "customer_types.toml").write_text('[[type]]\nid = "grumpy"\n', encoding="utf-8")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "x.tsv").write_text("weather\t今天天气\n", encoding="utf-8")
    assert _run(["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "examples/x.tsv\t1\t未知标签 'weather'",
        "intents.toml\tquestions\t未知的兜底意图 'weather'",
        "customer_types.toml\tgrumpy\t未知的顾客类型 id 'grumpy'",
        "shipping.toml:1\tshipping_time.zz\t未知的键 'colour'",
        "shipping.toml:1\tshipping_time.zz\t未知变量 'addr'（可用的变量：agent、amount、customer、item、order、product、service_hours、shop）",
        "发现 5 个问题",
    ]


MULTIPLYING = (
    '亲，{{ "哈哈哈哈哈哈哈哈哈哈"' + '|replace("哈", "哈哈哈哈哈哈哈哈哈哈")' * 8 + " }}"
)  # 10 → 10^9 characters


def test_phrases_check_refuses_a_template_that_can_multiply_its_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(MULTIPLYING) < 250
    library_file = tmp_path / "bad.toml"
    library_file.write_text(
        "[[phrase]]\n"
        'id = "x.big"\nintent = "refund"\ncode = "x1"\n'
        f"text = '''{MULTIPLYING}'''\n"
        'triggers = ["退款"]\n',
        encoding="utf-8",
    )
    assert _run(["phrases", "check", "--phrases", str(tmp_path), "--config", str(ROOT / "config.toml")]) == 1
    err = capsys.readouterr().err
    assert "x.big\t最多可能渲染出 1000000002 个字符（上限 2000）" in err


@pytest.mark.parametrize(
    "source",
    [
        '{{ "ab"|replace("", "xxxxxxxxxx") }}' * 1,
        '{{ customer|replace("a", "' + "b" * 30 + '") }}',
        "{{ shop|upper }}" * 10,
        "亲" * 2001,
    ],
)
def test_check_template_bounds_every_way_of_growing(source: str) -> None:
    env = make_environment()
    template, reasons = check_template(env, source, {"shop": "本店", "customer": "亲"})
    expected_ok = source.startswith('{{ "ab"')  # 2 + 3 × 10: small enough
    assert (template is not None) == expected_ok, reasons
    if not expected_ok:
        assert reasons and ("最多可能渲染出" in reasons[0] or "超过 2000 个字符" in reasons[0])


def test_sandbox_refuses_to_build_oversized_output_at_render_time() -> None:
    env = make_environment()
    with pytest.raises(SecurityError):
        env.from_string(MULTIPLYING).render()
    with pytest.raises(SecurityError):
        env.from_string('{{ "ab" * 100000 }}').render()
    with pytest.raises(SecurityError):
        env.from_string('{{ (["x"] * 1000)|join("yyy") }}').render()


def test_render_cuts_long_values_and_never_exceeds_the_bound() -> None:
    library = Library.build(
        [
            (
                "a.toml",
                {
                    "phrase": [
                        {
                            "id": "a.one",
                            "intent": "refund",
                            "code": "a1",
                            "text": "亲{{ customer }}，退款已处理",
                            "triggers": ["退款"],
                        }
                    ]
                },
            )
        ]
    )
    text = library.render("a.one", {"customer": "客" * 10_000})
    assert text == "亲" + "客" * MAX_VARIABLE_CHARS + "，退款已处理"


# Claims that are untrue in some shop or for some goods, or that say the agent did what nobody did: a talk
# track is shown for every buyer of its type, and a follow-up goes out unattended in mode `send`.
UNTRUE_CLAIMS = (
    "支持七天无理由",  # opened cosmetics, food, custom furniture and virtual goods have none
    "库存不多",
    "卖得",
    "特别多",
    "没货了",
    "数量有限",
    "先到先得",
    "送完即止",
    "有小赠品",
    "小礼物相送",
    "会员价",
    "老客福利",
    "支持花呗分期",
    "可以用花呗分期",
    "今天就能",
    "今天付款今天",
    "一分钟内",
    "有现货",
    "实拍图，您看",
    "资料截图，您",
    "恢复原价",
    "已经核对",
    "核对过了",
    "已经帮您",
    "已经备注",
    "留着优惠",
    "很难找到更划算",
    "首页有可以领的券",  # a coupon the shop may not have
    "高品质系列",
    "更高标准",
    "专属客服",
    "优先处理",
    "精心包装",
    "越来越明显",
    "新到的",
    "很适合您",
    "用得还满意",  # clothes are worn
    "别家便宜往往",  # runs down another shop's goods, unseen
    "添麻烦了真的很抱歉",  # an apology for a fault nobody made, shown to every demanding buyer
    "都记下了",  # a note nobody made, sent to a demanding buyer whose demand the agent may have refused
    "请仓库发货前",  # special handling the shop may not give
    "欢迎光临本店",  # talk tracks are not templates: a shop with a name is not 本店 to its buyers
    "需要加急的",  # a rush service the shop may not have
    "让您久等了",  # shown from a buyer's first message, before anyone waited
    "进货渠道和凭证",  # documents the shop may not hold
)


def test_shipped_talk_tracks_and_follow_ups_claim_nothing_untrue() -> None:
    library = Library.load(ROOT / "phrases")
    texts = [line for spec in library.customer_types.values() for line in (*spec.script, *spec.ordered_script)]
    texts += [p.text for p in library.phrases if p.intent in ASSISTANT_INTENTS]
    claims = [(claim, text) for text in texts for claim in UNTRUE_CLAIMS if claim in text]
    assert claims == []
    inspector = load_inspector(load_config(ROOT / "config.toml", env={}))
    assert [(text, flags) for text in texts if (flags := inspector.inspect(text, "agent"))] == []


def test_closings_and_payment_reminders_use_only_what_the_follow_up_knows() -> None:
    closing = phrase(id="followup.x3", intent="followup", code="jsx3", text="亲，{{ order }}感谢光临{{ shop }}")
    reminder = phrase(
        id="payment_reminder.x4",
        intent="payment_reminder",
        code="cfx4",
        text="亲，{{ product }}还没付款哦，{{ agent }}提醒您",
    )
    assert [(p.phrase_id, p.reason) for p in problems_of(closing, reminder)] == [
        ("followup.x3", "followup 话术只能使用 {{ agent }}、{{ customer }}、{{ shop }}，不能使用 {{ order }}"),
        (
            "payment_reminder.x4",
            "payment_reminder 话术只能使用 {{ agent }}、{{ amount }}、{{ customer }}、{{ order }}、{{ shop }}，不能使用 {{ product }}",
        ),
    ]
    build(
        phrase(id="payment_reminder.x5", intent="payment_reminder", code="cfx5", text="亲，{{ order }}共{{ amount }}元")
    )


# Suggestions an agent sends as they are (clothing buyers' first phrases): each claimed what no shipped phrase can
# know (docs/phrases.md, Style), a gift, an activity, a member price, a parcel signed for, a check nobody made.
SUGGESTION_CLAIMS = (
    "送完即止", "目前正在做活动", "现在有满减活动", "可以享受会员价", "申请一张小额", "热销款", "回头客很多",
    "都帮您核对过了", "已经签收啦", "收到您的身高体重", "最后一件", "赶得上今天的活动", "今天就会安排发货",
    "手感舒适",
    "平时穿的码数来选就可以", "平时穿的码数选就可以",  # a fit of its own, under an item's 偏小半码
    "下次可用的店铺券",
    # 七天无理由 promised for every kind of goods: opened cosmetics, food and virtual goods have none
    "本店支持七天无理由", "不影响二次销售的情况下支持七天无理由", "顾虑，收到不满意可以退换", "没关系~ 保持商品完好",
    # stock, an order, a date or an action nobody saw or did: the buyer may have no order at all
    "目前有现货", "另一个颜色有现货", "打包队列", "最迟明天发出", "已经帮您催促", "加了加急标记", "已经在加急处理",
    "已经在帮您加急", "已经备注加急", "单独标出来了", "先给您换一件",
    # a discount, coupon, gift, threshold or activity the shop may not have
    "新朋友有专属优惠", "欢迎第一次光临", "店里有满减活动", "离门槛只差一点", "申请送一份小礼物", "申请一份回馈小礼",
    "无门槛小券", "首页有可以领的", "上方都可以领优惠券", "现在参加多件优惠", "可以领新人专享券", "会员可以享受专属折扣",
    "已经帮您登记好了", "可以帮您申请包邮", "争取赠品或优先发货", "数量有限", "我们可以帮您做礼品包装", "店里另一款",
    # an order, a refund or a report looked up or made before anyone did; a rule or an offer of one shop
    "截单时间前付款的订单当天发出", "查到您的订单已经付款成功", "我帮您查了，退款已经在处理中", "我已经把情况反馈给主管",
    "标为最优先", "已经向快递公司反映", "申请一张店铺优惠券", "可以帮您附上贺卡", "包裹里不放价格信息",
    "会有更大力度的活动", "大部分宝贝都是包邮", "保证您优先拿到货", "暂时没有额外的赠品",
    # free shipping as a fact: a shop may charge it, for some goods, regions or couriers
    "是包邮的", "大部分地区是包邮", "都是包邮",
)  # fmt: skip


def test_shipped_suggestions_claim_none_of_what_no_phrase_can_know() -> None:
    library = Library.load(ROOT / "phrases")
    texts = [p.text for p in library.phrases if p.intent not in ASSISTANT_INTENTS]
    assert [(claim, text) for text in texts for claim in SUGGESTION_CLAIMS if claim in text] == []


def test_childrens_size_advice_is_suggested_only_for_childrens_goods(shipped_matcher: Matcher) -> None:
    def ids(text: str) -> list[str]:
        return [s.phrase_id for s in shipped_matcher.suggest(text, Context())]

    assert "size_advice.kids" not in ids("脚有点宽穿多大")
    assert "size_advice.kids" not in ids("这个背包有多大")
    assert "size_advice.kids" in ids("女儿三岁穿多大")


def test_shipped_payment_reminders_keep_the_order_id_out_of_the_subject() -> None:
    library = Library.load(ROOT / "phrases")
    reminders = [p for p in library.phrases if p.intent == "payment_reminder"]
    opening = [p.code for p in reminders if re.search(r"(^|[，。！？~,!?])\s*\{\{\s*order\s*\}\}", p.text)]
    assert opening == []  # 亲，订单6000000000000000003的价格… opens with a 19-digit number


def test_a_reminder_about_the_price_goes_only_to_buyers_who_bargained() -> None:
    library = Library.load(ROOT / "phrases")
    haggling = {"bargainer", "pressuring", "budget"}
    price = [p for p in library.phrases if p.intent == "payment_reminder" and "价格已经很实在" in p.text]
    assert price
    assert [(p.code, p.types) for p in price if not set(p.types) <= haggling] == []


@pytest.mark.parametrize("expr", ["{{ item }}", "{{ item.attrs }}"])
@pytest.mark.parametrize(
    "text",
    ["亲，这款{0}哦，可以放心选购", "亲，这款{{{{ shop ~ {1} }}}}哦", "亲，这款{{{{ {1} | default('宝贝') }}}}哦"],
)
def test_a_template_writing_out_the_whole_item_is_refused(expr: str, text: str) -> None:
    # The buyer read the item's dict: 亲，这款{'面料': '95%棉', 'id': '6000…', 'title': …}哦.
    source = text.format(expr, expr.strip("{} "))
    reason = f'{expr} 会把整个商品原样写给买家：请写 item.title、item.id 或 item["名称"] | default("…")'
    assert [p.reason for p in problems_of(phrase(text=source))] == [reason]


def test_a_template_looking_up_the_item_or_testing_it_is_allowed() -> None:
    text = "亲，{% if item %}{{ item.title }}{% endif %}{{ item['产地'] | default('国产') }}{{ item.attrs['面料'] | default('棉') }}~"
    assert build(phrase(text=text)).render("shipping_time.today") == "亲，这款宝贝国产棉~"


def test_a_layers_problems_name_the_line_of_their_phrase(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Found: a problem named the file and the phrase's id only; in a 2,000-phrase import the engineer searched
    # the file for the id, and a duplicated id could not be told from the phrase it duplicates.
    layer = tmp_path / "shop"
    layer.mkdir()
    table = '[[phrase]]\nid = "{id}"\nintent = "greeting"\ncode = "{code}"\ntext = "{text}"\ntriggers = ["在吗"]\n'
    (layer / "own.toml").write_text(
        'group = "自定义"\n\n'
        + table.format(id="greeting.own", code="zz1", text="亲，您好呀，在的哦")
        + "\n"
        + table.format(id="greeting.typo", code="zz2", text="亲，{{ shopp }}您好呀")
        + "\n  [[ phrase ]]\n"
        + table.format(id="greeting.own", code="zz3", text="亲，您好呀，在的哦哦").removeprefix("[[phrase]]\n"),
        encoding="utf-8",
    )
    with pytest.raises(LibraryError) as refused:
        Library.load([ROOT / "phrases", layer], skip=[ROOT / "phrases" / "qa.toml"])
    found = [(p.place, p.phrase_id) for p in refused.value.problems]
    assert found == [("shop/own.toml:10", "greeting.typo"), ("shop/own.toml:17", "greeting.own")]
    assert str(refused.value.problems[0]).startswith("shop/own.toml:10 [greeting.typo]：")
    (tmp_path / "config.toml").write_text('[phrases]\npath = ["%s", "shop"]\n' % (ROOT / "phrases"), encoding="utf-8")
    assert main(["phrases", "check", "--config", str(tmp_path / "config.toml")]) == 1
    assert "shop/own.toml:17\tgreeting.own\t" in capsys.readouterr().err


def test_phrases_written_inline_are_named_without_a_line(tmp_path: Path) -> None:
    layer = tmp_path / "shop"
    layer.mkdir()
    (layer / "own.toml").write_text(
        'phrase = [{id = "greeting.own", intent = "greeting", code = "zz1", text = "亲", triggers = ["在吗"]}]\n',
        encoding="utf-8",
    )
    with pytest.raises(LibraryError) as refused:
        Library.load([ROOT / "phrases", layer], skip=[ROOT / "phrases" / "qa.toml"])
    assert [p.place for p in refused.value.problems] == ["shop/own.toml"]


def test_phrases_check_ends_a_long_list_with_the_commonest_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An import gone wrong leaves thousands of problems: each is listed, and only the last screen stays in view,
    # so the list ends with what most of them are and where.
    layer = tmp_path / "team"
    layer.mkdir()
    lines = []
    for n in range(30):
        code = "dup" if n < 24 else f"t{n}"
        extra = 'colour = "red"\n' if n >= 24 else ""
        lines.append(f'[[phrase]]\nid = "greeting.t{n}"\nintent = "greeting"\ncode = "{code}"\n{extra}')
        lines.append(f'text = "亲，在的，第{n}号客服为您服务~"\ntriggers = ["在吗"]\n')
    (layer / "team.toml").write_text("\n".join(lines), encoding="utf-8")
    config = tmp_path / "config.toml"
    config.write_text(f'[phrases]\npath = ["{ROOT / "phrases"}", "{layer}"]\n', encoding="utf-8")
    assert _run(["phrases", "check", "--config", str(config)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 29 + 6 and err[0].startswith("team/team.toml:")  # every problem, with its file and line
    assert err[-6:] == [
        "最常见的问题：",
        "      23 × 编码 … 重复…",
        "       6 × 未知的键 …",
        "问题最多的文件：",
        "      29 × team/team.toml",
        "发现 29 个问题",
    ]
