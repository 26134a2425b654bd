"""Height and weight from buyers' messages: every written form, Chinese numerals, several messages, any text."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.catalog.measures import Body, Measurement, Spans, combine, parse, resolve_weight
from assistant.catalog.numerals import to_digits, value


@pytest.mark.parametrize(
    ("text", "height"),
    [
        ("165", None),  # a lone number: what it measures is decided with the conversation (combine)
        ("165cm", 165),
        ("165CM", 165),
        ("165 cm", 165),
        ("１６５ｃｍ", 165),
        ("165厘米", 165),
        ("165公分", 165),
        ("一百六十五公分", 165),
        ("1米65", 165),
        ("1米6", 160),
        ("1m65", 165),
        ("1.65m", 165),
        ("1.65米", 165),
        ("1.7米", 170),
        ("一米六五", 165),
        ("一米六", 160),
        ("一米七八", 178),
        ("一米65", 165),
        ("身高165", 165),
        ("身高:165", 165),
        ("身高1.65", 165),
        ("个子158", 158),
        ("宝宝身高90cm", 90),
    ],
)
def test_parse_reads_every_height_form(text: str, height: float | None) -> None:
    found = parse(text)
    assert found is not None
    assert found.height_cm == height
    if height is None:
        assert found.lone == 165


@pytest.mark.parametrize(
    ("text", "weight"),
    [
        ("110斤", 110),
        ("110 斤", 110),
        ("110多斤", 110),
        ("一百一十斤", 110),
        ("一百一斤", 110),
        ("九十五斤", 95),
        ("一百零五斤", 105),
        ("两百斤", 200),
        ("55kg", 110),
        ("55KG", 110),
        ("55公斤", 110),
        ("五十五公斤", 110),
        ("55千克", 110),
        ("52.5kg", 105),
        ("110-120斤", 115),
    ],
)
def test_parse_reads_every_weight_form(text: str, weight: float) -> None:
    assert parse(text) == Measurement(weight_jin=weight)


@pytest.mark.parametrize(
    ("text", "height", "weight"),
    [
        ("165 110斤", 165, 110),
        ("165cm110斤", 165, 110),
        ("1米65 55kg", 165, 110),
        ("一米六五 一百一十斤穿什么码", 165, 110),
        ("我身高1米65，体重110斤，穿什么码", 165, 110),
        ("110斤 165", 165, 110),
        ("M码 165 55kg", 165, 110),
        ("第1件 165 110斤", 165, 110),
        ("宝宝一米 三十斤", 100, 30),  # read as 1米30 (130 cm), the 30斤 lost
        ("一米三十斤 宝宝", 100, 30),
        ("两米 两百斤", 200, 200),
    ],
)
def test_parse_reads_height_and_weight_together(text: str, height: float, weight: float) -> None:
    assert parse(text) == Measurement(height_cm=height, weight_jin=weight)


@pytest.mark.parametrize(
    ("text", "height", "bare"),
    [
        ("165 110", 165, 110),
        ("165/110", 165, 110),
        ("1.65 110", 165, 110),
        ("身高165体重110", 165, 110),
        ("身高一米七 体重一百二", 170, 120),
        ("165 55穿多大", 165, 55),
        ("165的身高110的体重", 165, 110),  # each number before its word: 身高110 was 110 cm and 165 the weight
        ("110的体重 165的身高", 165, 110),
        ("我165身高 110体重", 165, 110),
    ],
)
def test_parse_keeps_a_weight_without_unit_for_the_rule(text: str, height: float, bare: float) -> None:
    assert parse(text) == Measurement(height_cm=height, bare_weight=bare)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "在吗",
        "这件110能便宜吗",  # a price, not a weight: nothing about size
        "38码",
        "胸围88",
        "15:30之前能发吗",
        "这个多重 200g",
        "要2件",
        "3岁",
        "订单号 123456789",
        "满200减20",
        "一样是41的鞋 这双有点挤脚",  # a shoe's size, read as 42 kg
        "平时穿40 这款穿几码",  # the size worn, read as 40 kg
    ],
)
def test_parse_finds_nothing_in_other_numbers(text: str) -> None:
    assert parse(text) is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("价格199 我160穿什么码", Measurement(height_cm=160)),  # 199 was the height, 160 the weight
        ("价钱128 160穿几码", Measurement(height_cm=160)),
        ("花了139 买的M码 我160", Measurement(height_cm=160)),
        ("2尺2 100斤", Measurement(weight_jin=100)),  # the 2 of 2尺2 was 2 metres: 200 cm
        ("我2 160 100斤", Measurement(height_cm=160, weight_jin=100)),
        ("1.6 100斤", Measurement(height_cm=160, weight_jin=100)),
        ("这件99 我160穿什么码", Measurement(height_cm=160)),  # what the item costs, read as 99 斤
        ("100多块 160穿几码", Measurement(height_cm=160)),  # "and some" before the unit: 100 斤
        ("五十多岁 160 穿多大", Measurement(height_cm=160)),  # 50 kg
        ("买了三十几件 一米六 穿多大", Measurement(height_cm=160)),  # 30 kg
        ("这款128 160 100斤穿什么码", Measurement(height_cm=160, weight_jin=100)),
        ("收腰 160 100斤穿什么码", Measurement(height_cm=160, weight_jin=100)),  # the cut, not a waist of 160
        ("包臀裙 158 95斤", Measurement(height_cm=158, weight_jin=95)),
        ("腰 70 160 100斤", Measurement(height_cm=160, weight_jin=100)),  # a waist still set aside
    ],
)
def test_parse_leaves_prices_and_whole_digits_out(text: str, found: Measurement) -> None:
    assert parse(text) == found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # the weight in words without 斤 was not read: a bare 一百一 was taken for no number at all
        ("一米六五 一百一", Measurement(height_cm=165, bare_weight=110)),
        ("一百二 一米七 穿多大", Measurement(height_cm=170, bare_weight=120)),
        ("一米六八 百三", Measurement(height_cm=168, bare_weight=130)),
        ("一米七 一百二十几斤", Measurement(height_cm=170, weight_jin=120)),  # 几 was no 多: the weight was lost
        ("一米五五 八十几斤", Measurement(height_cm=155, weight_jin=80)),
        ("一百二十几", Measurement(lone=120, rough=True)),  # said roughly: no weight too light for a height
        # a numeral read digit by digit stays too vague alone, and a generation is no weight (was 90 斤)
        ("九零后 一米六 穿多大", Measurement(height_cm=160)),
        ("我90后 160 穿多大", Measurement(height_cm=160)),
    ],
)
def test_parse_reads_numerals_in_words_without_a_unit(text: str, found: Measurement) -> None:
    assert parse(text) == found


def test_combine_reads_a_weight_in_words_after_the_height() -> None:
    assert combine(["我一米六", "一百二十几"]) == Body(160, 120)  # the weight of the answer was not read


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # feet and inches, as buyers in the south give a height, were not read: the weight alone, a height asked
        ("五尺三 一百斤", Measurement(height_cm=160, weight_jin=100)),
        ("5尺3 100斤", Measurement(height_cm=160, weight_jin=100)),
        ("我五尺二 九十斤", Measurement(height_cm=157, weight_jin=90)),
        ("五尺五寸 一百一十斤", Measurement(height_cm=165, weight_jin=110)),
        ("五尺十 140斤", Measurement(height_cm=178, weight_jin=140)),
        ("六尺 一百五", Measurement(height_cm=183, bare_weight=150)),
        ("5'3\" 100斤", Measurement(height_cm=160, weight_jin=100)),
        ("5ft5 110斤", Measurement(height_cm=165, weight_jin=110)),
        ("5尺32 100斤", Measurement(weight_jin=100)),  # no inches of 32
        # with a decimal point the digits after it are inches (5.8尺 as 五尺八): the weight alone was read
        ("5.8尺 130斤", Measurement(height_cm=173, weight_jin=130)),
        ("身高5.2尺 100斤", Measurement(height_cm=157, weight_jin=100)),
        ("5.10尺 150斤", Measurement(height_cm=178, weight_jin=150)),
        ("4.11尺 80斤", Measurement(height_cm=150, weight_jin=80)),
        ("5.12尺 100斤", Measurement(weight_jin=100)),  # no inches of 12
        ("腰围2.2尺 160 100斤", Measurement(height_cm=160, weight_jin=100)),  # a waist in 市尺, no height
        # a waist in 市尺 before its word is set aside: its 160 was a waist of 160 cm, the height lost
        ("二尺二的腰 160穿几码", Measurement(height_cm=160)),
        ("两尺二的腰 160 100斤", Measurement(height_cm=160, weight_jin=100)),
        ("165 腰粗 110斤", Measurement(height_cm=165, weight_jin=110)),
    ],
)
def test_parse_reads_feet_and_inches_and_leaves_a_waist_in_chi_aside(text: str, found: Measurement) -> None:
    assert parse(text) == found


def test_combine_two_messages_height_then_weight() -> None:
    assert combine(["我165", "110斤"]) == Body(165, 110)
    assert combine(["身高一米六五穿什么码", "一百一十斤"]) == Body(165, 110)


def test_combine_two_messages_weight_then_height() -> None:
    assert combine(["体重110斤", "165"]) == Body(165, 110)
    assert combine(["55公斤", "一米六五"]) == Body(165, 110)


def test_combine_lone_number_completes_what_is_missing() -> None:
    assert combine(["165", "140"]) == Body(165, 140)  # 140 is a height by range, a weight after a height
    assert combine(["110", "165"]) == Body(165, 110)
    assert combine(["150"]) == Body(150, None)
    assert combine(["110"]) == Body(None, 110)


def test_combine_newest_value_wins() -> None:
    assert combine(["165 110斤", "不对，身高170"]) == Body(170, 110)
    assert combine(["165 110斤", "最近胖了 120斤"]) == Body(165, 120)


def test_combine_ignores_messages_without_measures() -> None:
    assert combine(["在吗", "这件什么面料", "165 110斤", "好的", "穿什么码"]) == Body(165, 110)
    assert combine([]) == Body()


KIDS = Spans(height=(80, 140), weight=(20, 70))  # a children's chart: 80-140 cm, 10-35 kg
ADULT = Spans(height=(150, 185), weight=(80, 160))


def test_a_measure_already_given_leaves_the_charts_guess_to_the_adult_rule() -> None:
    # 145 70斤 beside a chart of 150-175 cm and 80-150 斤 asked for the height: 145 was taken for a weight
    assert parse("145 70斤 穿什么码", Spans(height=(150, 175), weight=(80, 150))) == Measurement(145, 70)
    assert parse("130cm 100 穿几码", KIDS) == Measurement(height_cm=130, bare_weight=100)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # numbers beside a size the buyer weighs up were not read: nothing said 码 or 穿
        ("我162 105 微胖 M还是L", Measurement(height_cm=162, bare_weight=105)),
        ("160 120 L还是XL", Measurement(height_cm=160, bare_weight=120)),
        ("160 100 M会小吗", Measurement(height_cm=160, bare_weight=100)),
        ("165 110 男", Measurement(height_cm=165, bare_weight=110)),
        ("165 110 女生", Measurement(height_cm=165, bare_weight=110)),
    ],
)
def test_a_size_named_makes_the_numbers_measures(text: str, found: Measurement) -> None:
    assert parse(text) == found


def test_a_number_just_below_a_childrens_chart_is_a_height() -> None:
    # 宝宝20斤 78 asked for the height: 78 was neither in the chart's 80-140 cm nor an adult's height
    assert combine(["宝宝20斤 78"], KIDS) == Body(78, 20)
    assert combine(["宝宝75 穿多大"], KIDS) == Body(75, None)


def test_chart_tells_a_childs_height_without_its_unit() -> None:
    # 孩子105 穿多大 was 105斤, and the 110 of 孩子110 38斤 was dropped: 105 cm is in the chart, 105 斤 is not
    assert combine(["孩子105 穿多大"], KIDS) == Body(105, None)
    assert combine(["孩子110 38斤穿几码"], KIDS) == Body(110, 38)
    assert combine(["宝宝110 38穿多大"], KIDS) == Body(110, 38)
    assert combine(["宝宝105 穿多大", "体重36斤"], KIDS) == Body(105, 36)
    assert combine(["宝宝体重18", "105"], KIDS) == Body(105, 36)  # 18 kg of a 105 cm child
    assert combine(["90"], KIDS) == Body(90, None)
    assert combine(["孩子105 穿多大"]) == Body(None, 105)  # without a chart the adult rule stays


def test_chart_that_does_not_tell_leaves_the_adult_rule() -> None:
    assert combine(["165 110"], ADULT) == Body(165, 110)
    assert combine(["我165", "140"], ADULT) == Body(165, 140)  # 140 is only a weight on this chart
    assert combine(["体重110斤", "155"], ADULT) == Body(155, 110)  # in both: it completes what is missing
    assert combine(["55kg穿多大", "172"], ADULT) == Body(172, 110)
    assert combine(["孩子105 穿多大"], Spans(height=(80, 140))) == Body(105, None)  # a chart of 身高 alone
    assert combine(["我110"], Spans(weight=(80, 160))) == Body(None, 110)


def test_bare_weight_rule_uses_the_height() -> None:
    assert resolve_weight(110, 165) == 110  # 55 kg at 1.65 m is ordinary; 110 kg is not
    assert resolve_weight(55, 165) == 110  # 27.5 kg at 1.65 m is not a person
    assert resolve_weight(80, 180) == 160  # 80 kg at 1.80 m
    assert resolve_weight(90, 160) == 90  # 45 kg at 1.60 m
    assert combine(["165 55"]) == Body(165, 110)


def test_bare_weight_rule_without_height() -> None:
    assert resolve_weight(65, None) == 130  # under 70: kilograms
    assert resolve_weight(70, None) == 70
    assert combine(["体重55"]) == Body(None, 110)


@pytest.mark.parametrize(
    ("run", "number"),
    [
        ("一百一十", 110), ("一百一", 110), ("一百零五", 105), ("一百二十五", 125), ("九十五", 95), ("十五", 15),
        ("两百", 200), ("一百六五", 165), ("六五", 65), ("一七零", 170), ("十十", None), ("百百", None),
    ],
)  # fmt: skip
def test_numerals_value(run: str, number: int | None) -> None:
    assert value(run) == number


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("163 52点5公斤", Measurement(height_cm=163, weight_jin=105)),  # was 5 kg: 10 斤
        ("一米六三 五十二点五kg", Measurement(height_cm=163, weight_jin=105)),
        ("身高163 体重一百零五点五斤", Measurement(height_cm=163, weight_jin=105.5)),
        ("3点20之前能发吗 我163 105斤", Measurement(height_cm=163, weight_jin=105)),  # a time stays a time
    ],
)
def test_parse_reads_a_decimal_point_written_as_dian(text: str, found: Measurement) -> None:
    assert parse(text) == found


def test_numerals_leave_words_alone() -> None:
    assert to_digits("十分百搭") == "十分百搭"
    assert to_digits("一米六五") == "１米６５"
    assert to_digits("一百一十斤") == "110斤"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80))
def test_parse_any_text_gives_a_measurement_or_none(text: str) -> None:
    found = parse(text)
    assert found is None or isinstance(found, Measurement)
    if found is not None:
        assert any(v is not None for v in (found.height_cm, found.weight_jin, found.bare_weight, found.lone))


_MEASURE_LIKE = st.text(alphabet="0123456789.一二两三四五六七八九十百米斤公分厘kgcm身高体重 /，码穿", max_size=30)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(_MEASURE_LIKE, st.text(max_size=30)), max_size=6),
    st.sampled_from([Spans(), KIDS, ADULT, Spans(height=(-math.inf, math.inf), weight=(90, math.inf))]),
)
def test_combine_any_messages_give_a_body(texts: list[str], spans: Spans) -> None:
    body = combine(texts, spans)
    assert body.height_cm is None or 50 <= body.height_cm <= 230
    assert body.weight_jin is None or 10 <= body.weight_jin <= 600


@pytest.mark.parametrize(
    ("texts", "body"),
    [
        # 三十多 beside an adult's height is the buyer's age (三十多岁 without 岁): 30 kg at 160 cm is no body
        (["一米六 三十多"], Body(160, None)),
        (["三十多 一米六 穿啥码"], Body(160, None)),
        (["一米七 四十几 穿什么码"], Body(170, None)),
        (["一米六", "三十多"], Body(160, None)),
        # where it makes a body in kilograms, it is the weight
        (["一米六五 五十多"], Body(165, 100)),
        (["一米五五 四十多"], Body(155, 80)),
        (["一米六 一百多"], Body(160, 100)),
        (["160 35"], Body(160, 70)),  # an exact number stays a weight: the answer shows what it read
    ],
)
def test_a_rough_number_too_light_for_the_height_is_no_weight(texts: list[str], body: Body) -> None:
    assert combine(texts) == body


@pytest.mark.parametrize(
    ("text", "body"),
    [
        # a height and a weight in words typed together were one run that is no number: the chart had no size
        ("一米六二一百零五斤穿啥码", Body(162, 105)),
        ("一米七一百二十斤", Body(170, 120)),  # 1米7 and 120, not 1米71 and 百二十
        ("一米五八九十斤", Body(158, 90)),
        ("一米六五一百一", Body(165, 110)),
    ],
)
def test_a_height_and_weight_in_words_typed_together_are_both_read(text: str, body: Body) -> None:
    assert combine([text]) == body


@pytest.mark.parametrize("run", ["三四十", "七八十斤", "一二三四五六七八九十"])
def test_a_rough_range_in_words_is_not_split_into_two_numbers(run: str) -> None:
    assert to_digits(run) == run
