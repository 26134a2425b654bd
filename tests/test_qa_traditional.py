"""Traditional characters: read as the simplified ones the rules are written in, shown as written."""

from __future__ import annotations

import pytest

from assistant.qa.inspector import Inspector
from assistant.qa.rules import load_rules
from assistant.qa.traditional import TRADITIONAL, forms, is_cjk, render, rule_characters
from tests.helpers import ROOT, simplified_only

RULES = ROOT / "phrases" / "qa.toml"


@pytest.fixture(scope="module")
def inspector() -> Inspector:
    return Inspector.load([RULES])


@pytest.mark.parametrize(
    ("text", "side", "category", "match"),
    [
        ("再不发货我就投訴你們", "customer", "risk", "投訴"),
        ("這款是全網最低價哦親", "agent", "ad_extreme", "全網最低價"),
        ("这款面膜是國際頂級品牌", "agent", "ad_extreme", "頂級"),
        ("保證不會開膠", "agent", "promise", "保證不會開膠"),
        ("你們給我等著", "customer", "risk", "你們給我等著"),
        ("加我薇信 shop8899，這邊給您優惠", "agent", "off_platform", "加我薇信 shop8899"),
        ("說了多少遍了", "agent", "rude", "說了多少遍"),
    ],
)
def test_inspector_reads_traditional_characters(
    inspector: Inspector, text: str, side: str, category: str, match: str
) -> None:
    flags = [f for f in inspector.inspect(text, side) if f.category == category]
    assert [f.match for f in flags] == [match]
    assert all(text[f.start : f.end] == f.match for f in flags)  # the supervisor sees the words as written


@pytest.mark.parametrize("text", ["我不會投訴的", "看到有差評說會掉色", "最快明天到哦", "質量保證的"])
def test_inspector_keeps_traditional_near_misses_clean(inspector: Inspector, text: str) -> None:
    assert not [f for side in ("agent", "customer") for f in inspector.inspect(text, side) if f.category != "short"]


def test_traditional_table_covers_every_simplified_only_rule_character() -> None:
    # A character of GB 2312 that Big5 lacks is a simplified form: a traditional text never holds it, so a rule
    # word with it cannot match a traditional text unless the table names its traditional form (or a one-character
    # variant does: 著 → 着, since 著 is a character of its own the table leaves alone).
    variants = load_rules([RULES]).variants
    folded_to = set(TRADITIONAL.values()) | {
        canonical for spelling, canonical in variants.items() if len(spelling) == 1
    }
    missing = sorted(ch for ch in rule_characters([RULES]) if simplified_only(ch) and ch not in folded_to)
    assert missing == [], "python -m assistant.qa.traditional TSCharacters.txt, then paste its table into FORMS"


def test_traditional_table_folds_no_rule_character() -> None:
    characters = rule_characters([RULES])
    assert all(is_cjk(ch) for ch in TRADITIONAL)
    assert not [ch for ch in TRADITIONAL if ch in characters]


def test_traditional_forms_take_the_usual_reading_of_a_rule_character() -> None:
    lines = ["# comment\n", "訴\t诉\n", "畫\t画 划\n", "劃\t划 㓰\n", "瞭\t瞭 了\n", "價\t价\n", "個\t个\n", "箇\t个\n"]
    table = forms(lines, {"诉", "划", "了", "个"})
    assert table == {"个": ["個", "箇"], "划": ["劃"], "诉": ["訴"]}  # 畫 reads 画 first, 瞭 reads itself first
    assert render(table) == "个個箇 划劃 诉訴"
