"""Masking of personal data in chat text: phones, ID and bank-card numbers, e-mail, detailed addresses, and
names and nicknames written after a label (收件人张三, 寄给小美, 发给李四) or standing beside a mobile number (张三 13812345678).

The rules and their limits are in docs/daily-log.md ("Privacy"). Masking is for what leaves the
database (exports, pages); the raw text stays in the database only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import Any

__all__ = ["NUMERALS", "PHONE", "mask", "mask_flags", "mask_or_none", "mask_spans", "may_contain", "phone_reading"]

# Cheap pre-checks (most chat lines fail the first): the number and e-mail rules need four digits in
# a row or an "@"; the address rules a numbered unit, a lettered building or a district suffix; the name rule
# a label (收件人, 姓名, 我叫, 寄给, 发给).
_MAYBE_ANY = re.compile(r"[\d@＠区县旗栋幢座人名叫给給]|[(\[{（【<]\s*at\s*[)\]}）】>]", re.I)
_MAYBE_PII = re.compile(r"\d{4}|[@＠]")
# Characters that show nothing but split a number or an address for a pattern: removed before masking.
_INVISIBLE = re.compile(r"[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# An e-mail written to dodge filters: "zhang(at)qq(dot)com", "zhang [at] qq.com", "zhang【at】qq。com".
_AT = r"\s*[(\[{（【<]\s*at\s*[)\]}）】>]\s*"
_DOT = r"(?:\s*[(\[{（【<]\s*dot\s*[)\]}）】>]\s*|[.。．])"
_SPELLED_EMAIL = re.compile(
    rf"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9][A-Za-z0-9._%+-]*)(?P<rest>{_AT}[A-Za-z0-9-]+(?:{_DOT}[A-Za-z0-9-]+)*{_DOT}[A-Za-z]{{2,}})",
    re.I,
)
# ---- phone numbers however they are spaced or spelled ----------------------------------------------
# The quality rule off_platform.phone (phrases/qa.toml) reads a message with its separators dropped and Chinese
# numerals as digits; masking reads it the same way, so every number that rule finds is one masking hides.
# Chinese numerals (幺 is "one" when reading out numbers; 两 and 兩 "two") as digits.
NUMERALS = dict(zip("零〇一二三四五六七八九幺两兩壹贰叁肆伍陆柒捌玖", "00123456789" + "122" + "123456789"))
_NUMERAL_TABLE = str.maketrans(NUMERALS)
# The mainland mobile number, on the digits as read: the pattern of off_platform.phone (tests keep them equal).
PHONE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
# Signs the rule keeps (they are words, not separators): + and % and what folds to them.
_KEPT = frozenset("+%➕﹢٪")
# Emoji written for a word (加我🐧 for 加我企鹅, QQ): the quality rules read them as the word (qa/normalize.py).
WORD_EMOJI = {"🐧": "企鹅", "🛰": "卫星"}
_MAYBE_ADDRESS = re.compile(r"[\dA-Za-z]\s*(?:号|栋|幢|单元|室|楼|层|弄|巷|组|座|户)|[路街道巷弄]\d|[区县旗]")

# A number that follows one of these labels is an order or tracking number, not personal data. Buyers of
# Hong Kong, Macao and Taiwan write the labels in traditional characters (訂單號, 運單號, 編號, 為).
_ORDER_LABEL = re.compile(
    r"(?:订单|訂單|单号|單號|编号|編號|order(?:\s*(?:no|id|number))?)\.?\s*[:：#]?\s*(?:是|为|為)?\s*$", re.I
)

_PII = re.compile(
    r"(?P<email>(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    # 18-digit resident ID: 6-digit region, birth date, 3-digit sequence, check digit (X allowed).
    r"|(?<![\dA-Za-z])(?P<id>[1-9]\d{5}\s?(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\s?\d{3}[\dXx])"
    r"(?![\dA-Za-z])"
    # Bank card: 16-19 digits, in one run or in groups of four separated by a space or hyphen.
    r"|(?<![\d.])(?P<card>\d{4}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?)(?![\d.])"
    # Mainland mobile: 1[3-9]x xxxx xxxx, optionally +86 / 0086 / "86 " first and 3-4-4 separators.
    r"|(?<![\d.])(?P<phone>(?:(?:\+|00)86[ .-]?|86[ .-])?1[3-9]\d(?:[ .-]?\d{4}){2})(?![\d]|\.\d)"
)

# ---- addresses --------------------------------------------------------------------------------
# A clause: addresses never span these punctuation marks.
_CLAUSE = re.compile(r"[^，。,；;！!？?、\n\r|]+")
# District-level units; "区" that ends 小区/社区/园区/地区… is not a district.
_DISTRICT = re.compile(r"(?<![小社园景校片厂营商街地郊山辖])(?:区|县|旗)")
# Street or community words that make a following number an address.
_STREET = re.compile(r"路|街|大道|巷|弄|胡同|村|小区|花园|苑|公寓|大厦|广场|社区|新村|家园")
# A numbered part of an address: 478号, 5栋, 2单元, 1201室, 3号楼, 文三路478 …
_ANCHOR = re.compile(
    r"\d+(?:[-－]\d+)*\s*(?P<unit>号楼|号院|号|栋|幢|单元|室|楼|层|弄|巷|组|座|户)"
    r"|(?<=路|街|道|巷|弄)\d+"
    r"|[A-Za-z]\s*(?P<lettered>栋|幢|座)"
)
_STRONG_UNITS = frozenset({"号楼", "栋", "幢", "单元", "室"})
# What may trail the last numbered part: a room number such as 1201, 3-2-1201, B座 1201室.
_TAIL = re.compile(r"\s*[-－#]?\s*[A-Za-z]?\d+(?:[-－]\d+)*[A-Za-z]?(?:室|房|号)?")
# A community name right after a district (西湖区翠苑小区) is detailed even without a number.
_COMMUNITY = re.compile(r"[\u4e00-\u9fff]{1,10}(?:小区|花园|公寓|大厦|社区|新村|家园|苑)")
# Walking back from a street word to the start of its name stops at these (送到|在|地址…).
_NAME_STOP = frozenset("省市区县旗镇乡到在是址:： ")
_MASK = "****"

# ---- names ------------------------------------------------------------------------------------
# A name is masked only after a label that announces one, and only when it starts with a common surname and
# ends where a name can end: "收件人写错了", "联系人马上到" and "姓名不对" are left alone.
_NAME_LABEL = re.compile(
    r"(?:收件人|收货人|收貨人|联系人|聯繫人|聯絡人|姓名|名字|我叫|寄给|寄給|发给|發給|发給)\s*[:：]?\s*"
    r"(?:(?:是|为|為|叫|写|寫|填|改成|改为|改為|换成|換成)\s*[:：]?\s*)?"
)
_COMPOUND_SURNAMES = ("欧阳", "歐陽", "司马", "司馬", "诸葛", "諸葛", "上官", "东方", "東方", "慕容", "司徒", "夏侯", "皇甫", "令狐", "公孙", "公孫")  # fmt: skip
# Common surnames whose character does not also begin everyday words after such a label (方便, 明天, 和, 时间…).
_SIMPLIFIED_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付傅白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔汤温康施牛樊"
    "葛邢齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿兰焦俞柳祝舒阮柯纪梅童凌毕裴霍涂苗谷盛曲翁冉骆蓝辛靳管柴蒙鲍华"
    "喻祁蒲房滕屈饶解牟艾尤阳穆卓缪项芦麦褚娄窦戚岑景党费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬卞姬师仇栾隋刁沙荣巫"
    "寇桑郎甄丛仲虞敖巩佘池查麻迟邝萧阎"
)
# Their traditional forms (Hong Kong, Macao and Taiwan write 張三, 劉德華): each surname written differently in
# traditional script, then the characters OpenCC's TSCharacters.txt reads as that surname first (as
# assistant/qa/traditional.py `forms` derives them), less those that are other words and not the surname (週 for
# 周, 於 for 于, 餘 for 余, 範 for 范, 瀋, 薑, 嶽, 穀, 麯 …): tests/test_privacy.py checks the table against the
# project's traditional tables and that no surname of simplified script only is missing.
_TRADITIONAL_SURNAMES = """
张張 刘劉 陈陳 杨楊 黄黃 赵趙 吴吳 孙孫 马馬 罗羅 郑鄭 谢謝 许許 韩韓 冯馮 邓鄧 萧蕭 叶葉 苏蘇 吕呂 卢盧 钟鍾鐘
谭譚 陆陸 贾賈 韦韋 邹鄒 闫閆 阎閻 龙龍 贺賀 顾顧 龚龔 万萬 钱錢 严嚴 汤湯 温溫 齐齊 乔喬 庞龐 颜顏顔 庄莊
聂聶 鲁魯 欧歐 兰蘭 纪紀 凌淩 毕畢 涂塗 骆駱 蓝藍 鲍鮑 华華 饶饒 阳陽 缪繆 项項 芦蘆 麦麥 娄婁 窦竇 党黨 费費
卫衛 闵閔 邬鄔 师師 栾欒 荣榮 丛叢 巩鞏 查査 迟遲 邝鄺 蒋蔣
"""
_SURNAMES = frozenset(_SIMPLIFIED_SURNAMES) | frozenset("".join(g[1:] for g in _TRADITIONAL_SURNAMES.split()))
# Characters given names hardly have, but the words that follow such a label do (马上到, 方便吗, 是我).
_NOT_GIVEN = frozenset(
    "上下到了的是在不吗呢吧啊哦呀么嘛谁都也就要会能可改写填错對对换有没我你他她们这那个和与或给被把让再还请帮电话地址号码手机收货件人名字姓叫"
)
_TITLES = frozenset({"先生", "女士", "小姐", "老师", "師傅", "师傅", "总", "哥", "姐", "阿姨", "叔叔", "同学"})
# A nickname after a label (收件人小美, 寄给老王, 我叫阿强, 收件人：豆豆, 收件人 Lily): 小 or 阿 and one or two more
# characters, 老 and a surname, a doubled character, or a capitalized Latin word; less the everyday words of those
# shapes that follow such a label (寄给老公, 收件人小区门口, 寄给妈妈), and names that are no person's (寄给申通).
_NICKNAME_PREFIXES = "小阿老"
_NOT_NICKNAMES = (
    "小区", "小姐", "小时", "小心", "小孩", "小朋友", "小哥", "小伙", "小店", "小号", "小票", "小件", "小包", "小样",
    "小卖", "小程序", "小红书", "小二", "小同", "小学", "小妹", "小弟", "阿姨", "阿里", "老公", "老婆", "老板", "老师",
    "老人", "老家", "老妈", "老爸", "老乡", "老地方", "老样子", "老顾客", "老客户", "老同学", "妈妈", "爸爸", "哥哥",
    "姐姐", "弟弟", "妹妹", "爷爷", "奶奶", "姥姥", "姥爷", "舅舅", "叔叔", "婶婶", "伯伯", "姑姑", "宝宝", "谢谢",
    "刚刚", "常常", "天天", "慢慢", "快快", "偏偏", "稍稍", "早早", "渐渐", "好好", "人人", "家家", "明明", "往往",
    "仅仅", "多多", "星星", "亲亲",
    "申通", "苏宁", "华为",  # a courier or a shop after 寄给/发给, though its first character is a surname's
    "顾客", "师傅", "房东",  # whom a parcel or a message is sent to (发给顾客), not their name
)  # fmt: skip
_LATIN_NAME = re.compile(r"[A-Z][a-z]{1,15}(?![A-Za-z])")
# Where a name may end: the end of the text, anything not a Chinese character, or words that follow a name (收件人写小美
# 就行, 寄给张三呢).
_NAME_END = re.compile(
    r"$|[^\u4e00-\u9fff]|电话|電話|手机|手機|号码|號碼|联系|聯繫|地址|收|身份证|呢|吧|就行|就好|就可以"
)


def mask(text: str) -> str:
    """`text` with phone, ID and card numbers, e-mail addresses, detailed addresses and names masked.

    Invisible characters (zero-width spaces, joiners, direction marks) are removed first: they would
    otherwise split a number so that no pattern sees it.
    """
    if _INVISIBLE.search(text):
        text = _INVISIBLE.sub("", text)
    text = _mask_names_beside_phones(text)
    if not _MAYBE_ANY.search(text):
        return _mask_read_phones(text)
    if _MAYBE_PII.search(text):
        text = _mask_numbers(text)
    if "at" in text.lower():
        text = _SPELLED_EMAIL.sub(lambda m: f"{m['local'][0]}***{m['rest']}", text)
    if _MAYBE_ADDRESS.search(text):
        text = _mask_addresses(text)
    if _NAME_LABEL.search(text):
        text = _mask_names(text)
    return _mask_read_phones(text)


def mask_spans(text: str, spans: Sequence[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """`mask(text)`, and each span of `text` (start, end) moved into it: a quality flag's words shown as the masked
    text shows them. Masking keeps characters, turns some into *, drops invisible ones and writes an address's rest
    or an e-mail's name shorter; a span that cuts such a piece takes all of it. Masking the span's words alone would
    not do: 加我qq 11010119900 is no ID number, and shows what the masked text hides of one."""
    shown = mask(text)
    if shown == text:
        return shown, [(start, end) for start, end in spans]
    blocks = SequenceMatcher(None, text, shown, autojunk=False).get_opcodes()

    def moved(at: int, end: bool) -> int:
        for tag, i1, i2, j1, j2 in blocks:
            if i1 <= at < i2 or (end and i1 < at == i2):
                if tag == "equal":
                    return j1 + at - i1
                return j2 if end else j1
        return len(shown)

    out = []
    for start, end in spans:
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        a, b = moved(start, False), moved(end, True) if end > start else moved(start, False)
        out.append((a, max(a, b)))
    return shown, out


def mask_flags(flags: Sequence[dict[str, Any]], body: str) -> list[dict[str, Any]]:
    """Flags as the masked message shows them: `match` is the span of `mask(body)` that `start`/`end` give, which
    index that text (docs/quality.md). The flag's words masked alone showed what masking hides in the message (加我qq
    11010119900 of an ID number, 138****5678 of 13812345678@qq.com shown 1***@qq.com), and its offsets into the
    message as written marked other words once masking had shortened an address before them. A flag whose
    offsets do not give its words (written before they were logged) is found by its words, else shows none."""
    spans: list[tuple[int, int]] = []
    for f in flags:
        start, end, match = f.get("start"), f.get("end"), str(f.get("match", ""))
        if not (isinstance(start, int) and isinstance(end, int) and body[start:end] == match and match):
            start = body.find(match) if match else -1
            end = start + len(match)
        spans.append((start, end))
    shown, moved = mask_spans(body, [span for span in spans if span[0] >= 0])
    places = iter(moved)
    out = []
    for f, (start, _) in zip(flags, spans):
        if start < 0:
            out.append({k: v for k, v in f.items() if k not in ("start", "end")} | {"match": ""})
            continue
        a, b = next(places)
        out.append({**f, "start": a, "end": b, "match": shown[a:b]})
    return out


def mask_or_none(text: str | None) -> str | None:
    """`mask` that passes None through."""
    return None if text is None else mask(text)


def may_contain(text: str, folded: str) -> bool:
    """Whether `mask(text)`, folded, may contain `folded` (`search_fold` already): True whenever it does.

    Cheap, for a search that skips what cannot match before masking it. Masking removes invisible
    characters and turns spans into asterisks, and keeps every other character: so a match without an
    asterisk in the masked text is a match in the text without its invisible characters.
    """
    folded = search_fold(folded)  # idempotent: a caller's casefolded words may still be full width
    if folded in search_fold(text) or "*" in folded:
        return True
    return _INVISIBLE.search(text) is not None and folded in search_fold(_INVISIBLE.sub("", text))


def search_fold(text: str) -> str:
    """`text` as a search compares it: full-width forms as ASCII (a phone's Chinese keyboard types ？ and
    １３８, a supervisor's keyboard ? and 138), then casefolded. One character for one, like masking."""
    return text.translate(_HALF_WIDTH).casefold()


# Full-width digits, letters and signs (typed on a phone's Chinese keyboard) are matched as ASCII; the
# translation is one character for one, so positions in the copy are positions in the original.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}


def _mask_numbers(text: str) -> str:
    shadow = text.translate(_HALF_WIDTH)
    pieces: list[str] = []
    pos = 0
    for m in _PII.finditer(shadow):
        pieces.append(text[pos : m.start()])
        pieces.append(_masked(m, text[m.start() : m.end()]))
        pos = m.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _masked(m: re.Match[str], value: str) -> str:
    """The masked form of `value`, the original text of match `m` (found in the half-width copy)."""
    kind = m.lastgroup
    if kind == "email":
        at = m.group().index("@")  # in the half-width copy: the original may have a full-width ＠
        return f"{value[0]}***{value[at:]}"
    if kind in ("id", "card") and _ORDER_LABEL.search(m.string, max(0, m.start() - 16), m.start()):
        return value
    if kind == "id" and not _is_bank_card(m.group()):
        return _keep_digits(value, first=1, last=1)
    if kind in ("id", "card"):
        return _keep_digits(value, first=0, last=4)
    return _mask_phone(value)


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _is_bank_card(id_shaped: str) -> bool:
    """An 18-digit number shaped like an ID (UnionPay cards start 62, as do Gansu's region codes) is a card
    when its last digit is a Luhn check digit and not the ID's own ISO 7064 MOD 11-2 check character.

    A number valid both ways cannot be told apart and stays an ID (the stronger masking).
    """
    digits = "".join(ch for ch in id_shaped if not ch.isspace()).upper()
    if "10X98765432"[sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS)) % 11] == digits[17]:
        return False
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _keep_digits(value: str, *, first: int, last: int) -> str:
    """Every digit (and X) but the first `first` and the last `last` replaced by *, separators kept."""
    total = sum(1 for ch in value if ch.isdigit() or ch in "XxＸｘ")
    out = []
    seen = 0
    for ch in value:
        if ch.isdigit() or ch in "XxＸｘ":
            seen += 1
            out.append(ch if seen <= first or seen > total - last else "*")
        else:
            out.append(ch)
    return "".join(out)


