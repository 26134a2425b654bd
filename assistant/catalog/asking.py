"""How a buyer's message asks about a fact: for its value (什么面料), or yes or no about a word (纯棉吗) (pure)."""

from __future__ import annotations

import re
import unicodedata

# A question for a value (什么面料, 哪里产, 偏大还是偏小) is answered by the fact; a yes/no question only when it is
# about the fact itself (纯棉吗, 面料是棉的吗, 有没有弹力), not about something else of it (面料舒服吗, 面料会缩水吗).
VALUE_MARKS = ("什么", "啥", "哪", "几", "多少", "多久", "多大", "多重", "多沉", "多长", "多宽", "多高", "多厚", "怎么", "怎样", "如何", "呢", "还是")  # fmt: skip
YES_NO_MARKS = ("吗", "么", "嘛", "?", "是不是", "有没有", "的吧")  # 是无钢圈的吧: asking to be told it is
A_NOT_A = re.compile(r"(.)不\1")  # 厚不厚, 起不起球
# 厚吗, 面料呢, 面料是棉的吗, 无钢圈的吧, 面料一样吗 (of two items): right after the word asked
_ABOUT_AFTER = ("吗", "么", "嘛", "?", "呢", "的吗", "是", "的吧", "一样", "不一样", "相同", "有区别")
# 弹力大吗, 含棉量高吗: how much of the fact is asked, which its value says (面料舒服吗 asks something else).
_DEGREE = ("大", "强", "足", "高", "低", "小")
_ENDS_ASKING = ("不", "没", "没有")  # 可以机洗不, 有弹力没: a yes/no question that ends the message
_ABOUT_BEFORE = ("是", "有没有", "是不是", "含", "添加")  # 有没有弹力, 是不是纯棉, 含不含糖: right before it
# After a yes/no claim (油皮, 冬天, 孕妇): asking whether the item suits it.
_SUITS = ("能用", "可以用", "适合", "适用", "用吗", "能穿", "可以穿", "穿吗", "穿冷", "穿热", "穿会", "会冷", "会热", "可以吃", "能吃", "吃吗")  # fmt: skip
# 按平时的码拍就行吗, 拍大一码就可以吗: whether taking a size will do, which the item's fit note answers.
_WILL_DO = re.compile(
    r"(?:拍|买|拿|选|穿|下单)?\s*(?:就|也)?\s*(?:行|可以|好|ok|没问题|合适|没事)\s*(?:了|的)?\s*(?:吗|么|嘛|吧|\?|不|没)"
)
PUNCTUATION = " \t\n,，.。!！?？~～、:："


def about(folded: str, word: str, *, suits: bool = False) -> bool:
    """Whether a yes/no question is about `word`: the word is the question (厚吗) or stands next to its mark.

    `suits`: asking whether the item suits it is about it too (油皮能用吗, 冬天能穿吗, 孕妇可以用吗).
    """
    if word.endswith(YES_NO_MARKS):
        return True
    start = folded.find(word)
    while start >= 0:
        after = folded[start + len(word) :].lstrip(" ，,")
        if after.startswith(_ABOUT_AFTER) or folded[:start].rstrip().endswith(_ABOUT_BEFORE):
            return True
        if after.startswith(_DEGREE) and after[1:].startswith(_ABOUT_AFTER[:4]) or ends_asking(after):
            return True
        if word.endswith(("码", "号")) and _WILL_DO.match(after):
            return True
        if suits and (after.startswith(_SUITS) or A_NOT_A.match(after)):
            return True
        start = folded.find(word, start + 1)
    return False


def ends_asking(text: str) -> bool:
    """Whether `text` is 不, 没 or 没有 closing a yes/no question (可以机洗不: the text after 机洗)."""
    return text.rstrip(PUNCTUATION).endswith(_ENDS_ASKING)


def fold(text: str) -> str:
    """`text` as it is matched: NFKC (full-width letters and digits as ASCII), lower case, stripped."""
    return unicodedata.normalize("NFKC", text).lower().strip()
