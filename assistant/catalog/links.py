"""Which item a message links to: Taobao and Tmall item pages (short links such as m.tb.cn are left alone)."""

from __future__ import annotations

import re

# item.taobao.com/item.htm?id=…, detail.tmall.com/item.htm?spm=…&id=…, h5.m.taobao.com/awp/core/detail.htm?id=…,
# detail.m.tmall.com/item.htm?id=…, detail.tmall.hk/…?id=…; the item id is the query's `id` (never skuId).
_QUERY_LINK = re.compile(
    r"(?:https?://)?(?:[a-z0-9-]+\.)*(?:taobao\.com|tmall\.com|tmall\.hk)/[^\s?#]*\?[^\s#]*?(?<=[?&])id=(\d{5,20})(?!\d)",
    re.IGNORECASE,
)
# a.m.taobao.com/i123.htm and world.taobao.com/item/123.htm carry the id in the path.
_PATH_LINK = re.compile(
    r"(?:https?://)?(?:[a-z0-9-]+\.)*taobao\.com/(?:i|item/)(\d{5,20})\.htm",
    re.IGNORECASE,
)
MAX_SCAN_CHARS = 5000


def item_in(text: str) -> str | None:
    """The item id of the last Taobao/Tmall item link in `text`, or None."""
    if isinstance(text, str) and "ao" not in (low := text.lower()) and "mall" not in low:
        return None  # items_in's first look, without its call (every customer message is looked at twice)
    found = items_in(text)
    return found[-1] if found else None


def items_in(text: str) -> list[str]:
    """The item ids of the Taobao/Tmall item links in `text`, in order, each once."""
    if not isinstance(text, str) or "ao" not in (low := text.lower()) and "mall" not in low:
        return []  # neither taobao nor tmall: the common case costs one look
    found: list[tuple[int, str]] = []
    for pattern in (_QUERY_LINK, _PATH_LINK):
        found += [(m.start(), m.group(1)) for m in pattern.finditer(text[:MAX_SCAN_CHARS])]
    ids = [item for _, item in sorted(found)]
    return [item for n, item in enumerate(ids) if item not in ids[n + 1 :]]