def _mask_phone(value: str) -> str:
    """138****5678: the 4th to 7th digits of the 11-digit number masked; prefix and separators kept."""
    digits = [i for i, ch in enumerate(value) if ch.isdigit()]
    national = digits[-11:]
    hidden = set(national[3:7])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


def phone_reading(ch: str) -> str:
    """`ch` as the digits view of the quality rules reads it (qa/normalize.py), each character but a digit as x:
    "1" for 1, １, ① or 一 (幺 too); "" for what only separates (spaces of every width, hyphens, dots,
    punctuation, emoji); "x" for a letter, a Chinese character that is no numeral, + or %."""
    if ch.isascii():
        return ch if ch.isdigit() else "x" if ch.isalnum() or ch in _KEPT else ""
    if ch in NUMERALS:
        return NUMERALS[ch]
    if ch in _KEPT:
        return "x"
    if ch in WORD_EMOJI:
        return "x" * len(WORD_EMOJI[ch])
    folded = unicodedata.normalize("NFKC", ch).casefold()
    kept = "".join(c for c in folded if unicodedata.category(c)[0] in "LN" or c in _KEPT).translate(_NUMERAL_TABLE)
    return "".join(c if "0" <= c <= "9" else "x" for c in kept)


class _ReadingTable(dict[int, str | None]):
    """`str.translate` table of `phone_reading` (a separator dropped), filled on first sight."""

    def __missing__(self, code: int) -> str | None:
        reading = phone_reading(chr(code)) or None
        if len(self) < 100_000:
            self[code] = reading
        return reading


