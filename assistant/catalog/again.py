"""A message that asks the question before it again of another item (这件呢, 那这款呢 after 165 110斤穿什么码)."""

from __future__ import annotations

import re
import unicodedata

LOOKBACK = 3  # the buyer's messages searched back for the question asked again
# 这件呢, 那这款呢, 还有这个呢, 这条的话呢, 这件怎么样: nothing but the item pointed at and a 呢 (a link may stand
# before it: the item just linked).
_AGAIN = re.compile(
    r"(?:那|那么|还有|然后)?(?:这|那)(?:一)?(?:件|款|个|条|双|套|种|顶|个宝贝|个链接)"
    r"(?:的话)?(?:呢|的呢|怎么样|咋样|怎么选|的码呢|的尺码呢)(?:亲)?"
)
_LINK = re.compile(r"(?:https?://)?[a-z0-9.-]+\.(?:com|hk|cn)/\S*", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[\s,，.。!！?？~～、]+")


def asks_again(text: str) -> bool:
    """Whether a message is only 这件呢 (and a link), asking the question before it again of the item it points at."""
    if not isinstance(text, str) or len(text) > 300 or ("呢" not in text and "样" not in text and "选" not in text):
        return False
    bare = _PUNCTUATION.sub("", _LINK.sub("", unicodedata.normalize("NFKC", text).lower()))
    return _AGAIN.fullmatch(bare) is not None
