"""Chinese numerals as buyers type them (一百一十, 一百一, 六五, 两百) turned into digits."""

from __future__ import annotations

import re

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
RUN = re.compile("[零〇一二两三四五六七八九十百]+")
# A numeral read digit by digit (六五, 九零) is written in full-width digits, so a later pattern can tell it from
# digits the buyer typed: alone it is too vague to take for a measure (九零后 is a generation, not 90 斤). One read
# with 十 or 百 (一百一, 九十五, 百二) is written in ASCII digits, as a buyer who types 110 means a number.
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# 点 as a decimal point (脚长26点5, 52点5公斤, 二十三点五厘米): after a measure's word or before a unit of length or
# weight only, since 3点20 elsewhere is a time.
_D = "[0-9０-９]"
_POINT_BEFORE_UNIT = re.compile(
    rf"({_D})点({_D}{{1,2}})(?=(?:多|左右)?\s*(?:cm|厘米|公分|mm|毫米|米|m(?![a-z])|斤|kg|公斤|千克))"
)
_POINT_AFTER_WORD = re.compile(
    rf"((?:脚长|身高|体重|胸围|腰围|臀围)\s*(?:是|有|为|:|约|大概)?\s*{_D}{{1,3}})点({_D}{{1,2}})(?!{_D})"
)


def value(run: str) -> int | None:
    """The number a run of Chinese numeral characters stands for, or None when it is not a number.

    With 十 or 百 it is read arithmetically (一百一十 110, 一百一 110, 一百零五 105, 十五 15); without them
    digit by digit (六五 65, 一七零 170), as in 一米六五.
    """
    if not run or any(ch not in DIGITS and ch not in "十百" for ch in run):
        return None
    if "百" not in run and "十" not in run:
        return int("".join(str(DIGITS[ch]) for ch in run))
    hundreds, rest = 0, run
    if "百" in run:
        head, _, rest = run.partition("百")
        if "百" in rest or len(head) > 1 or (head and head not in DIGITS):
            return None
        hundreds = DIGITS[head] if head else 1
        if rest.startswith(("零", "〇")):
            rest = rest[1:]
            if len(rest) != 1 or rest not in DIGITS:
                return None
            return hundreds * 100 + DIGITS[rest]
        if rest and "十" not in rest:  # 一百一 = 110, 一百六五 = 165: the digits after 百 are tens, then units
            if len(rest) > 2 or any(ch not in DIGITS for ch in rest):
                return None
            tens = DIGITS[rest[0]] * 10
            return hundreds * 100 + tens + (DIGITS[rest[1]] if len(rest) == 2 else 0)
    tens_part = 0
    if rest:
        head, sep, tail = rest.partition("十")
        if not sep or "十" in tail or len(head) > 1 or len(tail) > 1:
            return None
        if (head and head not in DIGITS) or (tail and tail not in DIGITS):
            return None
        tens_part = (DIGITS[head] if head else 1) * 10 + (DIGITS[tail] if tail else 0)
    return hundreds * 100 + tens_part


def to_digits(text: str) -> str:
    """`text` with every Chinese number replaced by its value (一米六五 → １米６５, digit by digit in full-width
    digits; 一百一 → 110, with 十 or 百 in ASCII ones), and a measure's 点 by a decimal point (脚长26点5 → 脚长26.5).

    A run without any digit character (十分, 百搭) is left alone: it is a word, not a number.
    """

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        if not any(ch in DIGITS for ch in run):
            return run
        number = value(run)
        if number is None:
            return _two_numbers(run)
        if "十" not in run and "百" not in run:
            # Digit by digit keeps leading zeros: 一米零五 is 1米05.
            return "".join(str(DIGITS[ch]) for ch in run).translate(_FULL_WIDTH)
        return str(number)

    digits = RUN.sub(replace, text)
    if "点" not in digits:
        return digits
    return _POINT_AFTER_WORD.sub(r"\1.\2", _POINT_BEFORE_UNIT.sub(r"\1.\2", digits))


def _two_numbers(run: str) -> str:
    """A run that is no one number read as two typed together (一米六二一百零五斤: 六二 then 一百零五): one or two
    digits, then a number with 十 or 百 that starts with a digit (一米七一百二十 is 1米7 and 120, not 1米71 and 百二十);
    the run itself when it is not that. Three characters are a rough range (三四十, 七八十斤: 30 to 40), not two."""
    if len(run) < 4:
        return run
    for cut in (1, 2):
        head, tail = run[:cut], run[cut:]
        if all(ch in DIGITS for ch in head) and tail[:1] in DIGITS and (number := value(tail)) is not None:
            if "十" in tail or "百" in tail:
                return "".join(str(DIGITS[ch]) for ch in head).translate(_FULL_WIDTH) + " " + str(number)
    return run