_READING = _ReadingTable()


def _mask_read_phones(text: str) -> str:
    """Mobile numbers as the quality rule reads them (1 3 8…, 138\u00a01234, 一三八…, １３８　…) with their 4th to
    7th digits as *; every other character kept (a character that reads as two digits, ⑬, is hidden whole)."""
    digits = text.translate(_READING)
    if len(digits) < 11 or not PHONE.search(digits):
        return text
    origins: list[int] = []
    for i, ch in enumerate(text):
        origins += [i] * len(ch.translate(_READING))
    hidden = {origins[m.start() + k] for m in PHONE.finditer(digits) for k in range(3, 7)}
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def _mask_addresses(text: str) -> str:
    pieces: list[str] = []
    pos = 0
    for clause in _CLAUSE.finditer(text):
        span = _address_span(clause.group())
        if span is None:
            continue
        start, end = clause.start() + span[0], clause.start() + span[1]
        pieces.append(text[pos:start])
        pieces.append(_MASK)
        pos = end
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _address_span(clause: str) -> tuple[int, int] | None:
    """The part of a clause to mask: from after the district to the end of the last numbered part."""
    anchors = list(_ANCHOR.finditer(clause))
    districts = list(_DISTRICT.finditer(clause))
    if not anchors:
        return _community_span(clause, districts)
    first = anchors[0]
    street = _STREET.search(clause, 0, first.start())
    before = [d for d in districts if d.end() <= (street.start() if street else first.start())]
    strong = any(a.group("unit") in _STRONG_UNITS or a.group("lettered") for a in anchors)
    if not (street or strong):  # a bare "3号" is a date far more often than a house number
        return None
    if before:
        start = before[-1].end()
    elif street:
        start = _name_start(clause, street.start())
    else:
        start = first.start()
    end = anchors[-1].end()
    tail = _TAIL.match(clause, end)
    if tail:
        end = tail.end()
    if end <= start:
        return None
    return start, end


def _community_span(clause: str, districts: list[re.Match[str]]) -> tuple[int, int] | None:
    for district in districts:
        community = _COMMUNITY.match(clause, district.end())
        if community:
            return district.end(), community.end()
    return None


def _mask_names(text: str) -> str:
    """Each name after a label (收件人张三, 姓名：欧阳娜娜) as its surname and one * per other character."""
    pieces: list[str] = []
    pos = 0
    for label in _NAME_LABEL.finditer(text):
        start = label.end()
        if start < pos:
            continue
        length = 0 if text.startswith(_NOT_NICKNAMES, start) else _name_length(text, start)
        kept = 2 if text.startswith(_COMPOUND_SURNAMES, start) else 1
        if not length:
            length, kept = _nickname_length(text, start), 1  # 小美 → 小*, 豆豆 → 豆*, Lily → L***
        if length:
            pieces.append(text[pos : start + kept] + "*" * (length - kept))
            pos = start + length
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


# A name with no label, standing on its own beside a mobile number (张三 13812345678, 13812345678，李四): the
# shipping details buyers paste. Only separators may stand between; the name is the whole run of Chinese
# characters there, so words that merely touch a number (手机号是13812345678, 好的 138…) are no name.
_BESIDE = r"[\s,，:：;；/|、\-]*"
_NAME_BEFORE = re.compile(rf"(?:^|(?<=[^\u4e00-\u9fff]))([\u4e00-\u9fff]{{2,4}}){_BESIDE}$")
# Everyday words that start with a surname and stand beside a number (周末 13812345678 打我电话, …5678 谢谢):
# no name; nor is a place (温州, 苏州市) of an address line.
_WORDS_BESIDE = frozenset(
    ("谢谢", "麻烦", "周末", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "周天", "金额", "钱数", "高速",
     "万一", "白天", "夏天", "秋天", "冬天", "黄金", "华为", "苏宁")
)  # fmt: skip
_PLACE_ENDS = tuple("州市省区县镇乡村路街")
_NAME_AFTER = re.compile(rf"^{_BESIDE}([\u4e00-\u9fff]{{2,4}})(?![\u4e00-\u9fff])")


def _mask_names_beside_phones(text: str) -> str:
    """Each unlabelled name standing next to a mobile number masked as a labelled one is (张三 → 张*)."""
    spans = _phone_spans(text)
    if not spans:
        return text
    names: list[tuple[int, int]] = []
    for start, end in spans:
        before = _NAME_BEFORE.search(text, 0, start)
        if before is not None:
            names.append(before.span(1))
        after = _NAME_AFTER.match(text[end:])
        if after is not None:
            names.append((end + after.start(1), end + after.end(1)))
    chars = list(text)
    for start, end in names:
        word = text[start:end]
        if word not in _WORDS_BESIDE and not word.endswith(_PLACE_ENDS) and _name_length(word, 0) == len(word):
            surname = 2 if word.startswith(_COMPOUND_SURNAMES) else 1
            chars[start + surname : end] = "*" * (end - start - surname)
    return "".join(chars)


def _phone_spans(text: str) -> list[tuple[int, int]]:
    """Where mobile numbers stand in `text` (first to last character), written or spaced any way masking reads."""
    digits = text.translate(_READING)
    if len(digits) < 11:
        return []
    spans = [m.span("phone") for m in _PII.finditer(text.translate(_HALF_WIDTH)) if m.lastgroup == "phone"]
    if PHONE.search(digits):
        origins: list[int] = []
        for i, ch in enumerate(text):
            origins += [i] * len(ch.translate(_READING))
        spans += [(origins[m.start()], origins[m.end() - 1] + 1) for m in PHONE.finditer(digits)]
    return spans


def _name_length(text: str, start: int) -> int:
    """The length of the name at `start` (a surname and one or two more characters), or 0 when none is."""
    surname = 2 if text.startswith(_COMPOUND_SURNAMES, start) else 1
    if surname == 1 and text[start : start + 1] not in _SURNAMES:
        return 0
    for given in (1, 2):  # the shortest that ends where a name may end: 张三电话 is 张三
        end = start + surname + given
        name = text[start + surname : end]
        if len(name) < given or not all("\u4e00" <= ch <= "\u9fff" and ch not in _NOT_GIVEN for ch in name):
            return 0
        if name in _TITLES:
            return 0
        if _NAME_END.match(text, end):
            return surname + given
    return 0


def _nickname_length(text: str, start: int) -> int:
    """The length of the nickname at `start`, right after a label (see _NICKNAME_PREFIXES), or 0 when none is."""
    latin = _LATIN_NAME.match(text, start)
    if latin is not None:
        return latin.end() - start
    if text.startswith(_NOT_NICKNAMES, start):
        return 0
    for n in (2, 3):  # the shortest that ends where a name may end
        word = text[start : start + n]
        if len(word) < n or not all("\u4e00" <= ch <= "\u9fff" and ch not in _NOT_GIVEN for ch in word[1:]):
            return 0
        prefixed = word[0] in "小阿" or (word[0] == "老" and n == 2 and word[1] in _SURNAMES)
        doubled = word[-1] == word[-2] and (n == 2 or word[0] in "小阿")
        if (prefixed or doubled) and word[0] not in _NOT_GIVEN and _NAME_END.match(text, start + n):
            return n
    return 0


def _name_start(clause: str, street_at: int) -> int:
    """Where the name of a street begins: up to four characters back, not across a unit or a verb."""
    start = street_at
    while start > 0 and street_at - start < 4 and clause[start - 1] not in _NAME_STOP:
        if not ("\u4e00" <= clause[start - 1] <= "\u9fff" or clause[start - 1].isalnum()):
            break
        start -= 1
    return start
